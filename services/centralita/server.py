"""One function builds every gRPC server of the suite: health, reflection, tool catalog, logging and
metrics on every handler (wrapped once at registration), message-size and connection-age limits, a
bound on queued calls, and a graceful SIGTERM drain.

The server is ``grpc.aio`` on its own event-loop thread, so a call that waits (single-flight, an
upstream HTTP answer) holds no thread. Servicers may be async (``async def`` methods run on the loop)
or plain sync ones (run on a thread pool of ``max_workers``, which is then the CPU queue's width).
``GRPC_MAX_CONCURRENT_RPCS`` bounds every call admitted at once, running or queued: beyond it the
server answers RESOURCE_EXHAUSTED at once instead of queueing without limit.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from centralita.config import env_float, env_int, env_str
from centralita.interceptor import APP_MARKER, InstrumentingServer
from centralita.metrics import MetricsServer
from centralita.schema import DEFAULT_DESCRIPTOR_SET, ToolSpec, load_descriptor_set, tools_from_descriptor_set
from centralita.tools.v1 import tools_pb2, tools_pb2_grpc

log = logging.getLogger("centralita.server")
__all__ = ["APP_MARKER", "RunningServer", "ServiceSpec", "serve", "start_server"]  # APP_MARKER: the dispatcher's
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
        health_servicer: health.aio.HealthServicer,
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

    async def build() -> tuple[grpc.aio.Server, health.aio.HealthServicer, int]:
        server = grpc.aio.server(
            migration_thread_pool=pool,
            options=options,
            maximum_concurrent_rpcs=max_concurrent_rpcs if max_concurrent_rpcs > 0 else None,
        )
        registry = InstrumentingServer(server)  # logs and metrics of every unary handler
        for spec in specs:
            spec.register(spec.servicer, registry)
        tools_pb2_grpc.add_ToolCatalogServiceServicer_to_server(_CatalogServicer(tools), registry)
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, registry)
        catalog_name = tools_pb2.DESCRIPTOR.services_by_name["ToolCatalogService"].full_name
        for name in ["", *names, catalog_name]:
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        # on the grpc.aio server itself: handed the wrapper, grpcio-reflection would pick its *sync* servicer,
        # whose bidi stream then blocks a pool thread on the loop (and interpreter exit on that thread)
        reflection.enable_server_reflection(
            [*names, catalog_name, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
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
    running = RunningServer(
        server, loop_thread, pool, bound, health_servicer, names, None, tools, [s.servicer for s in specs]
    )
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
    # What is built by now (modules, descriptors, servicers) lives as long as the process: out of the
    # cyclic GC, so its full collections walk only what calls allocate (not the grpc/protobuf graph).
    gc.collect()
    gc.freeze()
    grace = env_float("GRPC_DRAIN_GRACE", 10.0)
    delay = env_float("GRPC_DRAIN_DELAY", 1.0)

    def on_signal(signum, _frame):
        log.info("received %s", signal.Signals(signum).name)
        threading.Thread(target=running.drain_and_stop, args=(grace, delay), daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not running._stopped.wait(0.5):
        pass
