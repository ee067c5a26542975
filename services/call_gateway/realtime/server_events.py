"""Server events checked at the edge against the ``openai`` SDK's own models (GA shapes).

The driver turns each WebSocket text frame into an event here, before the core sees it: a known type
must validate against its SDK model (``openai.types.realtime``, one per ``type``), an unknown type is
counted and dropped. Neither is ever fatal. The core then reads validated events (the same mapping
the model accepted, so it keeps the unknown-field tolerance of the wire). A few pre-GA names the core
still accepts are passed through unvalidated (``LEGACY_TYPES``).

Pure (no I/O): the driver calls ``parse`` and counts what comes back as ``Rejected``.
"""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass
from typing import Any

from openai.types.realtime import RealtimeServerEvent
from pydantic import BaseModel, ValidationError

# Pre-GA names the core still handles (see ``protocol.AUDIO_DELTA_TYPES``); the SDK has no model for them.
LEGACY_TYPES = frozenset({"response.audio.delta", "response.audio.done"})


def _models() -> dict[str, type[BaseModel]]:
    """``type`` literal → SDK model, from the members of the SDK's server-event union."""
    union = typing.get_args(RealtimeServerEvent)[0]
    models: dict[str, type[BaseModel]] = {}
    for model in typing.get_args(union):
        for literal in typing.get_args(model.model_fields["type"].annotation):
            models[literal] = model
    return models


MODELS: dict[str, type[BaseModel]] = _models()


@dataclass(frozen=True)
class Rejected:
    """A frame that is not a usable server event; ``why`` is short and carries no payload."""

    why: str  # "json", "not_an_object", "unknown_type", "invalid"
    type: str = ""
    detail: str = ""


def validate(event: dict[str, Any]) -> BaseModel | Rejected | None:
    """The SDK model of ``event``; ``None`` for a legacy type passed through; ``Rejected`` otherwise."""
    etype = event.get("type")
    if not isinstance(etype, str):
        return Rejected("unknown_type", "")
    model = MODELS.get(etype)
    if model is None:
        return None if etype in LEGACY_TYPES else Rejected("unknown_type", etype[:60])
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return Rejected("invalid", etype, f"{exc.error_count()} error(s), first at {where or '-'}: {first.get('type')}")


def parse(raw: str | bytes) -> dict[str, Any] | Rejected:
    """One WebSocket text frame → a validated server event (as the mapping the SDK model accepted)."""
    try:
        event = json.loads(raw)
    except ValueError:
        return Rejected("json")
    if not isinstance(event, dict):
        return Rejected("not_an_object")
    checked = validate(event)
    return checked if isinstance(checked, Rejected) else event
