"""The barge-in gate's decision when its window closes (see ``realtime/README.md``, "Barge-in gate")."""

from __future__ import annotations

from typing import Literal

from call_gateway.realtime.state import Gate

GATE_CAP_S = 0.4  # an open gate decides by then whatever the meter says (issue 14: 400 ms)
GATE_RECHECK_S = 0.04  # undecided at the window's end: look again after two more caller frames

Decision = Literal["wait", "interrupt", "resume"]


def at_deadline(gate: Gate, now: float, caller_voice: str) -> Decision:
    """An open gate whose deadline passed: wait a little longer, interrupt, or resume.

    The caller's audio can lag the server's ``speech_started`` on a loaded machine, so a sound the meter
    is still unsure of is re-checked every ``GATE_RECHECK_S`` up to ``GATE_CAP_S``; at the cap a sound
    still going is the caller talking, anything else was a noise.
    """
    if caller_voice in ("sounding", "unsure") and now < gate.opened_at + GATE_CAP_S:
        return "wait"
    if caller_voice in ("speech", "sounding"):
        return "interrupt"
    return "resume"
