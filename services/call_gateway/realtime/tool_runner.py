"""Runs the core's ``RunTool`` actions on the dispatcher and hands each result back, exactly once.

Also times each call for ``Timings.tool_overhead``: arguments done → output written, minus the tool's own
time (submit → result), i.e. what the gateway adds.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future

from call_gateway.realtime.protocol import RealtimeProtocol, RunTool
from call_gateway.realtime.timings import Timings
from centralita.dispatcher import Dispatcher, ToolResult


class ToolRunner:
    """The running tools of one call. ``submit``/``abandon``/``cancel_all``/``forget`` run under the engine's
    lock; ``on_result(call_id, result)`` is called from the tool's thread (or inside ``submit``)."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        *,
        core: Callable[[], RealtimeProtocol],
        on_result: Callable[[str, ToolResult], None],
        timings: Timings,
        clock: Callable[[], float],
    ) -> None:
        self.dispatcher = dispatcher
        self._core = core
        self._on_result = on_result
        self._timings = timings
        self._clock = clock
        self._futures: dict[str, Future[ToolResult]] = {}
        self._marks: dict[str, list[float]] = {}  # call_id → [arguments done, submitted, resolved]

    def submit(self, action: RunTool) -> None:
        call = self._core().calls.get(action.call_id)
        received = call.received_at if call is not None and call.received_at is not None else self._clock()
        marks = self._marks[action.call_id] = [received, self._clock(), 0.0]
        try:
            future = self.dispatcher.submit(action.name, action.arguments, timeout=action.timeout)
        except Exception as exc:  # the dispatcher promises not to raise; be safe anyway
            future = Future()
            future.set_result(ToolResult.failure(action.name, "UNKNOWN", f"{type(exc).__name__}: {exc}"))
        self._futures[action.call_id] = future
        future.add_done_callback(lambda f, cid=action.call_id, m=marks: self._done(cid, f, m))

    def abandon(self, call_id: str) -> None:
        """The core gave up on the call (its output was already sent): cancel it, time nothing."""
        future = self._futures.pop(call_id, None)
        self._marks.pop(call_id, None)
        if future is not None:
            future.cancel()

    def forget(self, call_id: str) -> None:
        """The result of ``call_id`` was taken: nothing left to cancel."""
        self._futures.pop(call_id, None)

    def cancel_all(self) -> None:
        futures = list(self._futures.values())
        self._futures.clear()
        for future in futures:
            future.cancel()

    def output_sent(self, call_id: str, sent: float) -> None:
        """The output of ``call_id`` was written at ``sent``: record the gateway's overhead."""
        marks = self._marks.pop(call_id, None)
        if marks is None:
            return  # an output the core produced without running the tool (cancelled, unknown tool)
        received, submitted, resolved = marks
        tool_time = max(0.0, resolved - submitted) if resolved else 0.0
        self._timings.tool_overhead.append(sent - received - tool_time)

    def _done(self, call_id: str, future: Future[ToolResult], marks: list[float]) -> None:
        marks[2] = self._clock()
        if future.cancelled():
            return  # abandoned by the core: its output was already sent
        try:
            result = future.result()
        except Exception as exc:
            call = self._core().calls.get(call_id)
            result = ToolResult.failure(call.name if call else "?", "UNKNOWN", f"{type(exc).__name__}: {exc}")
        self._on_result(call_id, result)
