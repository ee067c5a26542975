"""Typed failures of the MikroTik API path, each with the sentence the caller may hear.

The sentences follow the seed's wording ("la consulta tardó demasiado", "no se pudo conectar",
"¿Puedes repetir tu pregunta?"). They never carry URLs, stack traces or secrets: the technical
detail stays in ``detail`` and goes to the log only.
"""

from __future__ import annotations

import re

_MAX_API_MESSAGE = 200


class MikrotikError(Exception):
    """Base of every failure the tool reports; ``sentence`` is polite Spanish for the caller."""

    kind = "error"
    sentence = "Ocurrió un error al consultar la red. ¿Puedes repetir tu pregunta?"

    def __init__(self, detail: str = "", sentence: str | None = None) -> None:
        super().__init__(detail or self.kind)
        self.detail = detail
        if sentence is not None:
            self.sentence = sentence


class InvalidQuestion(MikrotikError):
    """The request itself is unusable (empty or too long question, timeout out of range)."""

    kind = "invalid_argument"
    sentence = "No entendí la pregunta. ¿Puedes repetirla, por favor?"


class ApiUnreachable(MikrotikError):
    """No TCP connection to the API, or it dropped before any usable answer."""

    kind = "unreachable"
    sentence = (
        "Lo siento, no se pudo conectar con el sistema de consultas de la red en este momento. "
        "Por favor, inténtalo de nuevo en unos minutos."
    )


class ApiTimeout(MikrotikError):
    """The API did not answer within the budget (the request's timeout or the caller's deadline)."""

    kind = "timeout"
    sentence = "Lo siento, la consulta tardó demasiado. ¿Quieres que lo intente de nuevo?"


class ApiBusy(MikrotikError):
    """Too many questions are already waiting for the API; refused at once instead of queueing."""

    kind = "busy"
    sentence = (
        "Lo siento, el sistema de consultas de la red está muy ocupado en este momento. "
        "Por favor, inténtalo de nuevo en unos segundos."
    )


class ApiHttpError(MikrotikError):
    """The API answered with a status other than 2xx (redirects are not followed)."""

    kind = "http_error"

    def __init__(self, status: int, detail: str = "") -> None:
        if status >= 500:
            sentence = (
                "Lo siento, el sistema de consultas de la red no está disponible en este momento. "
                "Por favor, inténtalo de nuevo en unos minutos."
            )
        else:
            sentence = "Lo siento, el sistema de consultas de la red no pudo procesar la pregunta."
        super().__init__(detail or f"HTTP {status}", sentence)
        self.status = status


class ApiBadResponse(MikrotikError):
    """The API answered 200 but the body is not JSON or lacks the expected fields."""

    kind = "bad_response"
    sentence = "Ocurrió un error al leer la respuesta de los equipos de la red. ¿Puedes repetir tu pregunta?"


class ApiFailed(MikrotikError):
    """The API answered ``success: false``; its own message is passed on, as the seed does."""

    kind = "api_failed"

    def __init__(self, api_message: str) -> None:
        clean = clean_api_message(api_message)
        if clean:
            sentence = f"Lo siento, hubo un problema: {clean}"
        else:
            sentence = "Lo siento, hubo un problema al consultar la red. ¿Puedes repetir tu pregunta?"
        super().__init__(f"success=false: {clean}", sentence)
        self.api_message = clean


def clean_api_message(text: object) -> str:
    """One short line of the API's own message, safe to say aloud."""
    if not isinstance(text, str):
        return ""
    line = re.sub(r"\s+", " ", text).strip()
    if len(line) > _MAX_API_MESSAGE:
        line = line[: _MAX_API_MESSAGE - 1].rstrip() + "…"
    return line
