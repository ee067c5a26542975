"""One function builds every gRPC server of the suite: health, reflection, tool catalog, logging and
metrics interceptor, message-size and connection-age limits, a bound on queued calls, and a graceful
SIGTERM drain.

The server is ``grpc.aio`` on its own event-loop thread, so a call that waits (single-flight, an
upstream HTTP answer) holds no thread. Servicers may be async (``async def`` methods run on the loop)
or plain sync ones (run on a thread pool of ``max_workers``, which is then the CPU queue's width).
``GRPC_MAX_CONCURRENT_RPCS`` bounds every call admitted at once, running or queued: beyond it the
server answers RESOURCE_EXHAUSTED at once instead of queueing without limit.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from centralita.config import env_float, env_int, env_str
from centralita.metrics import GRPC_HANDLED, GRPC_IN_PROGRESS, GRPC_LATENCY, MetricsServer
from centralita.schema import DEFAULT_DESCRIPTOR_SET, ToolSpec, load_descriptor_set, tools_from_descriptor_set
from centralita.tools.v1 import tools_pb2, tools_pb2_grpc

log = logging.getLogger("centralita.server")
# Trailing metadata of a call the servicer ended with context.abort(): its message was written for people.
APP_MARKER = ("x-centralita-app", "1")
DEFAULT_MAX_CONCURRENT_RPCS = 2000


@dataclass
class ServiceSpec:
    """A servicer and how to register it. An ``async def aclose()`` on the servicer runs at stop."""

    descriptor: ServiceDescriptor
    servicer: object
    register: Callable[[object, grpc.Server], None]


class _CatalogServicer(tools_pb2_grpc.ToolCatalogServiceServicer):
    def __init__(self, tools: Sequence[ToolSpec]) -> None:
        self._response = tools_pb2.ListToolsResponse(tools=[t.to_proto() for t in tools])

    async def ListTools(self, request, context):
        return self._response


class _CallStats:
    """Pre-bound metric children of one method (labels() costs a lock and a dict lookup per call)."""

    __slots__ = ("by_code", "in_progress", "latency", "method", "quiet")

    def __init__(self, method: str, quiet: bool) -> None:
        self.method = method
        self.quiet = quiet
        self.latency = GRPC_LATENCY.labels(method)
        self.in_progress = GRPC_IN_PROGRESS.labels(method)
        self.by_code: dict[str, Any] = {"OK": GRPC_HANDLED.labels(method, "OK")}

    def record(self, code: str, elapsed: float, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Count the call and log its line; with ``loop``, a success's line is written once the
        loop is free again (after the response went out), so logging is off the latency path."""
        self.latency.observe(elapsed)
        counter = self.by_code.get(code)
        if counter is None:
            counter = self.by_code[code] = GRPC_HANDLED.labels(self.method, code)
        counter.inc()
        if code != "OK":
            log.info("%s %s %.1fms", self.method, code, elapsed * 1000)
        elif not self.quiet and log.isEnabledFor(logging.INFO):
            if loop is None:
                log.info("%s %s %.1fms", self.method, code, elapsed * 1000)
            else:
                loop.call_soon(log.info, "%s %s %.1fms", self.method, code, elapsed * 1000)


class _LoggingInterceptor(grpc.aio.ServerInterceptor):
    """One log line and one histogram sample per call: method, status, milliseconds.

    The wrapped handler of each method is built once and reused: per call the cost is two clock
    reads, one histogram sample, one counter and the log line.
    """

    _QUIET = ("/grpc.health.v1.Health/", "/grpc.reflection.")

    def __init__(self) -> None:
        self._wrapped: dict[str, grpc.RpcMethodHandler | None] = {}

    async def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        try:
            return self._wrapped[method]
        except KeyError:
            pass
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler  # streaming (health Watch, reflection): not wrapped, not cached
        stats = _CallStats(method, method.startswith(self._QUIET))
        inner = handler.unary_unary
        behaviour = _async_behaviour(inner, stats) if inspect.iscoroutinefunction(inner) else _sync_behaviour(
            inner, stats
        )
        wrapped = grpc.unary_unary_rpc_method_handler(
            behaviour,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
        self._wrapped[method] = wrapped
        return wrapped


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
            stats.record(code, time.perf_counter() - start, _running_loop())

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


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class _LoopThread:
    """An asyncio event loop running in a daemon thread; ``run`` submits a coroutine and waits."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro, timeout: float | None = None):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
            if not self._thread.is_alive():
                self.loop.close()


class SyncServerHandle:
    """What ``RunningServer.server`` was when the kit used a sync grpc.Server: ``stop(grace)``."""

    def __init__(self, running: RunningServer) -> None:
        self._running = running

    def stop(self, grace: float | None) -> threading.Event:
        """Stop now (no NOT_SERVING delay), letting in-flight calls finish within ``grace``."""
        self._running.drain_and_stop(grace=grace or 0.0, delay=0.0)
        done = threading.Event()
        done.set()
        return done


class RunningServer:
    """A started server; ``drain_and_stop`` is what SIGTERM does."""

    def __init__(
        self,
        aio_server: grpc.aio.Server,
        loop_thread: _LoopThread,
        pool: futures.ThreadPoolExecutor,
        port: int,
        health_servicer: HealthServicer,
        service_names: list[str],
        metrics: MetricsServer | None,
        tools: list[ToolSpec],
        servicers: Sequence[object] = (),
    ) -> None:
        self.aio_server = aio_server
        self.server = SyncServerHandle(self)
        self.loop = loop_thread.loop
        self._loop_thread = loop_thread
        self._pool = pool
        self.port = port
        self.health = health_servicer
        self.service_names = service_names
        self.metrics = metrics
        self.metrics_port = metrics.port if metrics else None
        self.tools = tools
        self._servicers = list(servicers)
        self.draining = False
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def drain_and_stop(self, grace: float = 5.0, delay: float = 0.0) -> None:
        """Health NOT_SERVING first (so probes and balancers move away), then finish in-flight calls."""
        with self._lock:
            if self.draining:
                first = False
            else:
                self.draining = first = True
        if not first:
            self._stopped.wait()
            return
        log.info("draining: health NOT_SERVING, %.1fs grace for in-flight calls", grace)
        try:
            self._loop_thread.run(self._drain(grace, delay), timeout=grace + delay + 10)
        finally:
            self._loop_thread.close()
            self._pool.shutdown(wait=False, cancel_futures=True)
            if self.metrics:
                self.metrics.stop()
            self._stopped.set()
        log.info("stopped")

    async def _drain(self, grace: float, delay: float) -> None:
        await self.health.enter_graceful_shutdown()
        if delay > 0:
            await asyncio.sleep(delay)
        await self.aio_server.stop(grace)
        for servicer in self._servicers:
            aclose = getattr(servicer, "aclose", None)
            if aclose is not None and inspect.iscoroutinefunction(aclose):
                try:
                    await aclose()
                except Exception:
                    log.exception("closing %s failed", type(servicer).__name__)

    def wait(self) -> None:
        self._stopped.wait()


def start_server(
    specs: Sequence[ServiceSpec],
    *,
    port: int,
    host: str | None = None,
    metrics_port: int | None = None,
    max_workers: int = 16,
    max_concurrent_rpcs: int | None = None,
    tool_filter: Callable[[str], bool] | None = None,
    descriptor_set: Path = DEFAULT_DESCRIPTOR_SET,
) -> RunningServer:
    """Build and start the server; returns once it accepts calls.

    ``max_workers`` threads run sync servicers; ``max_concurrent_rpcs`` (default
    ``GRPC_MAX_CONCURRENT_RPCS``) bounds the calls admitted at once, running or queued.
    """
    host = host if host is not None else env_str("GRPC_BIND_HOST", "0.0.0.0")
    max_message = env_int("GRPC_MAX_MESSAGE_BYTES", 8 * 1024 * 1024)
    if max_concurrent_rpcs is None:
        max_concurrent_rpcs = env_int("GRPC_MAX_CONCURRENT_RPCS", DEFAULT_MAX_CONCURRENT_RPCS)
    options = [
        ("grpc.max_receive_message_length", max_message),
        ("grpc.max_send_message_length", max_message),
        # Clients re-resolve DNS when a connection ages out, so new replicas get traffic.
        ("grpc.max_connection_age_ms", env_int("GRPC_MAX_CONNECTION_AGE_MS", 30_000)),
        ("grpc.max_connection_age_grace_ms", env_int("GRPC_MAX_CONNECTION_AGE_GRACE_MS", 10_000)),
        ("grpc.so_reuseport", 0),
    ]
    names = [s.descriptor.full_name for s in specs]
    tools = [
        t
        for t in tools_from_descriptor_set(load_descriptor_set(descriptor_set), services=names)
        if tool_filter is None or tool_filter(t.name)
    ]
    pool = futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc")
    loop_thread = _LoopThread("grpc-aio")

    async def build() -> tuple[grpc.aio.Server, HealthServicer, int]:
        server = grpc.aio.server(
            migration_thread_pool=pool,
            interceptors=[_LoggingInterceptor()],
            options=options,
            maximum_concurrent_rpcs=max_concurrent_rpcs if max_concurrent_rpcs > 0 else None,
        )
        for spec in specs:
            spec.register(spec.servicer, server)
        tools_pb2_grpc.add_ToolCatalogServiceServicer_to_server(_CatalogServicer(tools), server)
        health_servicer = HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        catalog_name = tools_pb2.DESCRIPTOR.services_by_name["ToolCatalogService"].full_name
        for name in ["", *names, catalog_name]:
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        reflection.enable_server_reflection(
            [*names, catalog_name, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
             reflection.SERVICE_NAME],
            server,
        )
        try:
            bound = server.add_insecure_port(f"{host}:{port}")
        except RuntimeError:
            bound = 0
        if bound == 0:
            raise OSError(f"cannot bind gRPC port {host}:{port} (in use?)")
        await server.start()
        return server, health_servicer, bound

    try:
        server, health_servicer, bound = loop_thread.run(build(), timeout=30)
    except BaseException:
        loop_thread.close()
        pool.shutdown(wait=False)
        raise
    running = RunningServer(server, loop_thread, pool, bound, health_servicer, names, None, tools,
                            [s.servicer for s in specs])
    if metrics_port is not None:
        running.metrics = MetricsServer(host, metrics_port, healthy=lambda: not running.draining).start()
        running.metrics_port = running.metrics.port
    log.info(
        "serving %s on %s:%d (metrics %s, %d workers, at most %s calls at once), tools: %s",
        ", ".join(names),
        host,
        bound,
        running.metrics_port,
        max_workers,
        max_concurrent_rpcs if max_concurrent_rpcs > 0 else "unbounded",
        ", ".join(t.name for t in tools) or "none",
    )
    return running


def serve(specs: Sequence[ServiceSpec], *, port: int, metrics_port: int | None, **kwargs) -> None:
    """Start, then block until SIGTERM/SIGINT, which drains (``GRPC_DRAIN_GRACE`` seconds) and stops."""
    running = start_server(specs, port=port, metrics_port=metrics_port, **kwargs)
    grace = env_float("GRPC_DRAIN_GRACE", 10.0)
    delay = env_float("GRPC_DRAIN_DELAY", 1.0)

    def on_signal(signum, _frame):
        log.info("received %s", signal.Signals(signum).name)
        threading.Thread(target=running.drain_and_stop, args=(grace, delay), daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not running._stopped.wait(0.5):
        pass
