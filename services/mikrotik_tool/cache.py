"""Short-lived answer cache with single-flight, for one asyncio event loop.

Callers on a phone line ask the same things at the same time ("¿cuántos clientes hay?") and
the MikroTik API answers slowly (seconds), so:
- answers are kept ``ttl`` seconds (LRU-bounded), keyed by the caller's normalised question;
- only successes are stored; a failure is retried by the next caller;
- concurrent identical questions share one upstream request: the first caller (leader) starts it
  as a task of its own, and every caller, leader included, awaits that shared future no longer
  than its own budget. Waiting costs a future, not a thread; a caller that hangs up or gives up
  does not cancel the request the others are waiting for. A failure reaches everyone waiting at
  that moment, but is not kept.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from .errors import ApiTimeout

T = TypeVar("T")


@dataclass(frozen=True)
class Lookup(Generic[T]):
    """What a caller got: the value, whether it came from the cache, and its age in seconds."""

    value: T
    cached: bool
    age: float
    shared: bool = False  # got the result of another caller's in-flight request


class AnswerCache(Generic[T]):
    """TTL + LRU cache of successes, with per-key single-flight. Use from one event loop."""

    def __init__(self, *, ttl: float, max_entries: int = 256, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max(1, max_entries)
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, T]] = OrderedDict()
        self._flights: dict[str, asyncio.Task[T]] = {}
        self.hits = 0
        self.misses = 0
        self.shared = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def in_flight(self) -> int:
        """Distinct questions being fetched right now."""
        return len(self._flights)

    def clear(self) -> None:
        self._entries.clear()

    def peek(self, key: str) -> Lookup[T] | None:
        """The fresh cached value for ``key``, if any (no fetch)."""
        if self.ttl <= 0:
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        stored_at, value = entry
        age = self._clock() - stored_at
        if age >= self.ttl or age < 0:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return Lookup(value=value, cached=True, age=age)

    async def get_or_fetch(self, key: str, fetch: Callable[[], Awaitable[T]], *, wait: float | None) -> Lookup[T]:
        """Cached value, or the value of the in-flight fetch, or start the fetch now (as leader).

        ``wait`` bounds how long this caller waits (``None``: no bound); when it runs out the
        caller gets ``ApiTimeout`` and the fetch goes on for the others. Exceptions of ``fetch``
        reach every caller waiting at that moment.
        """
        hit = self.peek(key)
        if hit is not None:
            self.hits += 1
            return hit
        task = self._flights.get(key)
        shared = task is not None
        if task is None:
            self.misses += 1
            task = asyncio.ensure_future(fetch())
            self._flights[key] = task
            task.add_done_callback(lambda done, key=key: self._landed(key, done))
        else:
            self.shared += 1
        try:
            # shield: this caller giving up (timeout, cancelled call) must not cancel the fetch.
            value = await asyncio.wait_for(asyncio.shield(task), wait)
        except TimeoutError:
            if shared:
                raise ApiTimeout("gave up waiting for an identical question already in flight") from None
            raise ApiTimeout("no answer within the caller's budget") from None
        return Lookup(value=value, cached=False, age=0.0, shared=shared)

    def _landed(self, key: str, task: asyncio.Task[T]) -> None:
        """The fetch finished: forget the flight, keep a success."""
        if self._flights.get(key) is task:
            del self._flights[key]
        if task.cancelled() or task.exception() is not None:  # exception() also marks it retrieved
            return
        if self.ttl > 0:
            self._entries[key] = (self._clock(), task.result())
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
