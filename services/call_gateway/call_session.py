"""One call: the caller's ARI channel, our externalMedia channel and mixing bridge, one RTP endpoint,
one Realtime session. ``CallSession`` only composes them; every step runs on the call's own mailbox
(one at a time, in order) on the gateway's shared worker pool.

Lifecycle: answer → externalMedia (id chosen here, registered before the request) → mixing bridge →
caller in the bridge → media channel in the bridge (on its StasisStart, retrying 422) → Realtime
session. Any end (caller hangup, media gone, Realtime gone, shutdown, a failed step) goes through
``teardown``, which is idempotent and removes everything this call created.

When the Realtime connection is lost mid-call the model cannot apologise, so teardown apologises in
its place (``call_gateway.fallbacks``), without holding a worker meanwhile:

* prompt (default): the Realtime session is closed, the model's unfinished audio dropped, and the
  profile's Spanish prompt queued on the call's own RTP endpoint, while the bridge and the media
  channel stay up; once every byte has been paced out (or the caller leaves, or the prompt's length +
  ``apology_timeout`` passes) the media is released and the caller hung up.
* ARI media: the bridge and media channel are removed first, Asterisk plays the media on the caller
  channel, and the caller is hung up on its ``PlaybackFinished``, the caller leaving or
  ``apology_timeout``, whichever comes first.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from call_gateway.ari import AriError, AriRest
from call_gateway.fallbacks import Apology
from call_gateway.media_transport import CallMedia, MediaTransport, MediaUnavailable
from call_gateway.prompts import Prompt
from call_gateway.settings import GatewaySettings
from call_gateway.voice_engine import VoiceEngine, VoiceEngineFactory
from centralita.profiles import ProfileBook

log = logging.getLogger("call_gateway.call")

# Ends where nothing was said to the caller, so the gateway apologises (after ``server_error`` and
# ``session_limit`` the model already spoke one).
APOLOGY_REASONS = frozenset({"realtime_connection_lost"})
APOLOGY_TAG = "gateway-apology"  # playout tag of the prompt on the call's RTP endpoint


class CallHost(Protocol):
    """What a call needs of the gateway that hosts it (``call_gateway.app.Gateway`` is the one).

    A narrow seam instead of the whole ``Gateway``: ARI, settings, the media transport and the voice
    engine factory, the call's mailbox and registry, id naming, counters.
    """

    settings: GatewaySettings
    rest: AriRest
    transport: MediaTransport
    profiles: ProfileBook
    session_factory: VoiceEngineFactory
    accepting: bool
    stopping: bool

    def media_channel_id(self, short: str) -> str: ...
    def bridge_id(self, short: str) -> str: ...
    def playback_id(self, short: str) -> str: ...
    def apology_for(self, profile: Any) -> Apology: ...
    def post(self, call: CallSession, fn: Callable[[], None]) -> None: ...
    def register_media(self, call: CallSession) -> None: ...
    def register_bridge(self, call: CallSession) -> None: ...
    def forget(self, call: CallSession) -> None: ...
    def count_call_started(self, call: CallSession) -> None: ...
    def refuse(self, channel_id: str, why: str) -> None: ...


class CallSession:
    def __init__(self, gateway: CallHost, channel: dict[str, Any]) -> None:
        self.gw = gateway
        self.caller_id: str = channel["id"]
        self.exten: str = (channel.get("dialplan") or {}).get("exten", "")
        self.caller_number: str = (channel.get("caller") or {}).get("number", "")
        short = uuid.uuid4().hex[:12]
        self.call_id = f"{gateway.settings.ari_app}-{short}"
        self.media_id = gateway.media_channel_id(short)
        self.bridge_id = gateway.bridge_id(short)
        self.apology_id = gateway.playback_id(short)
        self.state = "new"  # new → setup → active → ending → ended
        self.outcome = ""
        self.endpoint: CallMedia | None = None
        self.voice: VoiceEngine | None = None
        self.media_ready = threading.Event()  # set by the router on the media channel's StasisStart
        self.caller_gone = threading.Event()  # set by the router at once, before the mailbox runs
        self.media_created = False
        self.bridge_created = False
        self.started_at = time.monotonic()
        self.setup_ms: float | None = None
        self.profile = None  # chosen by dialled number when the call is set up
        self._apology_stop: Callable[[], None] | None = None  # set while an apology plays
        self._media_released = False

    # -- setup (runs on the mailbox) ------------------------------------------------------------
    def start(self) -> None:
        if self.state != "new":
            return
        self.state = "setup"
        gw, rest = self.gw, self.gw.rest
        if not gw.accepting:
            self._refuse("draining")
            return
        try:
            self.endpoint = gw.transport.open(self.call_id)
        except MediaUnavailable:
            log.warning(
                "call %s: RTP ports exhausted (%d in use): refusing caller %s",
                self.call_id,
                gw.transport.in_use(),
                self.caller_id,
            )
            self._refuse("no_rtp_port")
            return
        log.info(
            "call %s: caller %s dialled %r; RTP on port %d",
            self.call_id,
            self.caller_id,
            self.exten,
            self.endpoint.port,
        )
        try:
            self._check_alive()
            rest.answer(self.caller_id)
            self._check_alive()
            gw.register_media(self)
            self.media_created = True  # before the request: if its answer is lost, teardown still hangs it up
            media = rest.external_media(
                app=gw.settings.ari_app,
                channel_id=self.media_id,
                media=gw.transport.external_media(self.endpoint),
                data=self.call_id,
            )
            self._learn_remote(media)
            gw.register_bridge(self)
            self.bridge_created = True
            rest.create_bridge(self.bridge_id, name=self.call_id)
            rest.add_channel(self.bridge_id, [self.caller_id])
            self._attach_media()
            self._check_alive()
            self.profile = gw.profiles.for_exten(self.exten)
            self.voice = gw.session_factory(
                profile=self.profile, sink=self.endpoint, on_end=self._on_session_end, call_id=self.call_id
            )
            self.voice.start()
            self._check_alive()
            self.endpoint.on_caller_audio = self.voice.send_caller_audio
        except _CallGone as gone:
            self.teardown(gone.reason)
            return
        except AriError as exc:
            if self.caller_gone.is_set():  # the step failed because the caller left meanwhile
                self.teardown("caller_hangup")
                return
            log.warning("call %s: ARI step failed: %s", self.call_id, exc)
            self.teardown("ari_error")
            return
        except Exception as exc:
            log.warning("call %s: setup failed: %s: %s", self.call_id, type(exc).__name__, exc)
            self.teardown("setup_failed")
            return
        self.state = "active"
        self.setup_ms = (time.monotonic() - self.started_at) * 1000
        gw.count_call_started(self)
        log.info("call %s: active after %.0f ms", self.call_id, self.setup_ms)

    def _check_alive(self) -> None:
        if self.caller_gone.is_set():
            raise _CallGone("caller_hangup")
        if self.gw.stopping:
            raise _CallGone("shutdown")

    def _learn_remote(self, media: dict) -> None:
        vars_ = media.get("channelvars") or {}
        host, port = vars_.get("UNICASTRTP_LOCAL_ADDRESS"), vars_.get("UNICASTRTP_LOCAL_PORT")
        if host and port and str(port).isdigit() and host not in ("0.0.0.0", "::"):
            self.endpoint.set_remote(host, int(port))

    def _attach_media(self) -> None:
        """The media channel may not be in Stasis yet when externalMedia returns: add it once its
        StasisStart came, retrying on 422 — bounded by ``media_ready_timeout``."""
        deadline = time.monotonic() + self.gw.settings.media_ready_timeout
        while True:
            self.media_ready.wait(max(0.0, min(0.1, deadline - time.monotonic())))
            self._check_alive()
            if self.media_ready.is_set() or time.monotonic() >= deadline:
                try:
                    self.gw.rest.add_channel(self.bridge_id, [self.media_id])
                    return
                except AriError as exc:
                    if exc.status != 422 or time.monotonic() >= deadline:
                        raise
                    self.media_ready.clear()

    # -- refusal and ends --------------------------------------------------------------------------
    def _refuse(self, why: str) -> None:
        self.gw.refuse(self.caller_id, why)
        self.teardown(f"refused_{why}", hangup_caller=False)

    def _on_session_end(self, reason: str) -> None:
        """Called by the Realtime session's own thread when it ended by itself."""
        log.warning("call %s: Realtime session ended (%s): hanging up", self.call_id, reason)
        self.gw.post(self, lambda: self.teardown(f"realtime_{reason}", drain=True))

    def on_caller_gone(self) -> None:
        self.caller_gone.set()
        self.gw.post(self, lambda: self.teardown("caller_hangup", hangup_caller=False))
        self.gw.post(self, lambda: self._end_apology("the caller hung up"))

    def on_playback_finished(self, playback: dict[str, Any]) -> None:
        """Router (ARI thread): a ``PlaybackFinished`` whose target is our caller channel."""
        if playback.get("id") == self.apology_id:
            state = playback.get("state", "")
            self.gw.post(self, lambda: self._end_apology(f"playback {state or 'finished'}"))

    def on_media_gone(self) -> None:
        self.gw.post(self, lambda: self.teardown("media_gone"))

    def teardown(self, reason: str, *, hangup_caller: bool = True, drain: bool = False) -> None:
        if self.state in ("ending", "ended"):
            if reason == "shutdown" or (reason == "media_gone" and not self._media_released):
                self._end_apology(reason)  # drain grace over / our prompt has nowhere to go
            return
        previous, self.state = self.state, "ending"
        self.outcome = self.outcome or reason
        apology = (
            self.gw.apology_for(self.profile)
            if hangup_caller and reason in APOLOGY_REASONS and not self.caller_gone.is_set()
            else None
        )
        prompt_next = apology is not None and apology.kind == "prompt"
        if drain and self.endpoint is not None and previous == "active" and not prompt_next:
            end = time.monotonic() + self.gw.settings.drain_audio_timeout
            while self.endpoint.pending_ms() > 0 and time.monotonic() < end and not self.caller_gone.is_set():
                time.sleep(0.02)
        if self.voice is not None:
            try:
                self.voice.close(reason)
            except Exception:
                log.exception("call %s: closing the Realtime session failed", self.call_id)
        if (
            apology is not None
            and apology.kind == "prompt"
            and previous == "active"
            and self._start_prompt(apology.prompt)
        ):
            return  # _end_apology releases the media, hangs up and finishes
        self._release_media()
        if apology is not None and apology.kind == "ari" and self._start_apology(apology):
            return
        self._finish(hangup_caller)

    def _release_media(self) -> None:
        """Our RTP endpoint, bridge and media channel, once (the caller channel is not touched)."""
        if self._media_released:
            return
        self._media_released = True
        rest = self.gw.rest
        if self.endpoint is not None:
            self.endpoint.close()
        if self.bridge_created:
            _ignore_gone(rest.destroy_bridge, self.bridge_id)
        if self.media_created:
            _ignore_gone(rest.hangup, self.media_id)

    def _finish(self, hangup_caller: bool) -> None:
        if hangup_caller and not self.caller_gone.is_set():
            _ignore_gone(self.gw.rest.hangup, self.caller_id)
        self.gw.forget(self)
        self.state = "ended"
        log.info("call %s: ended (%s) after %.1f s", self.call_id, self.outcome, time.monotonic() - self.started_at)

    # -- apology: our prompt over RTP, or media played by Asterisk (the model is gone) ----------------
    def _start_prompt(self, prompt: Prompt | None) -> bool:
        """Queues the prompt on the call's RTP endpoint (bridge and media channel kept); True if a
        watcher now waits for it to be paced out."""
        ep = self.endpoint
        if prompt is None or ep is None or ep.closed or not (self.bridge_created and self.media_created):
            return False
        ep.on_caller_audio = None  # nobody listens any more
        ep.clear()  # the model's unfinished sentence: the apology comes at once
        ep.play(prompt.audio, APOLOGY_TAG)
        total_ms = len(prompt.audio) // 8
        deadline = time.monotonic() + prompt.duration + self.gw.settings.apology_timeout
        stop = threading.Event()
        self._apology_stop = stop.set
        log.info(
            "call %s: playing the apology prompt %s (%.1f s) before hanging up",
            self.call_id,
            prompt.name,
            prompt.duration,
        )

        def watch() -> None:
            while not stop.wait(0.02):
                if self.caller_gone.is_set():
                    why = "the caller hung up"
                elif ep.played_ms(APOLOGY_TAG) >= total_ms:
                    why = "prompt played"
                elif time.monotonic() >= deadline:
                    why = f"timeout after {ep.played_ms(APOLOGY_TAG)} of {total_ms} ms"
                else:
                    continue
                self.gw.post(self, lambda why=why: self._end_apology(why))
                return

        threading.Thread(target=watch, name=f"apology-{self.call_id}", daemon=True).start()
        return True

    def _start_apology(self, apology: Apology) -> bool:
        """Asks Asterisk to play the apology to the caller; True if it is playing (and a timer runs)."""
        s = self.gw.settings
        if not apology.media or self.caller_gone.is_set():
            return False
        try:
            self.gw.rest.play(self.caller_id, apology.media, lang=apology.lang, playback_id=self.apology_id)
        except AriError as exc:
            log.warning(
                "call %s: could not play the apology %s to the caller (%s): hanging up without it",
                self.call_id,
                apology.media,
                exc,
            )
            return False
        log.info("call %s: playing the apology %s (%s) before hanging up", self.call_id, apology.media, apology.lang)
        timer = threading.Timer(s.apology_timeout, lambda: self.gw.post(self, lambda: self._end_apology("timeout")))
        timer.name, timer.daemon = f"apology-{self.call_id}", True
        self._apology_stop = timer.cancel
        timer.start()
        return True

    def _end_apology(self, why: str) -> None:
        """Mailbox: the apology finished, failed, timed out or the caller left: release, hang up, finish."""
        stop, self._apology_stop = self._apology_stop, None
        if stop is None:
            return  # no apology playing (or it already ended)
        stop()
        level = logging.INFO if why in ("playback done", "prompt played", "the caller hung up") else logging.WARNING
        log.log(level, "call %s: apology over (%s)", self.call_id, why)
        self._release_media()
        self._finish(hangup_caller=True)


class _CallGone(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _ignore_gone(fn: Callable[[str], None], ident: str) -> None:
    """Teardown requests: 404 means already gone (fine); other failures are logged and left to the
    reconciliation after the next (re)connect, which removes any of our leftovers."""
    with contextlib.suppress(AriError):
        try:
            fn(ident)
        except AriError as exc:
            if exc.status != 404:
                log.warning("teardown of %s failed: %s", ident, exc)
            raise


__all__ = ["CallHost", "CallSession"]
