"""The one exception of the chat: what went wrong and which kind of wrong (for the HTTP status)."""

from __future__ import annotations

from centralita.config import redact


class ChatError(Exception):
    """The answer could not be produced. ``kind``: config, unreachable, model or protocol."""

    def __init__(self, message: str, kind: str = "model", status: int | None = None) -> None:
        super().__init__(redact(message))
        self.kind = kind
        self.status = status
