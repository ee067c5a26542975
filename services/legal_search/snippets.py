"""Snippets: the passage of a document with the most distinct query terms, matched words marked.

Per result, per request, over bulletin texts of several KB: so the text is not analysed word by word.
Index terms are accent-folded stems, and a stem is a prefix of its folded word, so one regex of the
stems, each letter also matching its accented forms, finds the candidate words at C speed; only those
are stemmed to confirm. (Folding the whole text first cost more than the search itself.)

When the caller keeps the folded lower-case text of a document (`search_key`, kept with the cached row),
candidates are found with `str.find` of each stem instead: the regex of accented letter classes was
most of a request's time (1.5 ms of 2.5 ms at 3,000 documents).
"""

from __future__ import annotations

import re
from functools import lru_cache

from whoosh.support.charset import accent_map

from legal_search.analysis import word_terms

WINDOW = 28  # words shown
_LEAD = 30  # characters shown before the first match of the window
MARK_OPEN, MARK_CLOSE = "**", "**"
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"\w+")
_WORD_TAIL = re.compile(r"\w*")
_WORD_CHAR = re.compile(r"\w")
_ACCENTED = {"a": "aàáâä", "e": "eèéêë", "i": "iìíîï", "o": "oòóôö", "u": "uùúûü", "n": "nñ", "c": "cç"}


def _letters(term: str) -> str:
    return "".join(f"[{_ACCENTED[ch]}]" if ch in _ACCENTED else re.escape(ch) for ch in term)


def search_key(text: str) -> str | None:
    """Lower-case, accent-folded `text` with the same character positions (None when folding or lower
    casing would shift them: the regex path is used then)."""
    lower = text.lower()
    if len(lower) != len(text):
        return None
    key = lower.translate(accent_map)
    return key if len(key) == len(text) else None


def _starts(key: str, terms: set[str]) -> list[int]:
    """Positions of `key` where a word begins with one of the (folded) stems."""
    starts = set()
    for t in terms:
        i = key.find(t)
        while i != -1:
            if i == 0 or not _WORD_CHAR.match(key, i - 1):
                starts.add(i)
            i = key.find(t, i + 1)
    return sorted(starts)


def _matches(text: str, terms: set[str], key: str | None = None) -> list[tuple[int, int, str]]:
    """(start, end, term) of the words of `text` whose index terms include one of `terms`."""
    terms = {t for t in terms if _WORD.fullmatch(t)}  # index terms are words; anything else matches nothing
    if not terms:
        return []
    if key is not None and len(key) == len(text):  # lower-casing keeps positions: only found words are lowered
        lower = None
        spans = ((s, _WORD_TAIL.match(key, s).end()) for s in _starts(key, terms))
    else:
        lower = text.lower()
        if len(lower) != len(text):  # a character lower-cased to several: positions would shift
            lower = text
        spans = (m.span() for m in _pattern(frozenset(terms)).finditer(lower))
    out = []
    for start, end in spans:
        word = text[start:end].lower() if lower is None else lower[start:end]
        for t in word_terms(word):
            if t in terms:
                out.append((start, end, t))
                break
    return out


@lru_cache(maxsize=256)
def _pattern(terms: frozenset[str]) -> re.Pattern:
    return re.compile(r"\b(?:" + "|".join(_letters(t) for t in sorted(terms, key=len, reverse=True)) + r")\w*")


def _edge(text: str, pos: int, forward: bool) -> int:
    """`pos` moved out of the word it falls in (forward or back), so no word is cut."""
    step = 1 if forward else -1
    while 0 < pos < len(text) and text[pos - 1].isalnum() and text[pos].isalnum():
        pos += step
    return pos


def snippet(text: str, terms: set[str], *, window: int = WINDOW, key: str | None = None) -> str:
    """About `window` words around the densest cluster of matches; the text's start if nothing matches.
    `key`: the text's `search_key`, when the caller keeps it."""
    if not text.strip():
        return ""
    span = window * 8  # the window in characters: Spanish legal text averages ~7 per word plus a space
    hits = _matches(text, terms, key)
    if hits:
        best, best_score, j = 0, (-1, 0), 0
        for k, (start, _, _) in enumerate(hits):
            while start - hits[j][0] > span - _LEAD:
                j += 1
            score = (len({t for _, _, t in hits[j : k + 1]}), k - j + 1)
            if score > best_score:
                best_score, best = score, j
        a = _edge(text, max(0, hits[best][0] - _LEAD), forward=False)
    else:
        a = 0
    b = _edge(text, min(len(text), a + span), forward=True)
    pieces, pos = [], a
    for start, end, _ in hits:
        if start >= a and end <= b:
            pieces += [text[pos:start], MARK_OPEN, text[start:end], MARK_CLOSE]
            pos = end
    pieces.append(text[pos:b])
    out = _SPACES.sub(" ", "".join(pieces)).strip()
    return ("…" if a > 0 else "") + out + ("…" if b < len(text) else "")
