"""Spoken fallbacks the gateway plays itself, through the call's own RTP path.

When the Realtime connection drops the model cannot apologise, and a stock Asterisk has no Spanish
"sorry, technical problem" sound (``an-error-has-occurred`` is in neither the English nor the Spanish
core pack: the playback fails and the caller hears silence). So the project ships its own prompts:
raw G.711 u-law, 8 kHz, mono, one file per distinct apology text, rendered reproducibly from the
profile texts by ``centralita prompts`` (espeak-ng + sox, see ``generate.py``). The runtime only reads
the files: no speech synthesiser is needed where the gateway runs.

``manifest.json`` lists every file with its text, voice, tool versions and sha256; loading checks the
hashes, so a truncated or edited file is refused at startup instead of being played.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from centralita.config import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent
MANIFEST = "manifest.json"
BYTES_PER_SECOND = 8000  # G.711 at 8 kHz: one byte per sample


class PromptError(ConfigError):
    """The prompt directory cannot be used (missing manifest, file or generic prompt, bad hash)."""


def normalise(text: str) -> str:
    """Prompts are looked up by their text: whitespace differences do not make a new prompt."""
    return " ".join(text.split())


def text_key(text: str) -> str:
    return hashlib.sha256(normalise(text).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Prompt:
    name: str
    text: str
    audio: bytes  # raw G.711 u-law, 8 kHz, mono

    @property
    def duration(self) -> float:
        return len(self.audio) / BYTES_PER_SECOND


class PromptLibrary:
    """The shipped (or operator-generated) prompts, by normalised text, plus the generic apology."""

    def __init__(self, prompts: dict[str, Prompt], generic: Prompt, directory: Path) -> None:
        self._by_text = prompts
        self.generic = generic
        self.directory = directory

    def __len__(self) -> int:
        return len(self._by_text)

    def for_text(self, text: str) -> Prompt | None:
        return self._by_text.get(normalise(text))

    @classmethod
    def load(cls, directory: str | Path | None = None) -> PromptLibrary:
        d = Path(directory) if directory else PACKAGE_DIR
        path = d / MANIFEST
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
            entries = manifest["prompts"]
        except FileNotFoundError:
            raise PromptError(f"{path}: prompt manifest not found (generate it with `centralita prompts`)") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise PromptError(f"{path}: not a prompt manifest ({exc})") from None
        prompts: dict[str, Prompt] = {}
        generic: Prompt | None = None
        for entry in entries:
            prompt = _load_entry(d, entry)
            prompts[normalise(prompt.text)] = prompt
            if entry.get("generic"):
                generic = prompt
        if generic is None:
            raise PromptError(f"{path}: no prompt is marked generic (the apology for any other text)")
        return cls(prompts, generic, d)


def _load_entry(d: Path, entry: dict) -> Prompt:
    try:
        name, text, sha = entry["name"], entry["text"], entry["sha256"]
        audio = (d / entry["file"]).read_bytes()
    except KeyError as exc:
        raise PromptError(f"{d / MANIFEST}: entry without {exc}") from None
    except OSError as exc:
        raise PromptError(f"{d}: prompt file unreadable: {exc}") from None
    if hashlib.sha256(audio).hexdigest() != sha:
        raise PromptError(
            f"{d / entry['file']}: sha256 differs from {MANIFEST} (file damaged or edited; "
            "regenerate with `centralita prompts`)"
        )
    if not audio:
        raise PromptError(f"{d / entry['file']}: empty prompt")
    return Prompt(name=name, text=text, audio=audio)


__all__ = [
    "BYTES_PER_SECOND",
    "MANIFEST",
    "PACKAGE_DIR",
    "Prompt",
    "PromptError",
    "PromptLibrary",
    "normalise",
    "text_key",
]
