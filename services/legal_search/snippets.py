"""Snippets: the passage of a document with the most distinct query terms, matched words marked."""

from __future__ import annotations

import re

from legal_search.analysis import word_terms

_WORD = re.compile(r"\w+")
WINDOW = 28
MARK_OPEN, MARK_CLOSE = "**", "**"


def snippet(text: str, terms: set[str], *, window: int = WINDOW, max_words: int = 6000) -> str:
    """About `window` words around the densest cluster of matches; the text's start if nothing matches."""
    words = list(_WORD.finditer(text))[:max_words]
    if not words:
        return ""
    hits: list[tuple[int, str]] = []
    for i, m in enumerate(words):
        for t in word_terms(m.group(0).lower()):
            if t in terms:
                hits.append((i, t))
                break
    if not hits:
        start, marked = 0, set()
    else:
        best, best_score, j = 0, (-1, 0), 0
        for k, (i, _) in enumerate(hits):
            while i - hits[j][0] >= window - 4:
                j += 1
            score = (len({t for _, t in hits[j : k + 1]}), k - j + 1)
            if score > best_score:
                best_score, best = score, hits[j][0]
        start = max(0, best - 4)
        marked = {i for i, _ in hits}
    end = min(len(words), start + window)
    a, b = words[start].start(), words[end - 1].end()
    pieces, pos = [], a
    for i in range(start, end):
        m = words[i]
        if i in marked:
            pieces.append(text[pos : m.start()])
            pieces.append(MARK_OPEN + m.group(0) + MARK_CLOSE)
            pos = m.end()
    pieces.append(text[pos:b])
    out = " ".join("".join(pieces).split())
    return ("…" if start > 0 else "") + out + ("…" if end < len(words) else "")
