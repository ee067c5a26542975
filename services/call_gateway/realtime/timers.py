"""The Realtime core's timers: the barge-in gate's window, tool guards and holding phrases, a requested
response that never started, the session limit (renewal, then the hard end) and the ending's deadline.

A part composed into ``RealtimeProtocol`` (it reads and writes the protocol's state; no clock of its own:
``now`` is always given).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from call_gateway.realtime import gate
from call_gateway.realtime.state import AbandonTool, Action, Log, Resume
from centralita.tool_types import ToolResult

if TYPE_CHECKING:
    from call_gateway.realtime.protocol import RealtimeProtocol


class Timers:
    """``tick`` and ``next_deadline`` of one ``RealtimeProtocol``."""

    def __init__(self, protocol: RealtimeProtocol) -> None:
        self.p = protocol

    def tick(self, now: float, audio_pending_ms: int = 0, caller_voice: str = "quiet") -> list[Action]:
        """Timers: tool guard deadlines, session limit, ending deadline, holding phrases.

        ``audio_pending_ms`` is what the sink still has to play: a holding phrase is for dead air, so it
        waits until the caller has heard what the assistant already said.
        """
        p = self.p
        if p.state == "ended":
            return []
        actions: list[Action] = []
        g = p.gate
        if g is not None and g.state == "open" and now >= g.deadline:
            decision = gate.at_deadline(g, now, caller_voice)
            if decision == "wait":
                g.deadline = now + gate.GATE_RECHECK_S  # the caller's audio lags (a loaded machine): wait for it
            elif decision == "interrupt":
                actions += p._gate_interrupt(g, now)  # a sound still going at the cap: the caller talks
            else:
                g.state, g.decided_at = "resumed", now
                actions.append(Resume())
        if audio_pending_ms > 0:
            for call in p.calls.values():
                if call.state == "running" and not call.held and call.hold_at is not None and now >= call.hold_at:
                    call.hold_at = now + audio_pending_ms / 1000.0
        for call in list(p.calls.values()):
            if call.state == "running" and not call.output_sent and call.guard_at is not None and now >= call.guard_at:
                result = ToolResult.failure(
                    call.name, "DEADLINE_EXCEEDED", f"{call.name} did not answer in time", p.profile.tool_apology
                )
                actions += [AbandonTool(call.call_id), *p._output(call, result)]
        lost = p.requested
        if lost is not None and lost.requested_at is not None and now >= lost.requested_at + p.request_timeout:
            p.requested = None  # the server never started it: do not wait for it forever
            if lost.purpose == "tools" and p.followup is not None:
                p.followup.requested = False
                p.followup.retries += 1
            actions.append(Log("warning", f"response.create {lost.event_id} ({lost.purpose}) never started"))
        if p.state == "ready" and p.session_started_at is not None:
            if now >= p._hard_end_at():
                actions += p._begin_ending("session_limit", now)  # renewal failed or never found a pause
            elif now >= p._renew_at():
                actions += p._maybe_renew(now)
        if p.state == "ending" and p.ending_deadline is not None and now >= p.ending_deadline:
            return [*actions, p._end()]
        return actions + p._schedule(now, holding=True)

    def next_deadline(self) -> float | None:
        p = self.p
        times: list[float] = []
        if p.gate is not None and p.gate.state == "open":
            times.append(p.gate.deadline)
        for call in p.calls.values():
            if call.state == "running" and not call.output_sent:
                if call.guard_at is not None:
                    times.append(call.guard_at)
                if not call.held and call.hold_at is not None:
                    times.append(call.hold_at)
        if p.requested is not None and p.requested.requested_at is not None:
            times.append(p.requested.requested_at + p.request_timeout)
        if p.state == "ready" and p.session_started_at is not None:
            times.append(p._hard_end_at())
            if p.renew and not p.renew_requested:
                times.append(max(p._renew_at(), p.renew_check_at or 0.0))
        if p.state == "ending" and p.ending_deadline is not None:
            times.append(p.ending_deadline)
        return min(times) if times else None
