"""Prompt directories for the tests (what ``centralita prompts --out DIR`` writes, with chosen audio)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from call_gateway.rtp.packet import FRAME_BYTES, ULAW_SILENCE


def pattern(seconds: float, seed: int = 1) -> bytes:
    """Recognisable 'audio' whose every frame differs (so order and loss show)."""
    n = int(seconds * 8000)
    return bytes((i * 7 + seed * 13 + i // 160) % 251 for i in range(n))


def write_prompt_dir(directory: Path, prompts: dict[str, bytes], generic: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    entries = []
    for i, (text, audio) in enumerate(prompts.items()):
        name = f"test-{i}"
        (directory / f"{name}.ulaw").write_bytes(audio)
        entry = {"name": name, "file": f"{name}.ulaw", "text": text, "sha256": hashlib.sha256(audio).hexdigest()}
        if text == generic:
            entry["generic"] = True
        entries.append(entry)
    (directory / "manifest.json").write_text(json.dumps({"prompts": entries}, ensure_ascii=False))
    return directory


def as_sent(audio: bytes) -> bytes:
    """What the pacer sends for ``audio``: whole frames, the last one padded with u-law silence."""
    pad = (-len(audio)) % FRAME_BYTES
    return audio + bytes([ULAW_SILENCE]) * pad
