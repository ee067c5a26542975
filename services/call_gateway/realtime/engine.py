"""``RealtimeEngine``: one call's conversation with OpenAI Realtime, the ``VoiceEngine`` the call uses.

It owns the sans-IO core (``RealtimeProtocol``) and the one re-entrant lock that guards it, and composes
the parts that do the I/O: ``RealtimeConnection`` (websocket, receiver and sender threads),
``ActionRunner`` (the core's actions) and ``ToolRunner`` (the dispatcher). What stays here is the life of
the conversation: start, renewal onto a fresh socket, loss, and the end (``on_end`` once, after the sink
played what was said).

Threads: one receiver per socket, one sender (it also fires the core's timers), the dispatcher's callback
threads (tool results). Actions run under the lock, so a tool that resolves synchronously inside
``submit`` simply feeds its result back in order.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from call_gateway.audio import AudioSink
from call_gateway.realtime import events as ev
from call_gateway.realtime import server_events
from call_gateway.realtime.actions import ActionRunner
from call_gateway.realtime.connection import RealtimeConnection, RealtimeError, close_socket
from call_gateway.realtime.metrics import CallMetrics
from call_gateway.realtime.protocol import Action, RealtimeProtocol, Send, ToolInfo
from call_gateway.realtime.settings import RealtimeSettings
from call_gateway.realtime.timings import Timings
from call_gateway.realtime.tool_runner import ToolRunner
from call_gateway.realtime.voice import VoiceMeter
from centralita.config import redact
from centralita.dispatcher import Dispatcher, ToolResult
from centralita.profiles import Profile
from centralita.schema import realtime_tool

__all__ = ["RealtimeEngine", "RealtimeError", "Timings"]

log = logging.getLogger("call_gateway.realtime")


class RealtimeEngine:
    """One call's Realtime conversation (see the module docstring)."""

    def __init__(
        self,
        *,
        profile: Profile,
        dispatcher: Dispatcher,
        sink: AudioSink,
        settings: RealtimeSettings,
        on_end: Callable[[str], None],
        call_id: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.profile = profile
        self.sink = sink
        self.settings = settings
        self.call_id = call_id
        self._on_end = on_end
        self._clock = clock
        self.metrics = CallMetrics(call_id=call_id, profile=profile.name, prices=settings.prices)
        self.timings = Timings()
        specs = dispatcher.tools(allow=profile.tools)
        self._tool_infos = {
            s.name: ToolInfo(s.name, s.kind, (s.timeout_ms / 1000.0) or settings.tool_timeout, s.holding_phrase)
            for s in specs
        }
        self._tool_schemas = [realtime_tool(s) for s in specs]
        missing = sorted(set(profile.tools or ()) - set(self._tool_infos))
        if missing:  # a tool service down, or a typo in the profile: the model will not see these tools
            log.warning(
                "call %s: profile %s allows tools no tool service offers now: %s",
                call_id or "-",
                profile.name,
                ", ".join(missing),
            )
        self.core = self._new_core(profile, greet=True)
        self._lock = threading.RLock()
        self._ended = False  # on_end / close decided
        self._finished = False  # metrics logged, threads told to stop
        gate = settings.barge_in_gate_ms
        self.meter = VoiceMeter(level_dbfs=settings.barge_in_level_dbfs, min_speech_ms=max(gate, 20))
        self.connection = RealtimeConnection(settings, self, call_id=call_id, clock=clock)
        self.tools = ToolRunner(
            dispatcher, core=lambda: self.core, on_result=self._tool_result, timings=self.timings, clock=clock
        )
        self.actions = ActionRunner(
            core=lambda: self.core,
            sink=sink,
            meter=self.meter,
            connection=self.connection,
            tools=self.tools,
            metrics=self.metrics,
            timings=self.timings,
            gate_ms=gate,
            on_end=self._end_by_itself,
            on_renew=self._start_renewal,
            call_id=call_id,
            clock=clock,
        )

    def _new_core(self, profile: Profile, *, greet: bool) -> RealtimeProtocol:
        s = self.settings
        return RealtimeProtocol(
            profile,
            self._tool_infos,
            self._tool_schemas,
            self.metrics,
            holding_delay=s.holding_delay,
            tool_guard=s.tool_guard,
            session_limit=s.session_limit,
            session_margin=s.session_margin,
            ending_grace=s.ending_grace,
            renew=s.renew,
            greet=greet,
            barge_in_gate_ms=s.barge_in_gate_ms,
        )

    # ------------------------------------------------------------ VoiceEngine

    def start(self) -> None:
        """Connect, configure, ask for the greeting; returns once ``session.updated`` arrived."""
        self.metrics.started_at = self._clock()
        try:
            ws = self.connection.open(self.core, self._execute_locked)
        except RealtimeError:
            self._abort_start("start_failed")
            raise
        except Exception as exc:
            self._abort_start("start_failed")
            raise RealtimeError(
                f"cannot start the Realtime session at {self.settings.url}: {redact(f'{type(exc).__name__}: {exc}')}"
            ) from None
        self.connection.run(ws)
        log.info(
            "call %s: realtime session ready (profile %s, %d tools)",
            self.call_id or "-",
            self.profile.name,
            len(self.core.tools),
        )

    def send_caller_audio(self, ulaw: bytes) -> None:
        if not self.connection.running or self._ended or not ulaw or self.core.state != "ready":
            return  # not yet configured, or ending: the caller's voice must not start new responses
        self.connection.enqueue(ev.audio_append(ulaw))
        self.metrics.record_audio_in()
        if self.core.gated:
            self.meter.feed(ulaw)  # the audio thread is the meter's only writer
            if self.core.gate is not None:
                self.connection.enqueue_voice()  # a gate is judging: the sender thread tells it what it hears

    def close(self, reason: str = "hangup") -> None:
        """End the conversation from outside (the caller hung up). Idempotent; ``on_end`` is not called."""
        with self._lock:
            self._ended = True
        self._shutdown(reason)
        self.connection.join()

    # ------------------------------------------------------------ ConnectionHost

    def on_event(self, event: dict[str, Any], gen: int, now: float) -> bool:
        with self._lock:
            if self._ended or gen != self.connection.gen:
                return False
            what = f"server event {str(event.get('type'))[:60]}"
            self.actions.guarded(lambda: self.core.receive(event, now), now, what)
        return True

    def on_voice(self) -> bool:
        with self._lock:
            if self._ended:
                return False
            now, verdict = self._clock(), self.meter.verdict()
            self.actions.guarded(lambda: self.core.caller_voice(verdict, now), now, "barge-in gate")
        return True

    def on_timers(self) -> bool:
        with self._lock:
            if self._ended:
                return False
            now, voice = self._clock(), self.meter.verdict()
            self.actions.guarded(lambda: self.core.tick(now, self.sink.pending_ms(), voice), now, "timers")
        return True

    def next_deadline(self) -> float | None:
        with self._lock:  # the core's tables change under other threads
            return self.core.next_deadline()

    def on_rejected(self, rejected: server_events.Rejected) -> None:
        """A frame that is no valid server event: counted, logged for an invalid known type, never fatal."""
        self.metrics.dropped_events += 1
        if rejected.why == "invalid":
            log.warning(
                "call %s: server event %s does not match the SDK model (%s): dropped",
                self.call_id or "-",
                rejected.type,
                rejected.detail,
            )

    def on_sent(self, call_id: str, now: float) -> None:
        self.tools.output_sent(call_id, now)

    def lost(self, exc: BaseException | None, gen: int) -> None:
        with self._lock:
            if self._ended or gen != self.connection.gen:
                return
            elapsed = self._clock() - (self.metrics.started_at or self._clock())
            reason = "session_limit" if elapsed >= self.settings.session_limit - 5 else "connection_lost"
            detail = redact(f"{type(exc).__name__}: {exc}") if exc else "closed by the server"
            log.warning("call %s: realtime connection lost (%s)", self.call_id or "-", detail)
            self.core.state = "ended"
            self._end_by_itself(reason, drain=False)

    # ------------------------------------------------------------ tools and renewal

    def _execute_locked(self, action: Action) -> None:
        with self._lock:
            self.actions.execute([action], self._clock())

    def _tool_result(self, call_id: str, result: ToolResult) -> None:
        sends: list[Send] = []
        with self._lock:
            self.tools.forget(call_id)
            if self._ended:
                return
            now = self._clock()
            step = lambda: self.core.tool_finished(call_id, result, now)  # noqa: E731
            self.actions.guarded(step, now, f"result of {call_id}", sends)
        self.connection.send_direct(sends)

    def _start_renewal(self, context: str) -> None:
        threading.Thread(target=self._renew, args=(context,), name=f"rt-renew-{self.call_id}", daemon=True).start()

    def _renew(self, context: str) -> None:
        """Open and configure a fresh Realtime session, then switch to it; the caller notices nothing."""
        profile = replace(self.profile, instructions=f"{self.profile.instructions}\n\n{context}")
        core = self._new_core(profile, greet=False)
        try:
            ws = self.connection.open(core, self._execute_locked)
        except Exception as exc:
            log.warning(
                "call %s: session renewal failed (%s); the call ends with an apology at the limit",
                self.call_id or "-",
                redact(f"{type(exc).__name__}: {exc}"),
            )
            return
        with self._lock:
            if self._ended:
                close_socket(ws)
                return
            old_core, self.core = self.core, core
            old_core.state = "ended"
            old_ws = self.connection.switch(ws)
            self.metrics.record_renewal()
        if old_ws is not None:
            close_socket(old_ws)
        log.info("call %s: realtime session renewed", self.call_id or "-")

    # ------------------------------------------------------------ ending

    def _abort_start(self, reason: str) -> None:
        self._ended = True
        self._shutdown(reason)

    def _end_by_itself(self, reason: str, *, drain: bool = True) -> None:
        """Under the lock. Lets the sink play out what was said (the apology), then calls on_end once."""
        if self._ended:
            return
        self._ended = True
        threading.Thread(
            target=self._wind_down, args=(reason, drain), name=f"rt-end-{self.call_id}", daemon=True
        ).start()

    def _wind_down(self, reason: str, drain: bool) -> None:
        if drain:
            deadline = time.monotonic() + self.settings.drain_timeout
            while self.sink.pending_ms() > 0 and time.monotonic() < deadline:
                time.sleep(0.02)
        self._shutdown(reason)
        self.connection.join()
        try:
            self._on_end(reason)
        except Exception:
            log.exception("call %s: on_end(%s) failed", self.call_id or "-", reason)

    def _shutdown(self, reason: str) -> None:
        with self._lock:
            if self._finished:
                return
            self._finished = True
            self.connection.running = False
            self.core.state = "ended"
            self.tools.cancel_all()
        self.actions.release_pause()
        self.connection.stop()
        self.metrics.finish(self._clock(), reason)
        log.info("%s", self.metrics.log_line())
