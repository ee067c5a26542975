"""The seam between the media side (RTP, part 2) and the Realtime session (part 1).

The voice engine only knows this interface, so it can be tested with an in-process fake
sink and the RTP endpoint can be tested without a model.
"""

from __future__ import annotations

from typing import Protocol


class AudioSink(Protocol):
    """Where model audio goes: G.711 u-law bytes, paced out to the caller in 20 ms frames."""

    def play(self, ulaw: bytes, tag: str) -> None:
        """Queue audio of any length behind what is already queued; ``tag`` is the Realtime item id."""

    def clear(self) -> int:
        """Drop every frame not yet sent, at once (barge-in). Returns the number of frames dropped."""

    def pause(self) -> None:
        """Hold every queued frame (nothing is sent, nothing dropped) until ``resume`` or ``clear``."""

    def resume(self) -> None:
        """Play the held frames on."""

    def played_ms(self, tag: str) -> int:
        """Milliseconds of audio tagged ``tag`` actually sent to the caller so far (0 if none)."""

    def pending_ms(self) -> int:
        """Milliseconds queued and not yet sent."""
