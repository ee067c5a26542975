"""How long the MikroTik API may take for one question.

The seed proposes a longer timeout for broad questions ("todos", "completo"): they make the API
walk every router. The result is always capped by the caller's own ``timeout`` and by what is
left of the gRPC deadline, so the tool never waits longer than the caller will.
"""

from __future__ import annotations

from .normalize import normalize_question

BROAD_WORDS = frozenset({"todos", "todas", "completo", "completa", "todo"})


def is_broad(question: str) -> bool:
    """True for questions that ask for everything (see the seed's ``get_smart_timeout``)."""
    return any(word in BROAD_WORDS for word in normalize_question(question).split())


def adaptive_timeout(question: str, *, simple: float, broad: float) -> float:
    """Seconds proposed by the question's shape alone."""
    return broad if is_broad(question) else simple


def effective_timeout(
    question: str,
    *,
    requested: float | None,
    remaining: float | None,
    simple: float,
    broad: float,
) -> float:
    """The budget for one upstream call: adaptive, capped by ``requested`` and ``remaining``.

    ``remaining`` is the time left before the caller gives up (already minus a safety margin);
    ``None`` means the caller set no deadline.
    """
    budget = adaptive_timeout(question, simple=simple, broad=broad)
    if requested is not None:
        budget = min(budget, requested)
    if remaining is not None:
        budget = min(budget, remaining)
    return max(budget, 0.0)
