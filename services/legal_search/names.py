"""Finding municipality names in free Spanish text, with or without accents, case or "Gral."."""

from __future__ import annotations

import re
from dataclasses import dataclass

from legal_search.text import normalize

_PREFIXES = ("general ", "coronel ", "teniente ", "presidente ", "almirante ", "san ", "villa ")


@dataclass(frozen=True)
class Match:
    key: str        # name_key of the municipality
    name: str       # its display name
    start: int
    end: int


class Gazetteer:
    """The known municipalities (from the database) and the phrases that name them."""

    def __init__(self, names: list[str]) -> None:
        self.display: dict[str, str] = {}
        phrases: dict[str, str] = {}
        for name in names:
            key = normalize(name)
            if not key:
                continue
            self.display.setdefault(key, name)
            phrases[key] = key
        # "Villegas" for "General Villegas" when no other municipality shares the rest of the name.
        short: dict[str, list[str]] = {}
        for key in self.display:
            for p in _PREFIXES:
                if key.startswith(p) and len(key) - len(p) >= 5:
                    short.setdefault(key[len(p):], []).append(key)
        for rest, keys in short.items():
            if len(keys) == 1 and rest not in phrases:
                phrases[rest] = keys[0]
        ordered = sorted(phrases, key=len, reverse=True)
        self._phrase_key = phrases
        self._re = re.compile(r"\b(" + "|".join(re.escape(p) for p in ordered) + r")\b") if ordered else None

    def find(self, normalized_text: str) -> list[Match]:
        """Municipalities named in already-normalised text, in order of appearance, without repeats."""
        if self._re is None:
            return []
        out, seen = [], set()
        for m in self._re.finditer(normalized_text):
            key = self._phrase_key[m.group(1)]
            if key not in seen:
                seen.add(key)
                out.append(Match(key, self.display[key], m.start(), m.end()))
        return out
