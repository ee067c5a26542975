"""The outbound audio queue of one call: 20 ms frames, tagged by Realtime item, owned by the gateway.

Model audio arrives in chunks of any length; it is cut into 160-byte frames here. The pacer takes
at most one frame per tick. Barge-in drops everything not yet sent, at once; the barge-in gate ``pause``s
the queue (frames held, nothing sent) until ``resume`` or ``clear``. ``played_ms`` counts only
real audio bytes handed to the socket (never the silence used to pad a final partial frame), so a
truncate offset computed from it can never exceed the item's length.
"""

from __future__ import annotations

import threading
from collections import deque

from .packet import FRAME_BYTES, ULAW_SILENCE

BYTES_PER_MS = 8


class PlayoutQueue:
    def __init__(self, max_ms: int = 10 * 60 * 1000) -> None:
        self._lock = threading.Lock()
        self._frames: deque[tuple[bytes, str, int]] = deque()  # (160 bytes, tag, real bytes)
        self._partial = bytearray()
        self._partial_tag = ""
        self._partial_waits = 0
        self._played_bytes: dict[str, int] = {}
        self._max_frames = max(1, max_ms // 20)
        self.overflow_frames = 0
        self._paused = False

    # -- producer side (Realtime session thread) -------------------------------------------------
    def play(self, ulaw: bytes, tag: str) -> None:
        if not ulaw:
            return
        with self._lock:
            if self._partial and self._partial_tag != tag:
                self._flush_partial()
            self._partial_tag = tag
            self._partial += ulaw
            while len(self._partial) >= FRAME_BYTES:
                self._push(bytes(self._partial[:FRAME_BYTES]), tag, FRAME_BYTES)
                del self._partial[:FRAME_BYTES]
            self._partial_waits = 0

    def clear(self) -> int:
        with self._lock:
            dropped = len(self._frames) + (1 if self._partial else 0)
            self._frames.clear()
            self._partial.clear()
            self._partial_waits = 0
            return dropped

    def pause(self) -> None:
        """Hold every frame (the caller may be talking); ``played_ms`` stays what was really sent."""
        with self._lock:
            self._paused = True

    def resume(self) -> None:
        with self._lock:
            self._paused = False

    @property
    def paused(self) -> bool:
        return self._paused

    def played_ms(self, tag: str) -> int:
        with self._lock:
            return self._played_bytes.get(tag, 0) // BYTES_PER_MS

    def pending_ms(self) -> int:
        with self._lock:
            return (len(self._frames) * FRAME_BYTES + len(self._partial)) // BYTES_PER_MS

    # -- consumer side (pacer thread) ------------------------------------------------------------
    def next_frame(self) -> bytes | None:
        """One frame to send now, or None (nothing due). A trailing partial frame is padded with
        silence once it has waited one tick with nothing behind it."""
        with self._lock:
            if self._paused:
                return None
            if not self._frames and self._partial:
                self._partial_waits += 1
                if self._partial_waits >= 2:
                    self._flush_partial()
            if not self._frames:
                return None
            frame, tag, real = self._frames.popleft()
            self._played_bytes[tag] = self._played_bytes.get(tag, 0) + real
            return frame

    # -- internals (lock held) -------------------------------------------------------------------
    def _push(self, frame: bytes, tag: str, real: int) -> None:
        if len(self._frames) >= self._max_frames:
            self._frames.popleft()
            self.overflow_frames += 1
        self._frames.append((frame, tag, real))

    def _flush_partial(self) -> None:
        real = len(self._partial)
        frame = bytes(self._partial) + bytes([ULAW_SILENCE]) * (FRAME_BYTES - real)
        self._push(frame, self._partial_tag, real)
        self._partial.clear()
        self._partial_waits = 0
