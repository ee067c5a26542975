"""The instrumentation every kit server's handlers get: one histogram sample and one counter per call, a log line
per failed call, and the contexts that let servicers written for the sync ``grpc.Server`` run on
``grpc.aio``.

Cheap on purpose (issue 16: a cached tool call within 1.3x of a bare echo): each method's wrapper and
metric children are built once; a success is logged only at DEBUG (at INFO, formatting and writing a
line per call cost the event loop about as much as the servicer itself), a failure always at INFO;
nothing is formatted unless it is logged.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from typing import Any

import grpc

from centralita.metrics import GRPC_HANDLED, GRPC_IN_PROGRESS, GRPC_LATENCY

log = logging.getLogger("centralita.server")  # the servers' logger: operators filter on it
# Trailing metadata of a call the servicer ended with context.abort(): its message was written for people.
APP_MARKER = ("x-centralita-app", "1")


class _CallStats:
    """Pre-bound metric children of one method (labels() costs a lock and a dict lookup per call)."""

    __slots__ = ("by_code", "in_progress", "latency", "method", "quiet")

    def __init__(self, method: str, quiet: bool) -> None:
        self.method = method
        self.quiet = quiet
        self.latency = GRPC_LATENCY.labels(method)
        self.in_progress = GRPC_IN_PROGRESS.labels(method)
        self.by_code: dict[str, Any] = {"OK": GRPC_HANDLED.labels(method, "OK")}

    def record(self, code: str, elapsed: float) -> None:
        """Count the call; log its line if it failed (INFO), or succeeded and DEBUG is on."""
        self.latency.observe(elapsed)
        counter = self.by_code.get(code)
        if counter is None:
            counter = self.by_code[code] = GRPC_HANDLED.labels(self.method, code)
        counter.inc()
        if code != "OK":
            log.info("%s %s %.1fms", self.method, code, elapsed * 1000)
        elif not self.quiet and log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s %.1fms", self.method, code, elapsed * 1000)


_QUIET = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def instrument(method: str, handler: grpc.RpcMethodHandler | None) -> grpc.RpcMethodHandler | None:
    """``handler`` with one histogram sample and one counter per call, and a log line (method, status,
    milliseconds) per failure, or per success at DEBUG; streaming handlers are returned as they are.

    Per call the cost is two clock reads, the in-progress gauge, one histogram sample and one counter.
    """
    if handler is None or handler.unary_unary is None:
        return handler  # streaming (health Watch, reflection)
    stats = _CallStats(method, method.startswith(_QUIET))
    inner = handler.unary_unary
    behaviour = _async_behaviour(inner, stats) if inspect.iscoroutinefunction(inner) else _sync_behaviour(inner, stats)
    return grpc.unary_unary_rpc_method_handler(
        behaviour,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class _InstrumentedHandlers(grpc.GenericRpcHandler):
    """A generic handler whose unary methods come back instrumented, each wrapped once."""

    def __init__(self, inner: grpc.GenericRpcHandler) -> None:
        self._inner = inner
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    def service(self, handler_call_details):
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            wrapped = instrument(method, self._inner.service(handler_call_details))
            if wrapped is not None:  # unknown names are not kept: clients choose them
                self._wrapped[method] = wrapped
        return wrapped


class InstrumentingServer:
    """What servicers register on instead of the ``grpc.aio.Server``: their handlers are instrumented
    at registration, not by a ``ServerInterceptor``, which grpc.aio awaits (a chain of coroutines)
    on every call just to find the handler."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self._server = server

    def add_generic_rpc_handlers(self, handlers) -> None:
        self._server.add_generic_rpc_handlers([_InstrumentedHandlers(h) for h in handlers])

    def add_registered_method_handlers(self, service_name: str, method_handlers: dict) -> None:
        self._server.add_registered_method_handlers(
            service_name, {name: instrument(f"/{service_name}/{name}", h) for name, h in method_handlers.items()}
        )

    def __getattr__(self, name: str):
        return getattr(self._server, name)


class _AsyncContext:
    """grpc.aio's context, with ``abort`` marking the status as written for people (``APP_MARKER``):
    grpc.aio sends the trailing metadata set before ``abort``, not after."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx) -> None:
        self._ctx = ctx

    async def abort(self, code, details="", trailing_metadata=()):
        await self._ctx.abort(code, details, (*tuple(trailing_metadata), APP_MARKER))

    def __getattr__(self, name: str):
        return getattr(self._ctx, name)


def _async_behaviour(inner, stats: _CallStats):
    async def behaviour(request, raw_context):
        start = time.perf_counter()
        code = "OK"
        context = _AsyncContext(raw_context)
        stats.in_progress.inc()
        try:
            response = await inner(request, context)
            code = _code_name(context) or "OK"
            return response
        except asyncio.CancelledError:
            code = "CANCELLED"
            raise
        except BaseException as exc:
            code = _failed(stats.method, context, exc)
            raise
        finally:
            stats.in_progress.dec()
            stats.record(code, time.perf_counter() - start)

    return behaviour


class _SyncContext:
    """The context a sync servicer gets: grpc.aio's thread-side context lacks ``code()``,
    ``details()`` and ``is_active()``, which sync servicers written for grpc.Server use."""

    __slots__ = ("_code", "_ctx", "_details", "_done", "_start", "_stats", "recorded")

    def __init__(self, ctx, stats: _CallStats, start: float) -> None:
        self._ctx = ctx
        self._stats = stats
        self._start = start
        self._code = None
        self._details = None
        self._done: threading.Event | None = None
        self.recorded = False

    def abort(self, code, details=""):
        self._code, self._details = code, details
        self._ctx.set_trailing_metadata((APP_MARKER,))  # abort() sends what is set before it
        # The status may reach the client before this thread unwinds: count and log the call first.
        self._stats.record(_code_name(self) or "UNKNOWN", time.perf_counter() - self._start)
        self.recorded = True
        self._ctx.abort(code, details)

    def abort_with_status(self, status):
        self.abort(status.code, status.details)

    def set_code(self, code) -> None:
        self._code = code
        self._ctx.set_code(code)

    def set_details(self, details) -> None:
        self._details = details
        self._ctx.set_details(details)

    def code(self):
        return self._code

    def details(self):
        return self._details

    def is_active(self) -> bool:
        """False once the call is over (cancelled by the client, or past its deadline)."""
        if self._done is None:
            self._done = threading.Event()
            self._ctx.add_callback(self._done.set)
        remaining = self._ctx.time_remaining()
        return not self._done.is_set() and (remaining is None or remaining > 0)

    def __getattr__(self, name: str):
        return getattr(self._ctx, name)


def _sync_behaviour(inner, stats: _CallStats):
    def behaviour(request, raw_context):
        start = time.perf_counter()
        code = "OK"
        context = _SyncContext(raw_context, stats, start)
        stats.in_progress.inc()
        try:
            remaining = context.time_remaining()
            if remaining is not None and remaining <= 0:
                # Queued for a worker past its deadline: nobody waits for it any more, skip the work.
                context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "Lo siento, la consulta tardó demasiado.")
            response = inner(request, context)
            code = _code_name(context) or "OK"
            return response
        except BaseException as exc:
            code = _failed(stats.method, context, exc)
            raise
        finally:
            stats.in_progress.dec()
            if not context.recorded:
                stats.record(code, time.perf_counter() - start)

    return behaviour


def _failed(method: str, context, exc: BaseException) -> str:
    """The status of a call that raised; a crash (not ``context.abort``) is logged with its traceback."""
    code = _code_name(context)
    if code is None:  # a crash, not context.abort(): its text is not for people
        log.error("%s raised", method, exc_info=exc)
        return "UNKNOWN"
    return code


def _code_name(context) -> str | None:
    code = context.code()
    if code is None:
        return None
    if isinstance(code, grpc.StatusCode):
        return code.name
    return _CODE_NAMES.get(code, str(code))  # grpc.aio may hand back the C core's integer code


_CODE_NAMES = {status.value[0]: status.name for status in grpc.StatusCode}
