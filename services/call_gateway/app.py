"""The gateway: ARI events in, one ``CallSession`` per caller, shared media engine and worker pool.

Threads, whatever the number of calls: the ARI events thread (routes events, never blocks), a fixed
pool of workers (each call's steps run on its own mailbox, one at a time, in order), the RTP pacer and
the RTP receiver. Each Realtime session adds its own two threads while it lives; each call adds one
thread while its apology plays (bounded by ``apology_timeout``).

At start every ``sound:`` the gateway may ask Asterisk to play is checked (``call_gateway.fallbacks``);
a missing one refuses the start, or, when ARI cannot answer yet, the first connection (``fatal``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable

from call_gateway.ari import AriError, AriEventStream, AriRest, Backoff
from call_gateway.call_session import CallSession
from call_gateway.factories import media_transport_for
from call_gateway.fallbacks import NO_APOLOGY, Apology, FallbackError, check_sounds, resolve_apologies, sounds_to_check
from call_gateway.settings import GatewaySettings
from call_gateway.voice_engine import VoiceEngineFactory

log = logging.getLogger("call_gateway")


class WorkerPool:
    """A fixed set of threads running posted callables (started once, not per call)."""

    def __init__(self, size: int) -> None:
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._run, name=f"gw-worker-{i}", daemon=True) for i in range(size)]
        for t in self._threads:
            t.start()

    def submit(self, fn: Callable[[], None]) -> None:
        self._q.put(fn)

    def _run(self) -> None:
        while True:
            fn = self._q.get()
            if fn is None:
                return
            try:
                fn()
            except Exception:
                log.exception("gateway task failed")
            # an idle worker must not keep its last task (and the call it closes over) alive
            del fn

    def stop(self, timeout: float = 5.0) -> None:
        for _ in self._threads:
            self._q.put(None)
        end = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, end - time.monotonic()))


class Mailbox:
    """Runs one call's steps one at a time, in posting order, on the shared pool."""

    def __init__(self, pool: WorkerPool) -> None:
        self._pool = pool
        self._q: deque[Callable[[], None]] = deque()
        self._lock = threading.Lock()
        self._scheduled = False

    def post(self, fn: Callable[[], None]) -> None:
        with self._lock:
            self._q.append(fn)
            if self._scheduled:
                return
            self._scheduled = True
        self._pool.submit(self._drain)

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._q:
                    self._scheduled = False
                    return
                fn = self._q.popleft()
            try:
                fn()
            except Exception:
                log.exception("call step failed")
            del fn  # the step's closure holds the call: not past its run


class Gateway:
    def __init__(self, settings: GatewaySettings, *, session_factory: VoiceEngineFactory, profiles) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.profiles = profiles
        self.apologies: dict[str, Apology] = resolve_apologies(
            profiles.profiles, settings.apology_media, settings.apology_lang, settings.prompts_dir
        )
        self.fatal: str | None = None  # a fallback found unplayable after start: the process must stop
        self.sounds_pending = False  # ARI could not answer the sound check at start: check on connect
        self.playback_failed: dict[str, int] = {}  # media URI → PlaybackFinished with state failed
        self.rest = AriRest(
            settings.ari_url,
            settings.ari_username,
            settings.ari_password,
            timeout=settings.ari_timeout,
            pool_size=max(8, settings.workers),
        )
        self.transport = media_transport_for(settings)  # raises ConfigError for an unknown MEDIA_TRANSPORT
        self.ports, self.media = self.transport.ports, self.transport.media  # RTP figures for /metrics
        self.pool = WorkerPool(settings.workers)
        self.events = AriEventStream(
            settings.ari_url,
            settings.ari_app,
            settings.ari_username,
            settings.ari_password,
            on_event=self.on_event,
            on_connected=self._on_connected,
            ping_interval=settings.ari_ping_interval,
            ping_timeout=settings.ari_ping_timeout,
            backoff=Backoff(0.5, 10.0),
        )
        self.accepting = True
        self.stopping = False
        self._lock = threading.RLock()
        self.calls: dict[str, CallSession] = {}  # caller channel id → call
        self._by_media: dict[str, CallSession] = {}
        self._bridges: set[str] = set()
        self._mailboxes: dict[str, Mailbox] = {}
        self.counters: dict[str, int] = {
            "calls_started": 0,
            "calls_refused": 0,
            "reconciliations": 0,
            "orphans_removed": 0,
            "calls_adopted": 0,
        }
        self.outcomes: dict[str, int] = {}
        self.refusals: dict[str, int] = {}
        self.setup_ms: deque[float] = deque(maxlen=1000)

    # -- ids ---------------------------------------------------------------------------------------
    def media_channel_id(self, short: str) -> str:
        return f"{self.settings.ari_app}-media-{short}"

    def bridge_id(self, short: str) -> str:
        return f"{self.settings.ari_app}-bridge-{short}"

    def playback_id(self, short: str) -> str:
        return f"{self.settings.ari_app}-playback-{short}"

    def _ours(self, ident: str, kind: str) -> bool:
        return ident.startswith(f"{self.settings.ari_app}-{kind}-")

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Raises ``FallbackError`` (nothing started) when a configured sound is missing on Asterisk."""
        try:
            self._check_sounds(at_start=True)
        except FallbackError:
            self.pool.stop()
            self.rest.close()
            raise
        self.transport.start()
        self.events.start()

    @property
    def ready(self) -> bool:
        return (
            self.events.connected
            and self.accepting
            and self.transport.alive()
            and self.fatal is None
            and not self.sounds_pending
        )

    def apology_for(self, profile) -> Apology:
        """The apology resolved at start; a profile added since (a swapped profile book) is resolved now."""
        if profile is None:
            return NO_APOLOGY
        found = self.apologies.get(profile.name)
        if found is None:
            s = self.settings
            try:
                found = resolve_apologies({profile.name: profile}, s.apology_media, s.apology_lang, s.prompts_dir)[
                    profile.name
                ]
            except FallbackError as exc:
                log.error("profile %s: no apology can be played: %s", profile.name, exc)
                found = NO_APOLOGY
            self.apologies[profile.name] = found
        return found

    def _check_sounds(self, *, at_start: bool) -> None:
        wanted = sounds_to_check(self.apologies.values())
        if not wanted:
            return
        problems, unchecked = check_sounds(self.rest, wanted)
        if problems:
            message = "apology sound unusable: " + "; ".join(problems)
            if at_start:
                raise FallbackError(message)
            self.fatal = message
            self.accepting = False
            log.error("refusing to run: %s", message)
        elif unchecked:
            self.sounds_pending = True
            log.warning(
                "cannot check the apology sound(s) %s yet (%s): not ready until ARI answers",
                ", ".join(f"sound:{s} ({lang})" for s, lang in wanted),
                unchecked,
            )
        else:
            if self.sounds_pending:
                log.info("apology sound(s) checked on Asterisk: %s", ", ".join(f"sound:{s}" for s, _ in wanted))
            self.sounds_pending = False

    def active_calls(self) -> int:
        with self._lock:
            return len(self.calls)

    def shutdown(self, grace: float | None = None) -> None:
        """Stop taking calls, let active ones finish for ``grace`` seconds, then tear down the rest."""
        grace = self.settings.drain_seconds if grace is None else grace
        self.accepting = False
        log.info("gateway draining: %d active call(s), grace %.0f s", self.active_calls(), grace)
        end = time.monotonic() + grace
        while self.active_calls() and time.monotonic() < end:
            time.sleep(0.05)
        self.stopping = True
        with self._lock:
            remaining = list(self.calls.values())
        for call in remaining:
            self.post(call, lambda c=call: c.teardown("shutdown"))
        end = time.monotonic() + 10.0
        while self.active_calls() and time.monotonic() < end:
            time.sleep(0.02)
        self.events.stop()
        self.pool.stop()
        self.transport.stop()
        self.rest.close()
        log.info("gateway stopped (%d call(s) left)", self.active_calls())

    # -- call registry -----------------------------------------------------------------------------
    def post(self, call: CallSession, fn: Callable[[], None]) -> None:
        with self._lock:
            box = self._mailboxes.get(call.caller_id)
        if box is not None:
            box.post(fn)

    def register_media(self, call: CallSession) -> None:
        with self._lock:
            self._by_media[call.media_id] = call

    def register_bridge(self, call: CallSession) -> None:
        with self._lock:
            self._bridges.add(call.bridge_id)

    def forget(self, call: CallSession) -> None:
        with self._lock:
            if self.calls.get(call.caller_id) is call:
                del self.calls[call.caller_id]
                self._mailboxes.pop(call.caller_id, None)
            self._by_media.pop(call.media_id, None)
            self._bridges.discard(call.bridge_id)
            self.outcomes[call.outcome] = self.outcomes.get(call.outcome, 0) + 1

    def count_call_started(self, call: CallSession) -> None:
        with self._lock:
            self.counters["calls_started"] += 1
            if call.setup_ms is not None:
                self.setup_ms.append(call.setup_ms)

    def refuse(self, channel_id: str, why: str) -> None:
        """A call we will not take: hand it back to the dialplan (CENTRALITA_STATUS says why) or hang up."""
        with self._lock:
            self.counters["calls_refused"] += 1
            self.refusals[why] = self.refusals.get(why, 0) + 1
        if self.settings.refuse_action == "continue":
            try:
                self.rest.set_variable(channel_id, "CENTRALITA_STATUS", why)
                self.rest.continue_in_dialplan(channel_id)
                return
            except AriError as exc:
                if exc.status == 404:
                    return
                log.warning("refusing %s: continue failed (%s); hanging up", channel_id, exc)
        try:
            self.rest.hangup(channel_id, reason="congestion")
        except AriError as exc:
            if exc.status != 404:
                log.warning("refusing %s: hangup failed: %s", channel_id, exc)

    # -- events (ARI thread: route, never block) ---------------------------------------------------
    def on_event(self, event: dict) -> None:
        etype = event.get("type")
        if etype == "PlaybackFinished":
            self._on_playback_finished(event.get("playback") or {})
            return
        channel = event.get("channel") or {}
        cid = channel.get("id", "")
        with self._lock:
            media_call = self._by_media.get(cid)
            call = self.calls.get(cid)
        if etype == "StasisStart":
            if media_call is not None:
                media_call.media_ready.set()  # our own externalMedia channel: not a call
            elif call is None:
                self._new_call(channel, event.get("args") or [])
        elif etype in ("StasisEnd", "ChannelDestroyed", "ChannelHangupRequest"):
            if call is not None:
                call.on_caller_gone()
            elif media_call is not None and etype != "ChannelHangupRequest":
                media_call.on_media_gone()

    def _on_playback_finished(self, playback: dict) -> None:
        target = str(playback.get("target_uri", ""))
        if playback.get("state") == "failed":
            media = str(playback.get("media_uri", ""))
            with self._lock:
                self.playback_failed[media] = self.playback_failed.get(media, 0) + 1
            log.error(
                "playback %s of %s on %s failed in Asterisk (sound missing in language %s?): the caller heard nothing",
                playback.get("id", "?"),
                media,
                target or "?",
                playback.get("language", "?"),
            )
        if not target.startswith("channel:"):
            return
        with self._lock:
            call = self.calls.get(target[len("channel:") :])
        if call is not None:
            call.on_playback_finished(playback)

    def _new_call(self, channel: dict, args: list) -> None:
        cid = channel.get("id")
        if not cid or self._ours(cid, "media") or str(channel.get("name", "")).startswith("UnicastRTP/"):
            return  # a media leg that is not (or no longer) ours: reconciliation removes it
        call = CallSession(self, channel)
        with self._lock:
            if cid in self.calls:
                return
            self.calls[cid] = call
            self._mailboxes[cid] = Mailbox(self.pool)
        self.post(call, call.start)

    # -- reconciliation after every (re)connect ------------------------------------------------------
    def _on_connected(self, first: bool) -> None:
        if self.sounds_pending:
            self.pool.submit(lambda: self._check_sounds(at_start=False))
        self.pool.submit(self.reconcile)

    def reconcile(self) -> None:
        """Events are lost while the socket is down: compare with what Asterisk holds now."""
        # Calls are judged only if they existed before the listing (a call whose StasisStart arrives
        # while we list is not "vanished"); ownership is read after it (a bridge created meanwhile is ours).
        with self._lock:
            calls = list(self.calls.values())
        try:
            channels = {c["id"]: c for c in self.rest.list_channels()}
            bridges = [b["id"] for b in self.rest.list_bridges()]
        except AriError as exc:
            log.warning("reconciliation failed: %s", exc)
            return
        self.counters["reconciliations"] += 1
        with self._lock:
            media_owned = set(self._by_media)
            bridges_owned = set(self._bridges)
        for call in calls:
            if call.caller_id not in channels:
                log.info("call %s: caller vanished while ARI was away", call.call_id)
                call.on_caller_gone()
            elif call.media_created and call.media_id not in channels and call.state == "active":
                call.on_media_gone()
        for bid in bridges:
            if self._ours(bid, "bridge") and bid not in bridges_owned:
                self._remove_orphan(self.rest.destroy_bridge, bid)
        for cid in channels:
            if self._ours(cid, "media") and cid not in media_owned:
                self._remove_orphan(self.rest.hangup, cid)
        app = self.settings.ari_app
        for cid, chan in channels.items():
            plan = chan.get("dialplan") or {}
            in_our_app = plan.get("app_name") == "Stasis" and str(plan.get("app_data", "")).split(",")[0] == app
            if in_our_app and not self._ours(cid, "media") and cid not in self.calls:
                log.info("adopting caller %s whose StasisStart was missed", cid)
                self.counters["calls_adopted"] += 1
                self._new_call(chan, [])

    def _remove_orphan(self, fn: Callable[[str], None], ident: str) -> None:
        log.info("removing orphan %s", ident)
        self.counters["orphans_removed"] += 1
        try:
            fn(ident)
        except AriError as exc:
            if exc.status != 404:
                log.warning("could not remove orphan %s: %s", ident, exc)
