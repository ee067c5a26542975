"""One function builds every gRPC server of the suite: health, reflection, tool catalog, logging and
metrics interceptor, message-size and connection-age limits, and a graceful SIGTERM drain."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from centralita.config import env_float, env_int, env_str
from centralita.metrics import GRPC_HANDLED, GRPC_LATENCY, MetricsServer
from centralita.schema import DEFAULT_DESCRIPTOR_SET, ToolSpec, load_descriptor_set, tools_from_descriptor_set
from centralita.tools.v1 import tools_pb2, tools_pb2_grpc

log = logging.getLogger("centralita.server")
# Trailing metadata of a call the servicer ended with context.abort(): its message was written for people.
APP_MARKER = ("x-centralita-app", "1")


@dataclass
class ServiceSpec:
    """A servicer and how to register it."""

    descriptor: ServiceDescriptor
    servicer: object
    register: Callable[[object, grpc.Server], None]


class _CatalogServicer(tools_pb2_grpc.ToolCatalogServiceServicer):
    def __init__(self, tools: Sequence[ToolSpec]) -> None:
        self._response = tools_pb2.ListToolsResponse(tools=[t.to_proto() for t in tools])

    def ListTools(self, request, context):
        return self._response


class _LoggingInterceptor(grpc.ServerInterceptor):
    """One log line and one histogram sample per call: method, status, milliseconds."""

    _QUIET = ("/grpc.health.v1.Health/", "/grpc.reflection.")

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = handler_call_details.method
        inner = handler.unary_unary
        quiet = method.startswith(self._QUIET)

        def behaviour(request, context):
            start = time.perf_counter()
            code = "OK"
            try:
                response = inner(request, context)
                code = _code_name(context) or "OK"
                return response
            except Exception:
                code = _code_name(context) or "UNKNOWN"
                if _code_name(context) is None:  # a crash, not context.abort(): its text is not for people
                    log.exception("%s raised", method)
                else:
                    context.set_trailing_metadata((APP_MARKER,))
                raise
            finally:
                elapsed = time.perf_counter() - start
                GRPC_LATENCY.labels(method).observe(elapsed)
                GRPC_HANDLED.labels(method, code).inc()
                if not quiet or code != "OK":
                    log.info("%s %s %.1fms", method, code, elapsed * 1000)

        return grpc.unary_unary_rpc_method_handler(
            behaviour,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _code_name(context) -> str | None:
    try:
        code = context.code()
    except Exception:  # older grpcio without ServicerContext.code()
        return None
    if code is None:
        return None
    return code.name if isinstance(code, grpc.StatusCode) else str(code)


class RunningServer:
    """A started server; ``drain_and_stop`` is what SIGTERM does."""

    def __init__(
        self,
        server: grpc.Server,
        port: int,
        health_servicer: health.HealthServicer,
        service_names: list[str],
        metrics: MetricsServer | None,
        tools: list[ToolSpec],
    ) -> None:
        self.server = server
        self.port = port
        self.health = health_servicer
        self.service_names = service_names
        self.metrics = metrics
        self.metrics_port = metrics.port if metrics else None
        self.tools = tools
        self.draining = False
        self._stopped = threading.Event()

    def drain_and_stop(self, grace: float = 5.0, delay: float = 0.0) -> None:
        """Health NOT_SERVING first (so probes and balancers move away), then finish in-flight calls."""
        if self.draining:
            self._stopped.wait()
            return
        self.draining = True
        log.info("draining: health NOT_SERVING, %.1fs grace for in-flight calls", grace)
        self.health.enter_graceful_shutdown()
        if delay > 0:
            time.sleep(delay)
        self.server.stop(grace).wait()
        if self.metrics:
            self.metrics.stop()
        self._stopped.set()
        log.info("stopped")

    def wait(self) -> None:
        self._stopped.wait()


def start_server(
    specs: Sequence[ServiceSpec],
    *,
    port: int,
    host: str | None = None,
    metrics_port: int | None = None,
    max_workers: int = 16,
    tool_filter: Callable[[str], bool] | None = None,
    descriptor_set: Path = DEFAULT_DESCRIPTOR_SET,
) -> RunningServer:
    host = host if host is not None else env_str("GRPC_BIND_HOST", "0.0.0.0")
    max_message = env_int("GRPC_MAX_MESSAGE_BYTES", 8 * 1024 * 1024)
    options = [
        ("grpc.max_receive_message_length", max_message),
        ("grpc.max_send_message_length", max_message),
        # Clients re-resolve DNS when a connection ages out, so new replicas get traffic.
        ("grpc.max_connection_age_ms", env_int("GRPC_MAX_CONNECTION_AGE_MS", 30_000)),
        ("grpc.max_connection_age_grace_ms", env_int("GRPC_MAX_CONNECTION_AGE_GRACE_MS", 10_000)),
        ("grpc.so_reuseport", 0),
    ]
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        interceptors=[_LoggingInterceptor()],
        options=options,
    )
    names = [s.descriptor.full_name for s in specs]
    tools = [
        t
        for t in tools_from_descriptor_set(load_descriptor_set(descriptor_set), services=names)
        if tool_filter is None or tool_filter(t.name)
    ]
    for spec in specs:
        spec.register(spec.servicer, server)
    tools_pb2_grpc.add_ToolCatalogServiceServicer_to_server(_CatalogServicer(tools), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    catalog_name = tools_pb2.DESCRIPTOR.services_by_name["ToolCatalogService"].full_name
    for name in ["", *names, catalog_name]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        [*names, catalog_name, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
        server,
    )
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind gRPC port {host}:{port} (in use?)")
    server.start()
    running = RunningServer(server, bound, health_servicer, names, None, tools)
    if metrics_port is not None:
        running.metrics = MetricsServer(host, metrics_port, healthy=lambda: not running.draining).start()
        running.metrics_port = running.metrics.port
    log.info(
        "serving %s on %s:%d (metrics %s), tools: %s",
        ", ".join(names),
        host,
        bound,
        running.metrics_port,
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
