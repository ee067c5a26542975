"""Tool dispatcher shared by the voice gateway, the chat engine, MCP and the CLI.

Tools are discovered from the services themselves (``ToolCatalogService`` for names and schemas,
server reflection for the message types), so a new tool service needs configuration only.
A call never raises: bad arguments, unknown tools, timeouts and dead services all come back as a
``ToolResult`` with a model-readable error and a polite Spanish sentence for the caller.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import grpc
from google.protobuf import descriptor_pool, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from centralita.arguments import ArgumentError, message_to_json, parse_arguments
from centralita.channels import open_channel
from centralita.config import env_list
from centralita.schema import ToolSpec
from centralita.server import APP_MARKER
from centralita.tool_types import SAY, SAY_DEFAULT, ToolResult  # noqa: F401  (re-exported: callers import them from here)
from centralita.tools.v1 import tools_pb2, tools_pb2_grpc

log = logging.getLogger("centralita.dispatcher")
DEFAULT_ENDPOINTS = "127.0.0.1:50051,127.0.0.1:50052"


@dataclass
class _Route:
    spec: ToolSpec
    request_class: type
    call: grpc.UnaryUnaryMultiCallable
    endpoint: str


@dataclass
class _Endpoint:
    address: str
    channel: grpc.Channel | None = None
    routes: list[_Route] = field(default_factory=list)
    error: str = ""


class Dispatcher:
    """Tool name → RPC, with the request built from the model's JSON arguments."""

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        default_timeout: float = 10.0,
        discover_timeout: float = 3.0,
        retry_interval: float = 5.0,
    ) -> None:
        self.default_timeout = default_timeout
        self.discover_timeout = discover_timeout
        self.retry_interval = retry_interval
        self._endpoints = [_Endpoint(e) for e in endpoints]
        self._routes: dict[str, _Route] = {}
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._closed = threading.Event()
        self._retrier: threading.Thread | None = None

    @classmethod
    def connect(
        cls,
        endpoints: Sequence[str] | None = None,
        *,
        default_timeout: float = 10.0,
        discover_timeout: float = 3.0,
        retry_interval: float = 5.0,
    ) -> Dispatcher:
        """Discover the tools of every endpoint now; unreachable ones are retried in the background
        every ``retry_interval`` seconds (a service that starts late joins without blocking a call)."""
        endpoints = list(endpoints) if endpoints is not None else env_list("TOOL_ENDPOINTS", DEFAULT_ENDPOINTS)
        dispatcher = cls(
            endpoints, default_timeout=default_timeout, discover_timeout=discover_timeout, retry_interval=retry_interval
        )
        if dispatcher.refresh():
            dispatcher._start_retrier()
        return dispatcher

    def _start_retrier(self) -> None:
        def loop() -> None:
            while not self._closed.wait(self.retry_interval):
                if not self.refresh():
                    return

        self._retrier = threading.Thread(target=loop, name="tool-discovery", daemon=True)
        self._retrier.start()

    # ------------------------------------------------------------ discovery

    def refresh(self) -> list[str]:
        """(Re)discover endpoints that have no tools yet. Returns the addresses still failing."""
        with self._refresh_lock:
            return self._refresh_locked()

    def _refresh_locked(self) -> list[str]:
        failing = []
        for ep in self._endpoints:
            if self._closed.is_set():
                return []
            if ep.routes:
                continue
            try:
                self._discover(ep)
                ep.error = ""
            except Exception as exc:  # discovery failure is reported, never fatal
                ep.error = _describe(exc)
                failing.append(ep.address)
                log.warning("tool endpoint %s not available: %s", ep.address, ep.error)
        with self._lock:
            self._routes = {r.spec.name: r for ep in self._endpoints for r in ep.routes}
        return failing

    def _discover(self, ep: _Endpoint) -> None:
        if ep.channel is None:
            ep.channel = open_channel(ep.address)
        stub = tools_pb2_grpc.ToolCatalogServiceStub(ep.channel)
        listing = stub.ListTools(tools_pb2.ListToolsRequest(), timeout=self.discover_timeout, wait_for_ready=False)
        pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(ep.channel))
        routes = []
        for tool in listing.tools:
            spec = ToolSpec.from_proto(tool)
            request_class = message_factory.GetMessageClass(pool.FindMessageTypeByName(spec.request_type))
            response_class = message_factory.GetMessageClass(pool.FindMessageTypeByName(spec.response_type))
            call = ep.channel.unary_unary(
                spec.method,
                request_serializer=request_class.SerializeToString,
                response_deserializer=response_class.FromString,
            )
            routes.append(_Route(spec, request_class, call, ep.address))
        ep.routes = routes
        log.info("tools from %s: %s", ep.address, ", ".join(r.spec.name for r in routes) or "none")

    def status(self) -> dict[str, str]:
        """Endpoint → "ok" or the reason discovery failed."""
        return {ep.address: ("ok" if ep.routes else ep.error or "not discovered") for ep in self._endpoints}

    def tools(self, allow: Iterable[str] | None = None) -> list[ToolSpec]:
        with self._lock:
            routes = list(self._routes.values())
        if allow is None:
            return [r.spec for r in routes]
        allowed = set(allow)
        return [r.spec for r in routes if r.spec.name in allowed]

    def spec(self, name: str) -> ToolSpec | None:
        route = self._route(name)
        return route.spec if route else None

    def _route(self, name: str) -> _Route | None:
        with self._lock:
            return self._routes.get(name)

    # ------------------------------------------------------------ calls

    def call(self, name: str, arguments: str | dict | None, *, timeout: float | None = None) -> ToolResult:
        """Blocking call (no thread hand-off: the cheapest path for the CLI and benchmarks)."""
        start = time.perf_counter()
        prepared = self._prepare(name, arguments, timeout)
        if isinstance(prepared, ToolResult):
            return prepared
        route, request, deadline = prepared
        try:
            response = route.call(request, timeout=deadline)
        except grpc.RpcError as err:
            return _rpc_failure(name, err, (time.perf_counter() - start) * 1000)
        except Exception as exc:  # channel closed under us
            return ToolResult.failure(name, "UNAVAILABLE", _describe(exc))
        return ToolResult(name, True, message_to_json(response), "OK", None, (time.perf_counter() - start) * 1000)

    def submit(self, name: str, arguments: str | dict | None, *, timeout: float | None = None) -> Future[ToolResult]:
        """Start a call without blocking; the future always resolves to a ToolResult (cancel() cancels the RPC)."""
        start = time.perf_counter()
        done: Future[ToolResult] = Future()
        prepared = self._prepare(name, arguments, timeout)
        if isinstance(prepared, ToolResult):
            done.set_result(prepared)
            return done
        route, request, deadline = prepared
        try:
            rpc = route.call.future(request, timeout=deadline)
        except Exception as exc:  # channel closed under us
            done.set_result(ToolResult.failure(name, "UNAVAILABLE", _describe(exc)))
            return done

        def finish(rpc_future: grpc.Future) -> None:
            if not done.cancelled():
                done.set_result(_result(name, rpc_future, (time.perf_counter() - start) * 1000))

        def propagate_cancel(f: Future[ToolResult]) -> None:
            if f.cancelled():
                rpc.cancel()

        done.add_done_callback(propagate_cancel)
        rpc.add_done_callback(finish)
        return done

    def _prepare(self, name: str, arguments: str | dict | None, timeout: float | None):
        route = self._route(name)
        if route is None:
            known = ", ".join(sorted(self._routes)) or "none"
            return ToolResult.failure(name, "UNKNOWN_TOOL", f"unknown tool {name!r}; available tools: {known}")
        try:
            request = parse_arguments(arguments, route.request_class)
        except ArgumentError as exc:
            log.info("tool %s: invalid arguments: %s", name, exc)
            return ToolResult.failure(name, "INVALID_ARGUMENT", f"invalid arguments for {name}: {exc}")
        except Exception:  # a gap in the converter must not take the call down with it
            log.exception("tool %s: arguments could not be converted", name)
            return ToolResult.failure(name, "INVALID_ARGUMENT", f"invalid arguments for {name}")
        deadline = timeout if timeout is not None else (route.spec.timeout_ms / 1000 or self.default_timeout)
        return route, request, deadline

    def close(self) -> None:
        self._closed.set()
        if self._retrier is not None and self._retrier is not threading.current_thread():
            self._retrier.join(self.discover_timeout + 1)
        for ep in self._endpoints:
            if ep.channel is not None:
                ep.channel.close()
                ep.channel = None
            ep.routes = []
        with self._lock:
            self._routes = {}

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _rpc_failure(name: str, err: grpc.RpcError, elapsed_ms: float) -> ToolResult:
    code = err.code().name if err.code() else "UNKNOWN"
    details = err.details() or code
    from_app = any((k, v) == APP_MARKER for k, v in (err.trailing_metadata() or ()))
    say = details if from_app else None  # transport errors and crashes get a generic sentence
    log.info("tool %s failed: %s %s (%.0fms)", name, code, details, elapsed_ms)
    return ToolResult.failure(name, code, details, say, elapsed_ms)


def _result(name: str, rpc: grpc.Future, elapsed_ms: float) -> ToolResult:
    try:
        response = rpc.result()
    except grpc.RpcError as err:
        return _rpc_failure(name, err, elapsed_ms)
    except grpc.FutureCancelledError:
        return ToolResult.failure(name, "CANCELLED", "the call was cancelled", elapsed_ms=elapsed_ms)
    except Exception as exc:
        return ToolResult.failure(name, "UNKNOWN", _describe(exc), elapsed_ms=elapsed_ms)
    return ToolResult(name, True, message_to_json(response), "OK", None, elapsed_ms)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.RpcError) and hasattr(exc, "code"):
        return f"{exc.code().name}: {exc.details()}"
    return f"{type(exc).__name__}: {exc}"
