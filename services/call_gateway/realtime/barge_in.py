"""Barge-in in the Realtime core: the caller's speech start and end, the gate's verdicts and the exact
truncation of what was interrupted (see ``realtime/README.md``, "Barge-in gate" and "Barge-in").

A part of ``RealtimeProtocol`` (mixed into it; it reads and writes the protocol's state).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from call_gateway.realtime import events as ev
from call_gateway.realtime.state import (
    Action,
    Gate,
    Interrupt,
    Pause,
    Resume,
    Send,
)


class BargeIn:
    """Barge-in handling of ``RealtimeProtocol`` (see the module docstring)."""

    def interrupted(self, played_ms: Mapping[str, int], now: float) -> list[Action]:
        """The sink was emptied after ``Interrupt``; ``played_ms`` is what it actually sent, per item."""
        actions: list[Action] = []
        cut = self.active is not None
        for turn in self._audio_turns():
            if turn.interrupted:
                continue
            for item_id in turn.audio_bytes:
                received = turn.audio_ms(item_id)
                played = max(0, min(int(played_ms.get(item_id, 0)), received))
                turn.played_ms[item_id] = played
                unheard = played < received or (turn.active and item_id not in turn.audio_done)
                cut = cut or unheard
                if turn.out_of_band or played <= 0 or not unheard:
                    continue  # out-of-band items are not in the conversation; nothing played: no truncate
                turn.truncated_ms[item_id] = played
                self.metrics.truncates += 1
                actions.append(Send(ev.truncate(item_id, played, self._eid("tr"))))
            turn.interrupted = True
        if cut:
            self.metrics.record_barge_in()  # the caller talked over the assistant, not merely after it
        if self.active is not None and not self.active.cancel_sent:
            self.active.cancel_sent = True
            # with interrupt_response the server cancels an in-band response itself on speech start; a cancel
            # of ours would race it and earn response_cancel_not_active
            if not (self.server_interrupts and not self.active.out_of_band):
                actions.append(Send(ev.response_cancel(self._eid("cancel"), self.active.response_id or None)))
        return actions

    def caller_voice(
        self, verdict: str, now: float, *, heard: bool = False, audio_pending_ms: int | None = None
    ) -> list[Action]:
        """The gateway's own meter on the caller's line (``VoiceMeter.verdict``) while a gate is open or
        watching. ``heard``: the meter heard voice since the gate opened. ``audio_pending_ms`` is given once,
        right after ``Pause``: with nothing to protect (sink empty, nothing in flight) the gate stands aside."""
        g = self.gate
        if g is None or g.state == "interrupted" or self.state == "ended":
            return []
        g.voice_heard = g.voice_heard or heard or verdict in ("sounding", "speech")
        if audio_pending_ms is not None and g.state == "open" and audio_pending_ms <= 0 and self.in_flight is None:
            g.state, g.protecting, g.decided_at = "free", False, now  # nothing said to protect: a plain turn
            return [Resume()]
        if verdict == "speech" and g.state in ("open", "resumed"):
            return self._gate_interrupt(g, now)
        if verdict == "quiet" and g.state == "open":
            g.state, g.decided_at = "resumed", now
            return [Resume()]
        return []

    def _gate_interrupt(self, g: Gate, now: float) -> list[Action]:
        g.state, g.decided_at = "interrupted", now
        if self.requested is not None:
            self.requested.cancel_on_created = True
        items = tuple(i for t in self._audio_turns() if not t.interrupted for i in t.audio_bytes)
        return [Interrupt(items)]

    def _on_speech_started(self, event: dict[str, Any], now: float) -> list[Action]:
        self.caller_speaking = True
        self.speech_stopped_at = None
        unheld = tuple(c.call_id for c in self.calls.values() if not c.held)
        for call in self.calls.values():
            call.held = True  # no holding phrase over the caller's voice
        if self.gated:
            # pause (frames held, not dropped) and judge: the driver's meter answers via caller_voice/tick
            self.gate = Gate(opened_at=now, deadline=now + self.gate_ms / 1000.0, unheld=unheld)
            return [Pause()]
        if self.requested is not None:
            self.requested.cancel_on_created = True
        items = tuple(i for t in self._audio_turns() if not t.interrupted for i in t.audio_bytes)
        return [Interrupt(items)]

    def _on_speech_stopped(self, event: dict[str, Any], now: float) -> list[Action]:
        self.caller_speaking = False
        self.speech_stopped_at = now
        actions: list[Action] = []
        g, self.gate = self.gate, None
        if g is not None and g.state == "open":  # over before the window was: a short sound
            g.state, g.decided_at = "resumed", now
            actions.append(Resume())
        noise = g is not None and g.state == "resumed" and g.voice_heard
        if noise:
            self.metrics.record_noise_ignored()  # the answer went on; a cough is not a question
            for call_id in g.unheld:  # nor a reason to skip the holding phrase of a slow tool
                self.calls[call_id].held = False
        if self.server_creates:
            if self.followup is not None and self._outputs_acked(self.followup):
                self.followup = None  # the server answers this turn by itself, with the outputs in context
        elif not noise:
            self.turn_pending = True
        return actions
