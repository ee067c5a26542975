"""Client events of the Realtime GA protocol, typed with the ``openai`` SDK's TypedDicts.

Only GA shapes: ``session.type: "realtime"``, ``audio.input/output.format`` objects, no beta keys.
Every builder returns a plain dict (what goes on the wire after ``json.dumps``).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from openai.types.realtime.conversation_item_create_event_param import ConversationItemCreateEventParam
from openai.types.realtime.conversation_item_truncate_event_param import ConversationItemTruncateEventParam
from openai.types.realtime.input_audio_buffer_append_event_param import InputAudioBufferAppendEventParam
from openai.types.realtime.response_cancel_event_param import ResponseCancelEventParam
from openai.types.realtime.response_create_event_param import ResponseCreateEventParam
from openai.types.realtime.session_update_event_param import SessionUpdateEventParam

from call_gateway.realtime.prompts import say_exactly  # noqa: F401  (re-exported: builders and tests use ev.)
from centralita.profiles import Profile

PCMU = {"type": "audio/pcmu"}
PCMU_BYTES_PER_MS = 8  # G.711 u-law, 8 kHz, one byte per sample

# What our own response.create requests carry in ``metadata`` so response.created can be matched.
PURPOSE_KEY = "centralita"


def session_update(
    profile: Profile, tools: Sequence[dict[str, Any]], event_id: str, *, gated: bool = False
) -> SessionUpdateEventParam:
    """``gated``: barge-in gating is on, so the server neither creates nor interrupts responses by itself."""
    audio_input: dict[str, Any] = {
        "format": dict(PCMU),
        "turn_detection": profile.turn_detection.turn_detection(gated=gated),
    }
    if profile.transcription_model:
        audio_input["transcription"] = {"model": profile.transcription_model}
    session: dict[str, Any] = {
        "type": "realtime",
        "output_modalities": ["audio"],
        "instructions": profile.instructions,
        "audio": {"input": audio_input, "output": {"format": dict(PCMU), "voice": profile.voice}},
        "tools": list(tools),
        "tool_choice": "auto",
    }
    return {"type": "session.update", "event_id": event_id, "session": session}  # type: ignore[typeddict-item]


def audio_append(ulaw: bytes) -> InputAudioBufferAppendEventParam:
    return {"type": "input_audio_buffer.append", "audio": base64.b64encode(ulaw).decode("ascii")}


def function_call_output(call_id: str, output: str, event_id: str) -> ConversationItemCreateEventParam:
    return {
        "type": "conversation.item.create",
        "event_id": event_id,
        "item": {"type": "function_call_output", "call_id": call_id, "output": output},
    }


def response_create(
    event_id: str,
    purpose: str,
    *,
    instructions: str | None = None,
    out_of_band: bool = False,
) -> ResponseCreateEventParam:
    """``response.create``; ``out_of_band`` = a response outside the conversation with an empty context."""
    response: dict[str, Any] = {"metadata": {PURPOSE_KEY: purpose}}
    if instructions is not None:
        response["instructions"] = instructions
    if out_of_band:
        response.update({"conversation": "none", "input": [], "output_modalities": ["audio"]})
    return {"type": "response.create", "event_id": event_id, "response": response}  # type: ignore[typeddict-item]


def response_cancel(event_id: str, response_id: str | None = None) -> ResponseCancelEventParam:
    event: ResponseCancelEventParam = {"type": "response.cancel", "event_id": event_id}
    if response_id:
        event["response_id"] = response_id
    return event


def truncate(item_id: str, audio_end_ms: int, event_id: str) -> ConversationItemTruncateEventParam:
    return {
        "type": "conversation.item.truncate",
        "event_id": event_id,
        "item_id": item_id,
        "content_index": 0,
        "audio_end_ms": int(audio_end_ms),
    }
