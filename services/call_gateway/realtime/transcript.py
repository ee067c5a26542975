"""What was said in the call, kept for a renewed session's instructions (the 60-minute cap)."""

from __future__ import annotations

TRANSCRIPT_TURNS = 40  # what a renewed session is told about the call so far
TRANSCRIPT_CHARS = 6000
ASSISTANT = "Asistente"
CALLER = "Cliente"


class Transcript:
    """Lines of (speaker, text), oldest first; only the recent part is ever read back."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def add(self, speaker: str, text: str) -> None:
        text = (text or "").strip()
        if text:
            self.lines.append((speaker, text))

    def recent(self) -> str:
        """The last ``TRANSCRIPT_TURNS`` lines, at most ``TRANSCRIPT_CHARS`` characters (the newest kept)."""
        body = "\n".join(f"{who}: {text}" for who, text in self.lines[-TRANSCRIPT_TURNS:])
        return body[-TRANSCRIPT_CHARS:]
