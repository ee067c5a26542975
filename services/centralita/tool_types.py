"""The outcome of a tool call as a plain value, shared by the dispatcher and the sans-IO cores.

It lives apart from ``centralita.dispatcher`` (which needs grpc) so that code that only reasons about
results, such as the Realtime protocol core, can import it without pulling in any RPC library.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# What the caller hears when the tool service gave no sentence of its own.
SAY = {
    "INVALID_ARGUMENT": "Perdón, no pude entender bien la consulta. ¿Podés repetirla con otras palabras?",
    "DEADLINE_EXCEEDED": "Lo siento, la consulta tardó demasiado. ¿Querés que lo intente de nuevo?",
    "UNAVAILABLE": "Lo siento, el sistema de consultas no está disponible en este momento.",
    "NOT_FOUND": "No encontré información sobre eso.",
    "UNKNOWN_TOOL": "Lo siento, esa consulta no está disponible en este momento.",
    "CANCELLED": "La consulta se canceló.",
    "RESOURCE_EXHAUSTED": "El sistema está muy ocupado en este momento. Probemos de nuevo en unos segundos.",
}
SAY_DEFAULT = "Lo siento, ocurrió un error al hacer la consulta. ¿Puedes repetir tu pregunta?"


@dataclass
class ToolResult:
    """The outcome of one tool call, ready to hand back to the model."""

    name: str
    ok: bool
    output: dict[str, Any]
    code: str = "OK"
    say: str | None = None
    elapsed_ms: float = 0.0

    def output_json(self) -> str:
        return json.dumps(self.output, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def failure(cls, name: str, code: str, message: str, say: str | None = None, elapsed_ms: float = 0.0) -> ToolResult:
        say = say or SAY.get(code, SAY_DEFAULT)
        return cls(name, False, {"error": {"code": code, "message": message, "say": say}}, code, say, elapsed_ms)
