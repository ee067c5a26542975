"""The Spanish analysis and the index schema (one place, so index and query analyse alike).

Order matters: the Snowball Spanish stemmer needs the accents (administración -> administr) and drops
them itself, so folding comes *after* stemming. People (and speech-to-text) often drop accents, and
an unaccented word stems differently ("habilitacion" -> habilitacion). So for every accented word the
index also holds its fold-first stem (what the unaccented spelling stems to) as a second term of the
same field: "transito", "habilitacion" or "vacunacion" find the accented documents. That is what a
separate fold-only field would give, restricted to the words where it differs (about 1 in 10),
instead of doubling the postings written for every document.

The chain is implemented as one Whoosh Analyzer with a per-word cache instead of five chained
generator filters: indexing time is dominated by per-token Python overhead.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from whoosh.analysis import Analyzer, Token
from whoosh.fields import ID, NUMERIC, TEXT, Schema
from whoosh.formats import Frequency
from whoosh.lang import stopwords_for_language
from whoosh.lang.snowball.spanish import SpanishStemmer
from whoosh.support.charset import accent_map
from whoosh.system import pack_uint

# es-4: year and date column-stored; es-5: the schema (pickled in the index) names CountedFrequency, which
# older code cannot load: the version change makes either side rebuild instead of failing.
ANALYZER_VERSION = "es-5"
_WORD = re.compile(r"\w+")
# Whoosh's Spanish stop words plus the formula every norm repeats ("VISTO … CONSIDERANDO … Comuníquese,
# publíquese, dese al Registro Oficial y archívese"): words in every document rank nothing and were a
# large share of the postings written.
FORMULA = (
    "visto",
    "considerando",
    "comuníquese",
    "publíquese",
    "dese",
    "archívese",
    "regístrese",
    "notifíquese",
    "artículo",
    "artículos",
    "ello",
    "presente",
)
_STOP = (
    frozenset(stopwords_for_language("es")) | frozenset(FORMULA) | frozenset(_w.translate(accent_map) for _w in FORMULA)
)
_STEM = SpanishStemmer().stem
_CACHE: dict[str, tuple[str, ...]] = {}
_CACHE_MAX = 500_000


def _fold(word: str) -> str:
    return word.translate(accent_map)


def word_terms(word: str) -> tuple[str, ...]:
    """Index terms of one lower-case word: () for stop words, (main,) or (main, fold-first stem)."""
    terms = _CACHE.get(word)
    if terms is not None:
        return terms
    if word in _STOP or len(word) < 2:  # single letters and digits ("N°", "1°", "a)") carry nothing
        terms = ()
    else:
        main = _fold(_STEM(word))
        folded = _fold(word)
        alt = _STEM(folded) if folded != word else main
        terms = (main,) if alt == main else (main, alt)
    if len(_CACHE) < _CACHE_MAX:
        _CACHE[word] = terms
    return terms


class SpanishAnalyzer(Analyzer):
    """Tokenise (\\w+), lower, drop Spanish stop words, Snowball-stem, fold accents; plus fold-first stems."""

    def __call__(
        self,
        value: str,
        positions: bool = False,
        chars: bool = False,
        keeporiginal: bool = False,
        removestops: bool = True,
        start_pos: int = 0,
        start_char: int = 0,
        mode: str = "",
        **kwargs,
    ) -> Iterator[Token]:
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        pos = start_pos
        for m in _WORD.finditer(value.lower()):
            for term in word_terms(m.group(0)):
                token.text = term
                token.boost = 1.0
                token.stopped = False
                if positions:
                    token.pos = pos
                if chars:
                    token.startchar, token.endchar = start_char + m.start(), start_char + m.end()
                yield token
            pos += 1


def term_counts(value: str) -> dict[str, int]:
    """Frequency of every index term of a text: what the analyzer's tokens add up to, but words are
    counted at C speed first (a bulletin repeats its words: ~40 % of its tokens are distinct) and each
    distinct word is mapped to its terms once."""
    out: dict[str, int] = {}
    get = out.get
    for word, n in Counter(_WORD.findall(value.lower())).items():
        for term in word_terms(word):
            out[term] = get(term, 0) + n
    return out


class CountedFrequency(Frequency):
    """Whoosh's Frequency format (same postings, weights and field lengths) with `word_values` computed
    from `term_counts` instead of one Token object per word: that per-token path was most of the time
    of adding a document."""

    def word_values(self, value: Any, analyzer: Any, **kwargs: Any) -> Iterable[tuple[str, int, float, bytes]]:
        if not isinstance(analyzer, SpanishAnalyzer) or not isinstance(value, str):
            return super().word_values(value, analyzer, **kwargs)
        fb = self.field_boost
        return [(w, f, float(f) * fb, pack_uint(f)) for w, f in term_counts(value).items()]


def _text(analyzer: Analyzer, boost: float = 1.0) -> TEXT:
    field = TEXT(analyzer=analyzer, phrase=False, field_boost=boost)
    field.format = CountedFrequency(field_boost=boost)
    return field


def schema() -> Schema:
    """Only ids and filter keys are stored: titles, URLs and snippets come from SQL (the source of truth)."""
    es = SpanishAnalyzer()
    return Schema(
        id=ID(stored=True, unique=True, sortable=True),
        digest=ID(sortable=True),
        title=_text(es, 2.5),
        body=_text(es),
        municipality=ID,
        type=ID,
        number=ID,
        status=ID,
        year=NUMERIC(int, bits=32, signed=False, sortable=True),
        date=NUMERIC(int, bits=32, signed=False, sortable=True),
    )


def es_term(word: str) -> str | None:
    """Main index term of one word (None for stop words): accented or not, what the query looks up."""
    terms = word_terms(word.lower())
    return terms[0] if terms else None


def number_key(number: str) -> str:
    """Normalised normativa number for exact filtering ("N° 2.947" -> "n2947", "2947/2024" -> "29472024")."""
    return "".join(ch for ch in number.lower() if ch.isalnum())
