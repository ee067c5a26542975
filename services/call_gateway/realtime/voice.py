"""The gateway's own ear on the caller's line: is the sound the server called "speech" still going?

The server's ``speech_started`` says *that* the caller made a sound, not *how long* it lasts; its
``speech_stopped`` comes only after the end-of-turn wait (hundreds of ms, seconds for semantic_vad).
Barge-in gating needs that answer within ~250 ms, so the gateway measures the caller's u-law frames
itself: a frame is voiced when its mean level is above ``level_dbfs``; a run of voiced frames (gaps up
to ``gap_ms`` bridged, the stops between syllables) of ``min_speech_ms`` is speech; ``quiet_ms`` with
no voiced frame after a shorter run is a noise that ended (cough, click, line crackle).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

FRAME_BYTES = 160  # 20 ms of G.711 at 8 kHz
FRAME_MS = 20


def _ulaw_magnitude(byte: int) -> int:
    """|linear sample| (16-bit scale) of one G.711 u-law byte."""
    u = ~byte & 0xFF
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    return (((mantissa << 3) + 0x84) << exponent) - 0x84


_MAGNITUDE = [_ulaw_magnitude(b) for b in range(256)]


def frame_level_dbfs(frame: bytes) -> float:
    """Mean absolute level of a u-law frame in dBFS (-inf for digital silence)."""
    if not frame:
        return -math.inf
    total = sum(map(_MAGNITUDE.__getitem__, frame))
    mean = total / len(frame)
    return 20 * math.log10(mean / 32768) if mean > 0 else -math.inf


@dataclass
class VoiceMeter:
    """Counts voiced/unvoiced 20 ms frames of the caller; not thread-safe (one audio thread feeds it)."""

    level_dbfs: float = -42.0
    min_speech_ms: int = 250
    gap_ms: int = 80
    quiet_ms: int = 100
    frames: int = 0  # frames measured so far (the caller's audio clock, 20 ms each)
    run_ms: int = 0  # current voiced run, bridged gaps included
    longest_run_ms: int = 0  # since the last ``mark``
    silent_ms: int = 0  # unvoiced ms since the last voiced frame
    voiced_since_mark: bool = False
    since_mark_ms: int = 0  # caller audio measured since the last ``mark`` (it may lag the server's events)
    _partial: bytes = b""

    def feed(self, ulaw: bytes) -> None:
        data = self._partial + ulaw
        whole = len(data) - len(data) % FRAME_BYTES
        self._partial = data[whole:]
        for offset in range(0, whole, FRAME_BYTES):
            self._frame(frame_level_dbfs(data[offset : offset + FRAME_BYTES]) >= self.level_dbfs)

    def _frame(self, voiced: bool) -> None:
        self.frames += 1
        self.since_mark_ms += FRAME_MS
        if voiced:
            self.run_ms += FRAME_MS + (self.silent_ms if self.run_ms and self.silent_ms <= self.gap_ms else 0)
            self.silent_ms = 0
            self.voiced_since_mark = True
            self.longest_run_ms = max(self.longest_run_ms, self.run_ms)
        else:
            self.silent_ms += FRAME_MS
            if self.silent_ms > self.gap_ms:
                self.run_ms = 0

    def mark(self, lookback_ms: int = 0) -> None:
        """A new judgement starts (``speech_started`` arrived): forget older runs, but keep the run in
        progress if it was voiced within ``lookback_ms`` (the server reports speech after its onset)."""
        recent = self.run_ms > 0 and self.silent_ms <= lookback_ms
        self.longest_run_ms = self.run_ms if recent else 0
        self.voiced_since_mark = recent
        self.since_mark_ms = 0

    def verdict(self) -> str:
        """``speech``: a voiced run of ``min_speech_ms``; ``quiet``: a sound heard since the mark ended
        ``quiet_ms`` ago, or ``quiet_ms`` of audio since the mark and nothing voiced; ``sounding``: a sound
        heard, not long enough yet; ``unsure``: nothing heard yet (the caller's audio may lag the server's
        event on a loaded machine), so no judgement."""
        if self.run_ms >= self.min_speech_ms:
            return "speech"
        if self.silent_ms >= self.quiet_ms and (self.voiced_since_mark or self.since_mark_ms >= self.quiet_ms):
            return "quiet"
        return "sounding" if self.voiced_since_mark else "unsure"
