"""Normalisation of questions, so that trivially different wordings share one cache entry."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


@lru_cache(maxsize=4096)  # callers repeat the same questions (that is why there is a cache)
def normalize_question(question: str) -> str:
    """Lower case, no accents, punctuation as spaces, single spaces.

    "¿Cuántos  clientes activos hay en Router-146?" -> "cuantos clientes activos hay en router 146".
    """
    decomposed = unicodedata.normalize("NFKD", question)
    no_marks = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NON_WORD.sub(" ", no_marks.casefold()).strip()
