"""Carries out the actions the Realtime core returns: client events to the connection, audio to the call's
sink, the barge-in gate's pause/resume/interrupt (asking the core back with what the sink measured),
tools to the ``ToolRunner``, log lines, and the end or renewal of the conversation to the engine.

Runs under the engine's lock (the core is not thread-safe); a core step that raises costs that step, not
the call (``guarded``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from call_gateway.audio import AudioSink
from call_gateway.realtime.connection import RealtimeConnection
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
)
from call_gateway.realtime.timings import Timings
from call_gateway.realtime.tool_runner import ToolRunner
from call_gateway.realtime.voice import VoiceMeter
from centralita.config import redact

log = logging.getLogger("call_gateway.realtime")


class ActionRunner:
    """Executes core actions for one call (see the module docstring)."""

    def __init__(
        self,
        *,
        core: Callable[[], RealtimeProtocol],
        sink: AudioSink,
        meter: VoiceMeter,
        connection: RealtimeConnection,
        tools: ToolRunner,
        metrics: CallMetrics,
        timings: Timings,
        gate_ms: int,
        on_end: Callable[[str], None],
        on_renew: Callable[[str], None],
        call_id: str,
        clock: Callable[[], float],
    ) -> None:
        self._core = core
        self.sink = sink
        self.meter = meter
        self.connection = connection
        self.tools = tools
        self.metrics = metrics
        self.timings = timings
        self.gate_ms = gate_ms
        self._on_end = on_end
        self._on_renew = on_renew
        self.call_id = call_id
        self._clock = clock
        self.paused_at: float | None = None  # the sink is held by an open barge-in gate since then

    def guarded(self, step: Callable[[], list[Action]], now: float, what: str, sends: list[Send] | None = None) -> None:
        """Run one core step and its actions; a bug or a malformed event costs that event, not the call."""
        try:
            self.execute(step(), now, sends)
        except Exception as exc:
            self.metrics.dropped_events += 1
            log.error(
                "call %s: %s dropped: %s",
                self.call_id or "-",
                what,
                redact(f"{type(exc).__name__}: {exc}"),
                exc_info=log.isEnabledFor(logging.DEBUG),
            )

    def execute(self, actions: list[Action], now: float, sends: list[Send] | None = None) -> None:
        """Run actions in order; client events go to the sender's queue, or to ``sends`` if given."""
        for action in actions:
            if isinstance(action, Send):
                if sends is not None:
                    sends.append(action)
                else:
                    self.connection.enqueue(action.event, action.call_id)
            elif isinstance(action, Play):
                self.sink.play(action.audio, action.item_id)
            elif isinstance(action, Pause):
                self._pause(now, sends)
            elif isinstance(action, Resume):
                self.sink.resume()
                if self.paused_at is not None:
                    self.timings.gate_pause.append(self._clock() - self.paused_at)
                    self.paused_at = None
            elif isinstance(action, Interrupt):
                self._interrupt(action, now, sends)
            elif isinstance(action, RunTool):
                self.tools.submit(action)
            elif isinstance(action, AbandonTool):
                self.tools.abandon(action.call_id)
            elif isinstance(action, Log):
                level = logging.getLevelName(action.level.upper())
                log.log(level, "call %s: %s", self.call_id or "-", redact(action.message))
            elif isinstance(action, End):
                self._on_end(action.reason)
            elif isinstance(action, Renew):
                self._on_renew(action.context)

    def _pause(self, now: float, sends: list[Send] | None) -> None:
        """The gate opened: hold the sink, then tell the core what is at stake (its audio still to play)."""
        self.sink.pause()
        self.paused_at = self._clock()
        self.meter.mark(lookback_ms=self.gate_ms)
        pending = self.sink.pending_ms()
        verdict, heard = self.meter.verdict(), self.meter.voiced_since_mark
        self.execute(self._core().caller_voice(verdict, now, heard=heard, audio_pending_ms=pending), now, sends)

    def _interrupt(self, action: Interrupt, now: float, sends: list[Send] | None) -> None:
        """Barge-in: empty the sink first, then let the core truncate at what was really played."""
        self.sink.clear()
        self.sink.resume()  # the held frames are gone; what comes next plays
        self.paused_at = None
        self.timings.barge_in.append(self._clock() - now)
        played = {item: self.sink.played_ms(item) for item in action.item_ids}
        self.execute(self._core().interrupted(played, self._clock()), now, sends)

    def release_pause(self) -> None:
        """The conversation ends with a gate open: whatever plays next (an apology) must not be held."""
        if self.paused_at is None:
            return
        self.paused_at = None
        try:
            self.sink.resume()
        except Exception:
            log.debug("call %s: sink.resume at the end failed", self.call_id or "-", exc_info=True)
