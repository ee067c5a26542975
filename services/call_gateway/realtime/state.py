"""Values of the Realtime core: the actions it returns and the per-call, per-response state it keeps.

"The turn is a value": a ``ResponseTurn`` holds what the truncate offset and the single follow-up
``response.create`` are computed from, and tests assert on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from call_gateway.realtime.events import PCMU_BYTES_PER_MS
from centralita.tool_types import ToolResult

# ------------------------------------------------------------------ actions


@dataclass(frozen=True, slots=True)
class Send:
    event: Mapping[str, Any]
    call_id: str | None = None  # set on function_call_output (the driver times the tool overhead with it)


@dataclass(frozen=True, slots=True)
class Play:
    audio: bytes
    item_id: str


@dataclass(frozen=True, slots=True)
class Interrupt:
    """Empty the sink now, then report ``sink.played_ms`` of each item to ``RealtimeProtocol.interrupted``."""

    item_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Pause:
    """Barge-in gate opened: hold the sink's frames (not dropped) until ``Resume`` or ``Interrupt``."""


@dataclass(frozen=True, slots=True)
class Resume:
    """The gate closed on a noise: play the held frames on."""


@dataclass(frozen=True, slots=True)
class RunTool:
    call_id: str
    name: str
    arguments: str
    timeout: float | None


@dataclass(frozen=True, slots=True)
class AbandonTool:
    call_id: str


@dataclass(frozen=True, slots=True)
class Log:
    level: str
    message: str


@dataclass(frozen=True, slots=True)
class End:
    reason: str


@dataclass(frozen=True, slots=True)
class Renew:
    """Open a new session now (idle, before the server's cap) with ``context`` appended to its instructions."""

    context: str


Action = Send | Play | Interrupt | Pause | Resume | RunTool | AbandonTool | Log | End | Renew


# ------------------------------------------------------------------ state values


@dataclass(frozen=True)
class ToolInfo:
    name: str
    kind: str = "query"  # "query" | "action"
    timeout: float | None = None  # seconds; None = the dispatcher's default
    holding_phrase: str = ""


@dataclass
class ToolCall:
    call_id: str
    name: str = ""
    response_id: str = ""
    arguments: str = ""
    state: str = "collecting"  # collecting → deferred | running → output
    received_at: float | None = None  # arguments done
    started_at: float | None = None  # handed to the dispatcher (RunTool)
    hold_at: float | None = None
    guard_at: float | None = None
    held: bool = False
    output_sent: bool = False
    output_acked: bool = False  # the server added our function_call_output to the conversation
    result: ToolResult | None = None


@dataclass
class ResponseTurn:
    """One model response, from request (or server creation) to response.done."""

    purpose: str  # greeting | tools | holding | apology | server
    out_of_band: bool = False
    event_id: str = ""
    response_id: str = ""
    requested_at: float | None = None
    created_at: float | None = None
    done_at: float | None = None
    status: str = ""
    audio_bytes: dict[str, int] = field(default_factory=dict)  # item_id → bytes received (8 per ms)
    audio_done: set[str] = field(default_factory=set)  # items whose audio is complete (output_audio.done)
    played_ms: dict[str, int] = field(default_factory=dict)  # at interruption, per the sink's clock
    truncated_ms: dict[str, int] = field(default_factory=dict)
    call_ids: list[str] = field(default_factory=list)
    cancel_sent: bool = False
    cancel_on_created: bool = False
    interrupted: bool = False
    retries: int = 0

    @property
    def active(self) -> bool:
        return self.created_at is not None and self.done_at is None

    def audio_ms(self, item_id: str) -> int:
        return self.audio_bytes.get(item_id, 0) // PCMU_BYTES_PER_MS


@dataclass
class Gate:
    """One barge-in judgement, from ``speech_started`` until ``speech_stopped``.

    ``open``: playout paused, undecided; ``resumed``: judged a noise, playout goes on (still watching:
    speech that follows in the same segment still interrupts); ``interrupted``: real speech, the answer
    was cut; ``free``: nothing was playing or coming, so there was nothing to gate."""

    opened_at: float
    deadline: float
    state: str = "open"  # open → resumed | interrupted | free (nothing was being said: a plain turn)
    decided_at: float | None = None
    protecting: bool = True
    voice_heard: bool = False  # the gateway's own meter heard something in this segment
    unheld: tuple[str, ...] = ()  # running calls whose holding phrase the speech put on hold (a noise gives it back)


@dataclass
class FollowUp:
    call_ids: list[str]
    requested: bool = False
    retries: int = 0
