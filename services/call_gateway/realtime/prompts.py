"""The Spanish sentences the gateway itself writes into the model's instructions.

The profile's own texts (greeting, holding phrase, apologies) come from ``centralita.profiles``; these
are the gateway's framing around them, kept in one place so they can be read and reviewed together.
"""

from __future__ import annotations


def say_exactly(sentence: str) -> str:
    """Instructions that make the model speak one sentence verbatim."""
    return (
        "Di en voz alta exactamente la siguiente frase, en español, sin añadir nada antes ni después "
        f"y sin llamar a ninguna herramienta: «{sentence}»"
    )


def renewed_session(recent: str) -> str:
    """Instructions added to a renewed session: the call goes on, here is what was said lately."""
    return (
        "La llamada ya está en curso (la sesión se renovó): no saludes de nuevo y continúa la conversación "
        "con naturalidad." + (f" Esto es lo último que se dijo:\n{recent}" if recent else "")
    )


def tool_apology(instructions: str, sentences: str) -> str:
    """Instructions of a tool follow-up when a tool failed: apologise with the tool's own sentences."""
    return (
        f"{instructions}\n\nUna consulta no pudo completarse. Discúlpate con el cliente "
        f"diciendo: «{sentences}» No inventes el resultado."
    )
