"""In-process fakes of the two seams the Realtime session uses: the audio sink and the dispatcher."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from centralita.dispatcher import ToolResult
from centralita.schema import ToolSpec


class FakeSink:
    """An AudioSink with a manual playout clock: nothing is 'sent to the caller' until ``advance(ms)``.

    ``auto=True`` plays everything at once (for tests that do not look at timing).
    """

    def __init__(self, auto: bool = False) -> None:
        self.auto = auto
        self._lock = threading.Lock()
        self._queue: deque[list[Any]] = deque()  # [tag, bytes left]
        self.received: dict[str, int] = {}  # tag → bytes handed to play()
        self.played: dict[str, int] = {}  # tag → bytes "sent to the caller"
        self.clears = 0
        self.cleared_at: list[float] = []
        self.paused = False
        self.pauses = 0
        self.dropped_bytes = 0

    def play(self, ulaw: bytes, tag: str) -> None:
        with self._lock:
            self.received[tag] = self.received.get(tag, 0) + len(ulaw)
            if self.auto:
                self.played[tag] = self.played.get(tag, 0) + len(ulaw)
            else:
                self._queue.append([tag, len(ulaw)])

    def clear(self) -> int:
        with self._lock:
            dropped = sum(left for _, left in self._queue)
            self.dropped_bytes += dropped
            self._queue.clear()
            self.clears += 1
            self.cleared_at.append(time.monotonic())
            return dropped // 160

    def pause(self) -> None:
        with self._lock:
            self.paused = True
            self.pauses += 1

    def resume(self) -> None:
        with self._lock:
            self.paused = False

    def played_ms(self, tag: str) -> int:
        with self._lock:
            return self.played.get(tag, 0) // 8

    def pending_ms(self) -> int:
        with self._lock:
            return sum(left for _, left in self._queue) // 8

    def received_ms(self, tag: str) -> int:
        with self._lock:
            return self.received.get(tag, 0) // 8

    def advance(self, ms: int) -> None:
        """Send ``ms`` of queued audio to the 'caller', oldest first."""
        budget = ms * 8
        with self._lock:
            if self.paused:
                return  # the barge-in gate holds the frames
            while budget > 0 and self._queue:
                entry = self._queue[0]
                take = min(budget, entry[1])
                entry[1] -= take
                budget -= take
                self.played[entry[0]] = self.played.get(entry[0], 0) + take
                if entry[1] == 0:
                    self._queue.popleft()


def spec(
    name: str,
    *,
    kind: str = "query",
    timeout_ms: int = 0,
    holding_phrase: str = "",
    required: Iterable[str] = ("question",),
) -> ToolSpec:
    params = {
        "type": "object",
        "properties": {r: {"type": "string", "description": r} for r in required},
        "required": list(required),
        "additionalProperties": False,
    }
    return ToolSpec(
        name=name,
        description=f"Tool {name}.",
        method=f"/test.v1.Test/{name}",
        request_type="test.v1.Req",
        response_type="test.v1.Resp",
        parameters=params,
        strict_parameters=params,
        timeout_ms=timeout_ms,
        kind=kind,
        holding_phrase=holding_phrase,
    )


@dataclass
class Behaviour:
    answer: Callable[[dict[str, Any]], dict[str, Any]] = lambda args: {"answer": "ok"}
    delay: float = 0.0  # seconds the tool takes; longer than the timeout = DEADLINE_EXCEEDED at the timeout


@dataclass
class Submitted:
    name: str
    arguments: Any
    timeout: float | None
    at: float


@dataclass
class FakeDispatcher:
    """Dispatcher-shaped: ``tools(allow)`` and ``submit`` returning futures of ToolResult; never raises."""

    specs: list[ToolSpec]
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    submitted: list[Submitted] = field(default_factory=list)
    finished: list[tuple[str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="fake-tool")

    def tools(self, allow: Iterable[str] | None = None) -> list[ToolSpec]:
        if allow is None:
            return list(self.specs)
        allowed = set(allow)
        return [s for s in self.specs if s.name in allowed]

    def submit(self, name: str, arguments: str | dict, *, timeout: float | None = None) -> Future[ToolResult]:
        self.submitted.append(Submitted(name, arguments, timeout, time.monotonic()))
        future: Future[ToolResult] = Future()
        if name not in {s.name for s in self.specs}:
            future.set_result(ToolResult.failure(name, "UNKNOWN_TOOL", f"unknown tool {name!r}"))
            return future
        try:
            args = json.loads(arguments) if isinstance(arguments, str) else dict(arguments)
            if not isinstance(args, dict):
                raise ValueError("arguments must be a JSON object")
        except ValueError as exc:
            future.set_result(ToolResult.failure(name, "INVALID_ARGUMENT", f"invalid arguments for {name}: {exc}"))
            return future
        behaviour = self.behaviours.get(name, Behaviour())
        future.set_running_or_notify_cancel()

        def run() -> None:
            start = time.perf_counter()
            limit = timeout if timeout is not None else 10.0
            if behaviour.delay > limit:
                time.sleep(limit)
                result = ToolResult.failure(
                    name, "DEADLINE_EXCEEDED", "Deadline Exceeded", elapsed_ms=(time.perf_counter() - start) * 1000
                )
            else:
                if behaviour.delay:
                    time.sleep(behaviour.delay)
                elapsed = (time.perf_counter() - start) * 1000
                result = ToolResult(name, True, behaviour.answer(args), "OK", None, elapsed)
            self.finished.append((name, time.monotonic()))
            future.set_result(result)

        self._pool.submit(run)
        return future

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
