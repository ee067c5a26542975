"""Text normalisation shared by the question parser, filters and the sample generator.

One definition of "the same name" (case, accents, abbreviations such as "Gral.") keeps SQL filters,
index filters and the parser consistent.
"""

from __future__ import annotations

import re
import unicodedata

_ABBREVIATIONS = {
    "gral": "general",
    "grl": "general",
    "cnel": "coronel",
    "tte": "teniente",
    "pte": "presidente",
    "pdte": "presidente",
    "alte": "almirante",
    "sto": "santo",
    "sta": "santa",
}
_ABBREV_RE = re.compile(r"\b(" + "|".join(_ABBREVIATIONS) + r")\b\.?")
_SPACES = re.compile(r"\s+")
_NON_WORD = re.compile(r"[^\w]+")


def fold(text: str) -> str:
    """Lower case without diacritics ("Bahía" -> "bahia"); ñ becomes n like the index does."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def normalize(text: str) -> str:
    """Folded text with abbreviations expanded and punctuation squeezed to single spaces."""
    folded = fold(text)
    folded = _ABBREV_RE.sub(lambda m: _ABBREVIATIONS[m.group(1)] + " ", folded)
    return _SPACES.sub(" ", _NON_WORD.sub(" ", folded)).strip()


def name_key(name: str) -> str:
    """Comparison key of a municipality name: normalised, abbreviations expanded."""
    return normalize(name)


def slug(text: str) -> str:
    """URL/id-friendly form: "Carlos Tejedor" -> "carlos-tejedor"."""
    return normalize(text).replace(" ", "-")


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(text: str) -> str:
    """Control characters (NUL above all: PostgreSQL rejects it in text) become spaces."""
    return _CONTROL.sub(" ", text)
