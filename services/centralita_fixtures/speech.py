"""Real Spanish speech for the call tests, synthesized at test time: espeak-ng → sox → G.711 u-law 8 kHz.

A caller's question is a list of phrases said with natural pauses between them (``pauses_ms``); each
phrase is synthesized once per machine (cached in the temp dir by content). ``noise_burst`` is a short
white-noise crackle (a cough or a click on the line). ``tests.helpers.require_speech()`` skips locally and
fails under CI=true when espeak-ng or sox is missing (``make setup`` installs both).
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

ULAW_SILENCE = b"\xff"
CACHE = Path(tempfile.gettempdir()) / "centralita-speech"
VOICE = "es-419"


def _cached(key: str, make) -> bytes:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.ul"
    if not path.exists():
        tmp = path.with_suffix(f".{id(key)}.tmp")
        make(tmp)
        tmp.replace(path)
    return path.read_bytes()


def _trim(ulaw: bytes) -> bytes:
    """espeak-ng pads with silence; the pauses are ours to choose."""
    quiet = {0xFF, 0x7F, 0xFE, 0x7E, 0xFD, 0x7D}
    start = next((i for i, b in enumerate(ulaw) if b not in quiet), len(ulaw))
    end = next((i for i in range(len(ulaw) - 1, -1, -1) if ulaw[i] not in quiet), -1) + 1
    return ulaw[start:end]


def phrase(text: str, *, voice: str = VOICE, speed: int = 150) -> bytes:
    """One phrase said without pauses, as u-law 8 kHz bytes (leading/trailing silence trimmed)."""

    def make(out: Path) -> None:
        wav = out.with_suffix(".wav")
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), text],
            check=True,
            capture_output=True,
            timeout=30,
        )
        subprocess.run(
            ["sox", str(wav), "-r", "8000", "-c", "1", "-e", "u-law", "-t", "raw", str(out)],
            check=True,
            capture_output=True,
            timeout=30,
        )
        wav.unlink()

    return _trim(_cached(f"phrase|{voice}|{speed}|{text}", make))


def silence(ms: int) -> bytes:
    return ULAW_SILENCE * (8 * ms)


def utterance(phrases: Sequence[str], pauses_ms: Sequence[int] | int = 400, **kw) -> bytes:
    """Phrases joined by pauses (one per gap, or the same for all), padded to whole 20 ms frames."""
    gaps = [pauses_ms] * (len(phrases) - 1) if isinstance(pauses_ms, int) else list(pauses_ms)
    out = bytearray()
    for i, text in enumerate(phrases):
        out += phrase(text, **kw)
        if i < len(gaps):
            out += silence(gaps[i])
    out += ULAW_SILENCE * (-len(out) % 160)
    return bytes(out)


def noise_burst(ms: int = 160, volume: float = 0.4) -> bytes:
    """White noise of ``ms`` (a cough, a click, line crackle), u-law 8 kHz."""

    def make(out: Path) -> None:
        subprocess.run(
            [
                "sox",
                "-n",
                "-r",
                "8000",
                "-c",
                "1",
                "-e",
                "u-law",
                "-t",
                "raw",
                str(out),
                "synth",
                f"{ms / 1000:.3f}",
                "whitenoise",
                "vol",
                str(volume),
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )

    return _cached(f"noise|{ms}|{volume}", make)[: 8 * ms]


def longest_gap_ms(ulaw: bytes, level_dbfs: float = -42.0) -> int:
    """The longest run of quiet 20 ms frames inside ``ulaw`` (how long the pauses really are)."""
    from call_gateway.realtime.voice import frame_level_dbfs

    longest = run = 0
    for i in range(0, len(ulaw) - 159, 160):
        run = run + 20 if frame_level_dbfs(ulaw[i : i + 160]) < level_dbfs else 0
        longest = max(longest, run)
    return longest
