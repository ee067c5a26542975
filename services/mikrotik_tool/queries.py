"""The tool's use case: answer one question, from the cache or the API, within a budget.

This is what the gRPC servicer calls; it knows nothing about gRPC. ``remaining`` is the time the
caller still waits (the gRPC deadline); a safety margin is kept so the caller hears our polite
timeout sentence instead of hitting its own deadline first.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from .cache import AnswerCache
from .client import ApiAnswer, HealthReport, MikrotikClient
from .errors import ApiTimeout, InvalidQuestion, MikrotikError
from .metrics import CACHE_LOOKUPS, UPSTREAM_REQUESTS, UPSTREAM_SECONDS
from .normalize import normalize_question
from .settings import Settings
from .timeouts import effective_timeout

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 500
MIN_TIMEOUT, MAX_TIMEOUT = 1, 60


@dataclass(frozen=True)
class Answer:
    """What the tool returns for one question."""

    response: str
    cached: bool
    age_seconds: float
    upstream_ms: float


def reply_margin(remaining: float) -> float:
    """Time kept back from the caller's deadline to send our own answer (50-250 ms)."""
    return max(0.05, min(0.25, remaining * 0.1))


class MikrotikQueries:
    """Client + cache + adaptive timeout; one instance per process."""

    def __init__(
        self, settings: Settings, *, client: MikrotikClient | None = None, cache: AnswerCache[ApiAnswer] | None = None
    ) -> None:
        self.settings = settings
        self.client = (
            client
            if client is not None
            else MikrotikClient(
                settings.api_url,
                pool_size=settings.pool_size,
                connect_timeout=settings.connect_timeout,
                max_connections=settings.max_connections,
                max_waiting=settings.max_waiting,
            )
        )
        self.cache: AnswerCache[ApiAnswer] = (
            cache if cache is not None else AnswerCache(ttl=settings.cache_ttl, max_entries=settings.cache_size)
        )
        self._hit = CACHE_LOOKUPS.labels("hit")
        self._shared = CACHE_LOOKUPS.labels("shared")
        self._miss = CACHE_LOOKUPS.labels("miss")

    async def aclose(self) -> None:
        await self.client.aclose()

    def close(self) -> None:
        """For sync callers: the kit already closed the client (``aclose``) when the server stopped."""
        self.client.forget()

    async def ask(self, question: str, *, timeout: int | None = None, remaining: float | None = None) -> Answer:
        """Answer ``question``; raises a ``MikrotikError`` subclass on any failure."""
        started = time.monotonic()
        question = question.strip()
        if not question:
            raise InvalidQuestion("empty question")
        if len(question) > MAX_QUESTION_CHARS:
            raise InvalidQuestion(f"question longer than {MAX_QUESTION_CHARS} characters")
        if timeout is not None and not MIN_TIMEOUT <= timeout <= MAX_TIMEOUT:
            raise InvalidQuestion(f"timeout {timeout} outside {MIN_TIMEOUT}..{MAX_TIMEOUT}")
        key = normalize_question(question)
        if not key:
            raise InvalidQuestion("question without letters or digits")
        hit = self.cache.peek(key)
        if hit is not None:  # served even when the deadline is nearly spent
            self._hit.inc()
            return Answer(response=hit.value.response, cached=True, age_seconds=round(hit.age, 3), upstream_ms=0.0)
        usable = None if remaining is None else remaining - reply_margin(remaining)
        budget = effective_timeout(
            question,
            requested=None if timeout is None else float(timeout),
            remaining=usable,
            simple=self.settings.query_timeout,
            broad=self.settings.broad_query_timeout,
        )
        try:
            if budget <= 0:
                raise ApiTimeout("the caller's deadline leaves no time for the API")
            # Waiting (for an identical question in flight, or for a free connection) holds a
            # future, not a thread; the client refuses only when its waiting queue is full.
            got = await self.cache.get_or_fetch(key, lambda: self._upstream(question, budget), wait=budget)
        except MikrotikError as exc:
            log.warning(
                "consulta fallida kind=%s detail=%s budget_s=%.2f elapsed_ms=%.0f",
                exc.kind,
                exc.detail,
                budget,
                (time.monotonic() - started) * 1000,
            )
            raise
        (self._hit if got.cached else self._shared if got.shared else self._miss).inc()
        answer = got.value
        return Answer(
            response=answer.response,
            cached=got.cached,
            age_seconds=round(got.age, 3),
            upstream_ms=0.0 if got.cached else round(answer.upstream_ms, 1),
        )

    async def _upstream(self, question: str, budget: float) -> ApiAnswer:
        """One POST /query, counted and timed."""
        started = time.monotonic()
        outcome = "ok"
        try:
            return await self.client.query(question, timeout=budget)
        except MikrotikError as exc:
            outcome = exc.kind
            raise
        finally:
            UPSTREAM_REQUESTS.labels(outcome).inc()
            UPSTREAM_SECONDS.observe(time.monotonic() - started)

    async def health(self, *, remaining: float | None = None) -> HealthReport:
        """The API's ``GET /health``, bounded by the health timeout and the caller's deadline."""
        budget = self.settings.health_timeout
        if remaining is not None:
            budget = min(budget, remaining - reply_margin(remaining))
        return await self.client.health(timeout=budget)
