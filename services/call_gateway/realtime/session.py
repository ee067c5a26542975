"""The Realtime voice session of one call: a websocket-client driver around ``RealtimeProtocol``.

Threads: one receiver (``ws.recv`` → core → actions), one sender (outbound queue → ``ws.send``; it also
fires the core's timers), and the dispatcher's callback threads (tool results → core). The core is
guarded by one re-entrant lock; actions run under it, so a tool that resolves synchronously inside
``submit`` simply feeds its result back in order.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any

import websocket

from call_gateway.audio import AudioSink
from call_gateway.realtime import events as ev
from call_gateway.realtime import server_events
from call_gateway.realtime.metrics import CallMetrics
from call_gateway.realtime.protocol import (
    AbandonTool,
    Action,
    End,
    Interrupt,
    Log,
    Pause,
    Play,
    RealtimeProtocol,
    Renew,
    Resume,
    RunTool,
    Send,
    ToolInfo,
)
from call_gateway.realtime.settings import RealtimeSettings
from call_gateway.realtime.voice import VoiceMeter
from centralita.config import redact
from centralita.dispatcher import Dispatcher, ToolResult
from centralita.profiles import Profile
from centralita.schema import realtime_tool

log = logging.getLogger("call_gateway.realtime")
_STOP = object()
_VOICE = object()  # sender: hand the meter's verdict to an open barge-in gate
_MAX_WAIT = 0.25  # the sender wakes at least this often to check the core's timers
_MAX_SAMPLES = 10_000  # latency samples kept per call


class RealtimeError(RuntimeError):
    """The session could not be started (connection, handshake or configuration refused)."""


@dataclass
class Timings:
    """Raw latency samples for ``bench/realtime.py`` (seconds)."""

    # arguments done → output written, minus the tool's own time (submit → result)
    tool_overhead: deque[float] = field(default_factory=lambda: deque(maxlen=_MAX_SAMPLES))
    # speech_started received → sink emptied
    barge_in: deque[float] = field(default_factory=lambda: deque(maxlen=_MAX_SAMPLES))
    gate_pause: deque[float] = field(default_factory=lambda: deque(maxlen=_MAX_SAMPLES))  # paused → resumed


class RealtimeSession:
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
        self.dispatcher = dispatcher
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
        self._gen = 0  # bumped when a renewed session takes over; events of older sockets are ignored
        self._lock = threading.RLock()
        self._send_lock = threading.Lock()  # one writer on the socket at a time (sender thread or a tool's thread)
        self._outq: queue.Queue[Any] = queue.Queue()
        self._ws: websocket.WebSocket | None = None
        self._threads: list[threading.Thread] = []
        self._futures: dict[str, Future[ToolResult]] = {}
        self._marks: dict[str, list[float]] = {}  # call_id → [arguments done, submitted, resolved]
        self._running = False
        self._ended = False  # on_end / close decided
        self._finished = False  # metrics logged, threads told to stop
        gate = settings.barge_in_gate_ms
        self.meter = VoiceMeter(level_dbfs=settings.barge_in_level_dbfs, min_speech_ms=max(gate, 20))
        self._paused_at: float | None = None

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

    # ------------------------------------------------------------ public API

    def start(self) -> None:
        """Connect, configure, ask for the greeting; returns once ``session.updated`` arrived."""
        self.metrics.started_at = self._clock()
        try:
            self._ws = self._connect()
            self._handshake(self._ws, self.core)
        except RealtimeError:
            self._abort_start("start_failed")
            raise
        except Exception as exc:
            self._abort_start("start_failed")
            raise RealtimeError(
                f"cannot start the Realtime session at {self.settings.url}: {redact(f'{type(exc).__name__}: {exc}')}"
            ) from None
        self._ws.settimeout(None)
        self._running = True
        self._threads = [
            threading.Thread(
                target=self._recv_loop, args=(self._ws, self._gen), name=f"rt-recv-{self.call_id}", daemon=True
            ),
            threading.Thread(target=self._send_loop, name=f"rt-send-{self.call_id}", daemon=True),
        ]
        for t in self._threads:
            t.start()
        log.info(
            "call %s: realtime session ready (profile %s, %d tools)",
            self.call_id or "-",
            self.profile.name,
            len(self.core.tools),
        )

    def send_caller_audio(self, ulaw: bytes) -> None:
        if not self._running or self._ended or not ulaw or self.core.state != "ready":
            return  # not yet configured, or ending: the caller's voice must not start new responses
        self._outq.put((json.dumps(ev.audio_append(ulaw)), None))
        self.metrics.record_audio_in()
        if self.core.gated:
            self.meter.feed(ulaw)  # the audio thread is the meter's only writer
            if self.core.gate is not None:
                # a gate is judging: the sender thread tells it what the line sounds like now (not this thread:
                # it may be the media link's reader, which an Interrupt's sink.clear() waits on)
                self._outq.put(_VOICE)

    def close(self, reason: str = "hangup") -> None:
        """End the session from outside (the caller hung up). Idempotent; ``on_end`` is not called."""
        with self._lock:
            self._ended = True
        self._shutdown(reason)
        self._join()

    # ------------------------------------------------------------ start

    def _connect(self) -> websocket.WebSocket:
        return websocket.create_connection(
            self.settings.endpoint(),
            header=[f"Authorization: Bearer {self.settings.api_key}"],
            timeout=self.settings.connect_timeout,
            suppress_origin=True,
            enable_multithread=True,
        )

    def _handshake(self, ws: websocket.WebSocket, core: RealtimeProtocol) -> None:
        deadline = self._clock() + self.settings.connect_timeout
        while core.state != "ready":
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise RealtimeError("Realtime handshake timed out (no session.created/session.updated)")
            ws.settimeout(remaining)
            raw = ws.recv()
            if not raw and not ws.connected:
                raise RealtimeError("Realtime closed the connection during the handshake")
            event = json.loads(raw)
            if event.get("type") == "error":
                err = event.get("error") or {}
                detail = redact(str(err.get("message")))
                raise RealtimeError(f"Realtime refused the session: {err.get('code')}: {detail}")
            checked = server_events.validate(event) if isinstance(event, dict) else server_events.Rejected("json")
            if isinstance(checked, server_events.Rejected):
                self._rejected(checked)
                continue
            for action in core.receive(event, self._clock()):
                if isinstance(action, Send):
                    ws.send(json.dumps(action.event))
                else:
                    with self._lock:
                        self._execute([action], self._clock())

    def _rejected(self, rejected: server_events.Rejected) -> None:
        """A frame that is no valid server event: counted, logged for an invalid known type, never fatal."""
        self.metrics.dropped_events += 1
        if rejected.why == "invalid":
            log.warning(
                "call %s: server event %s does not match the SDK model (%s): dropped",
                self.call_id or "-",
                rejected.type,
                rejected.detail,
            )

    def _abort_start(self, reason: str) -> None:
        self._ended = True
        self._shutdown(reason)

    # ------------------------------------------------------------ threads

    def _recv_loop(self, ws: websocket.WebSocket, gen: int) -> None:
        while self._running and gen == self._gen:
            try:
                raw = ws.recv()
            except Exception as exc:
                self._lost(exc, gen)
                return
            now = self._clock()
            if not raw:
                if not ws.connected:
                    self._lost(None, gen)
                    return
                continue
            event = server_events.parse(raw)
            if isinstance(event, server_events.Rejected):
                self._rejected(event)
                continue
            with self._lock:
                if self._ended or gen != self._gen:
                    return
                self._guarded(
                    lambda event=event, now=now: self.core.receive(event, now),
                    now,
                    f"server event {str(event.get('type'))[:60]}",
                )

    def _send_loop(self) -> None:
        while True:
            deadline = self._next_deadline()
            wait = _MAX_WAIT if deadline is None else min(_MAX_WAIT, max(0.0, deadline - self._clock()))
            try:
                item = self._outq.get(timeout=wait)
            except queue.Empty:
                item = None
            if item is _STOP:
                return
            if item is _VOICE:
                self._outq.task_done()
                with self._lock:
                    if self._ended:
                        return
                    now, verdict = self._clock(), self.meter.verdict()
                    self._guarded(
                        lambda now=now, verdict=verdict: self.core.caller_voice(verdict, now), now, "barge-in gate"
                    )
                item = None
            if item is not None:
                text, call_id = item
                ws, gen = self._ws, self._gen
                assert ws is not None
                try:
                    with self._send_lock:
                        ws.send(text)
                except Exception as exc:
                    if gen == self._gen:
                        self._lost(exc, gen)
                        return
                    continue  # the old socket of a renewed session
                finally:
                    self._outq.task_done()
                if call_id is not None:
                    self._record_tool_overhead(call_id, self._clock())
            deadline = self._next_deadline()
            if deadline is not None and self._clock() >= deadline:
                with self._lock:
                    if self._ended:
                        return
                    now = self._clock()
                    voice = self.meter.verdict()
                    self._guarded(
                        lambda now=now, voice=voice: self.core.tick(now, self.sink.pending_ms(), voice), now, "timers"
                    )

    def _next_deadline(self) -> float | None:
        with self._lock:  # the core's tables change under other threads
            return self.core.next_deadline()

    # ------------------------------------------------------------ actions

    def _guarded(
        self, step: Callable[[], list[Action]], now: float, what: str, sends: list[Send] | None = None
    ) -> None:
        """Run one core step and its actions; a bug or a malformed event costs that event, not the call."""
        try:
            self._execute(step(), now, sends)
        except Exception as exc:
            self.metrics.dropped_events += 1
            log.error(
                "call %s: %s dropped: %s",
                self.call_id or "-",
                what,
                redact(f"{type(exc).__name__}: {exc}"),
                exc_info=log.isEnabledFor(logging.DEBUG),
            )

    def _execute(self, actions: list[Action], now: float, sends: list[Send] | None = None) -> None:
        """Run actions in order; client events go to the sender's queue, or to ``sends`` if given."""
        for action in actions:
            if isinstance(action, Send):
                if sends is not None:
                    sends.append(action)
                else:
                    self._outq.put((json.dumps(action.event), action.call_id))
            elif isinstance(action, Play):
                self.sink.play(action.audio, action.item_id)
            elif isinstance(action, Pause):
                self.sink.pause()
                self._paused_at = self._clock()
                self.meter.mark(lookback_ms=self.settings.barge_in_gate_ms)
                pending = self.sink.pending_ms()
                self._execute(
                    self.core.caller_voice(
                        self.meter.verdict(), now, heard=self.meter.voiced_since_mark, audio_pending_ms=pending
                    ),
                    now,
                    sends,
                )
            elif isinstance(action, Resume):
                self.sink.resume()
                if self._paused_at is not None:
                    self.timings.gate_pause.append(self._clock() - self._paused_at)
                    self._paused_at = None
            elif isinstance(action, Interrupt):
                self.sink.clear()
                self.sink.resume()  # the held frames are gone; what comes next plays
                self._paused_at = None
                self.timings.barge_in.append(self._clock() - now)
                played = {item: self.sink.played_ms(item) for item in action.item_ids}
                self._execute(self.core.interrupted(played, self._clock()), now, sends)
            elif isinstance(action, RunTool):
                self._submit(action)
            elif isinstance(action, AbandonTool):
                future = self._futures.pop(action.call_id, None)
                self._marks.pop(action.call_id, None)
                if future is not None:
                    future.cancel()
            elif isinstance(action, Log):
                log.log(
                    logging.getLevelName(action.level.upper()),
                    "call %s: %s",
                    self.call_id or "-",
                    redact(action.message),
                )
            elif isinstance(action, End):
                self._end_by_itself(action.reason)
            elif isinstance(action, Renew):
                threading.Thread(
                    target=self._renew, args=(action.context,), name=f"rt-renew-{self.call_id}", daemon=True
                ).start()

    def _renew(self, context: str) -> None:
        """Open and configure a fresh session, then switch to it; the caller notices nothing."""
        profile = replace(self.profile, instructions=f"{self.profile.instructions}\n\n{context}")
        core = self._new_core(profile, greet=False)
        ws: websocket.WebSocket | None = None
        try:
            ws = self._connect()
            self._handshake(ws, core)
            ws.settimeout(None)
        except Exception as exc:
            log.warning(
                "call %s: session renewal failed (%s); the call ends with an apology at the limit",
                self.call_id or "-",
                redact(f"{type(exc).__name__}: {exc}"),
            )
            if ws is not None:
                _close_socket(ws)
            return
        with self._lock:
            if self._ended:
                _close_socket(ws)
                return
            old_ws, old_core = self._ws, self.core
            self._gen += 1
            self._ws, self.core = ws, core
            old_core.state = "ended"
            self.metrics.record_renewal()
            t = threading.Thread(
                target=self._recv_loop, args=(ws, self._gen), name=f"rt-recv-{self.call_id}", daemon=True
            )
            self._threads.append(t)
            t.start()
        if old_ws is not None:
            _close_socket(old_ws)
        log.info("call %s: realtime session renewed", self.call_id or "-")

    def _submit(self, action: RunTool) -> None:
        call = self.core.calls.get(action.call_id)
        received = call.received_at if call is not None and call.received_at is not None else self._clock()
        marks = self._marks[action.call_id] = [received, self._clock(), 0.0]
        try:
            future = self.dispatcher.submit(action.name, action.arguments, timeout=action.timeout)
        except Exception as exc:  # the dispatcher promises not to raise; be safe anyway
            future = Future()
            future.set_result(ToolResult.failure(action.name, "UNKNOWN", f"{type(exc).__name__}: {exc}"))
        self._futures[action.call_id] = future
        future.add_done_callback(lambda f, cid=action.call_id, m=marks: self._tool_done(cid, f, m))

    def _tool_done(self, call_id: str, future: Future[ToolResult], marks: list[float]) -> None:
        marks[2] = self._clock()
        if future.cancelled():
            return  # abandoned by the core: its output was already sent
        try:
            result = future.result()
        except Exception as exc:
            call = self.core.calls.get(call_id)
            result = ToolResult.failure(call.name if call else "?", "UNKNOWN", f"{type(exc).__name__}: {exc}")
        sends: list[Send] = []
        with self._lock:
            self._futures.pop(call_id, None)
            if self._ended:
                return
            now = self._clock()
            self._guarded(lambda: self.core.tool_finished(call_id, result, now), now, f"result of {call_id}", sends)
        self._send_direct(sends)

    def _send_direct(self, sends: list[Send]) -> None:
        """Write a tool's output (and the follow-up) from the tool's own thread, saving the hop to the sender
        (the tool overhead ``bench/realtime.py`` measures). Only when nothing is queued, so the order of
        client events is kept; never under the core lock
        (unless a tool resolved synchronously inside ``submit``), so a slow socket cannot stall the session."""
        if not sends:
            return
        failure: BaseException | None = None
        with self._send_lock:
            ws, gen = self._ws, self._gen
            if not (self._running and ws is not None and self._outq.unfinished_tasks == 0):
                for action in sends:
                    self._outq.put((json.dumps(action.event), action.call_id))
                return
            try:
                for action in sends:
                    ws.send(json.dumps(action.event))
                    if action.call_id is not None:
                        self._record_tool_overhead(action.call_id, self._clock())
            except Exception as exc:
                failure = exc
        if failure is not None:  # outside the send lock: _lost takes the core lock
            self._lost(failure, gen)

    def _record_tool_overhead(self, call_id: str, sent: float) -> None:
        marks = self._marks.pop(call_id, None)
        if marks is None:
            return  # an output the core produced without running the tool (cancelled, unknown tool)
        received, submitted, resolved = marks
        tool_time = max(0.0, resolved - submitted) if resolved else 0.0
        self.timings.tool_overhead.append(sent - received - tool_time)

    # ------------------------------------------------------------ ending

    def _lost(self, exc: BaseException | None, gen: int) -> None:
        with self._lock:
            if self._ended or gen != self._gen:
                return
            elapsed = self._clock() - (self.metrics.started_at or self._clock())
            reason = "session_limit" if elapsed >= self.settings.session_limit - 5 else "connection_lost"
            detail = redact(f"{type(exc).__name__}: {exc}") if exc else "closed by the server"
            log.warning("call %s: realtime connection lost (%s)", self.call_id or "-", detail)
            self.core.state = "ended"
            self._end_by_itself(reason, drain=False)

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
        self._join()
        try:
            self._on_end(reason)
        except Exception:
            log.exception("call %s: on_end(%s) failed", self.call_id or "-", reason)

    def _shutdown(self, reason: str) -> None:
        with self._lock:
            if self._finished:
                return
            self._finished = True
            self._running = False
            self.core.state = "ended"
            futures = list(self._futures.values())
            self._futures.clear()
        for future in futures:
            future.cancel()
        if self._paused_at is not None:  # a gate was open: whatever plays next (an apology) must not be held
            self._paused_at = None
            with contextlib.suppress(Exception):
                self.sink.resume()
        self._outq.put(_STOP)
        if self._ws is not None:
            _close_socket(self._ws)
        self.metrics.finish(self._clock(), reason)
        log.info("%s", self.metrics.log_line())

    def _join(self) -> None:
        me = threading.current_thread()
        for t in list(self._threads):
            if t is not me and t.ident is not None:
                t.join(timeout=5)


def _close_socket(ws: websocket.WebSocket) -> None:
    """Send a close frame if we still can, then tear the socket down so a blocked ``recv`` wakes up."""
    for step in (lambda: ws.send_close(websocket.STATUS_NORMAL), ws.abort, ws.shutdown):
        with contextlib.suppress(Exception):
            step()
