"""The Spanish analysis chains and the index schema (one place, so index and query analyse alike).

Order matters: the Snowball Spanish stemmer needs the accents (administración -> administr) and drops
them itself, so folding comes after stemming. Unaccented input ("habilitacion") stems differently,
so a second field is analysed fold-first and queried for accent-less words.
"""

from __future__ import annotations

from functools import lru_cache

from whoosh.analysis import CharsetFilter, LowercaseFilter, RegexTokenizer, StemFilter, StopFilter
from whoosh.fields import ID, NUMERIC, TEXT, Schema
from whoosh.support.charset import accent_map

ANALYZER_VERSION = "es-1"
_TOKEN = r"\w+"


def spanish_analyzer():
    """Tokenise, lower, drop Spanish stop words, Spanish Snowball stem, then fold accents."""
    return (RegexTokenizer(_TOKEN) | LowercaseFilter() | StopFilter(lang="es", minsize=1)
            | StemFilter(lang="es", cachesize=200_000) | CharsetFilter(accent_map))


def fold_analyzer():
    """Accent folding first, then stemming: matches what people type without accents."""
    return (RegexTokenizer(_TOKEN) | LowercaseFilter() | StopFilter(lang="es", minsize=1)
            | CharsetFilter(accent_map) | StemFilter(lang="es", cachesize=200_000))


def schema() -> Schema:
    """Only ids and filter keys are stored: titles, URLs and snippets come from SQL (the source of truth)."""
    es, fo = spanish_analyzer(), fold_analyzer()
    return Schema(
        id=ID(stored=True, unique=True, sortable=True),
        digest=ID(sortable=True),
        title=TEXT(analyzer=es, phrase=False, field_boost=2.5),
        body=TEXT(analyzer=es, phrase=False),
        fold=TEXT(analyzer=fo, phrase=False, field_boost=0.6),
        municipality=ID,
        type=ID,
        number=ID,
        status=ID,
        year=NUMERIC(int, bits=32, signed=False),
        date=NUMERIC(int, bits=32, signed=False),
    )


_ES = spanish_analyzer()
_FOLD = fold_analyzer()


@lru_cache(maxsize=200_000)
def es_term(word: str) -> str | None:
    """Index term of one word in the main fields (None for stop words)."""
    toks = [t.text for t in _ES(word)]
    return toks[0] if toks else None


@lru_cache(maxsize=200_000)
def fold_term(word: str) -> str | None:
    """Index term of one word in the fold field (None for stop words)."""
    toks = [t.text for t in _FOLD(word)]
    return toks[0] if toks else None


def number_key(number: str) -> str:
    """Normalised normativa number for exact filtering ("N° 2.947" -> "2947")."""
    return "".join(ch for ch in number.lower() if ch.isalnum())
