"""Short-lived answer cache with single-flight.

Callers on a phone line ask the same things at the same time ("¿cuántos clientes hay?") and
the MikroTik API answers slowly (seconds), so:
- answers are kept ``ttl`` seconds (LRU-bounded), keyed by the caller's normalised question;
- only successes are stored; a failure is retried by the next caller;
- concurrent identical questions share one upstream request: the first caller (leader) asks,
  the others (followers) wait for its result, each no longer than its own budget. A leader's
  failure is handed to the followers that were waiting, but not kept.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
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


class _Flight(Generic[T]):
    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: T | None = None
        self.error: BaseException | None = None


class AnswerCache(Generic[T]):
    """TTL + LRU cache of successes, with per-key single-flight. Thread-safe."""

    def __init__(
        self, *, ttl: float, max_entries: int = 256, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.max_entries = max(1, max_entries)
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[float, T]] = OrderedDict()
        self._flights: dict[str, _Flight[T]] = {}
        self.hits = 0
        self.misses = 0
        self.shared = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def peek(self, key: str) -> Lookup[T] | None:
        """The fresh cached value for ``key``, if any (no fetch)."""
        with self._lock:
            return self._fresh(key)

    def get_or_fetch(self, key: str, fetch: Callable[[], T], *, wait: float | None) -> Lookup[T]:
        """Cached value, or the value of the in-flight fetch, or fetch it now (as leader).

        ``wait`` bounds how long a follower waits for the leader (``None``: no bound); when it
        runs out the follower gets ``ApiTimeout``. Exceptions of ``fetch`` propagate to the
        leader and to every follower waiting at that moment.
        """
        with self._lock:
            hit = self._fresh(key)
            if hit is not None:
                self.hits += 1
                return hit
            flight = self._flights.get(key)
            leader = flight is None
            if leader:
                flight = _Flight()
                self._flights[key] = flight
                self.misses += 1
            else:
                self.shared += 1
        assert flight is not None
        if leader:
            return self._lead(key, flight, fetch)
        if not flight.done.wait(wait):
            raise ApiTimeout("gave up waiting for an identical question already in flight")
        if flight.error is not None:
            raise flight.error
        return Lookup(value=flight.value, cached=False, age=0.0, shared=True)  # type: ignore[arg-type]

    def _lead(self, key: str, flight: _Flight[T], fetch: Callable[[], T]) -> Lookup[T]:
        try:
            value = fetch()
        except BaseException as exc:
            flight.error = exc
            with self._lock:
                self._flights.pop(key, None)
            flight.done.set()
            raise
        flight.value = value
        with self._lock:
            if self.ttl > 0:
                self._entries[key] = (self._clock(), value)
                self._entries.move_to_end(key)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
            self._flights.pop(key, None)
        flight.done.set()
        return Lookup(value=value, cached=False, age=0.0)

    def _fresh(self, key: str) -> Lookup[T] | None:
        """Caller holds the lock."""
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
