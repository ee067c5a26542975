"""Fixtures: a real simulator (HTTP on a free port) and the real gRPC service in front of it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from centralita.mikrotik.v1 import mikrotik_pb2, mikrotik_pb2_grpc
from centralita.server import RunningServer, start_server
from centralita.tools.v1 import tools_pb2_grpc
from centralita_fixtures.mikrotik_simulator import MikrotikSimulator
from mikrotik_tool.cache import AnswerCache
from mikrotik_tool.queries import MikrotikQueries
from mikrotik_tool.server import service_spec, tool_filter
from mikrotik_tool.settings import Settings

SERVICE = "centralita.mikrotik.v1.MikrotikService"


@dataclass
class Service:
    """A running mikrotik_tool server and stubs to call it."""

    running: RunningServer
    channel: grpc.Channel
    queries: MikrotikQueries
    settings: Settings
    stub: mikrotik_pb2_grpc.MikrotikServiceStub = field(init=False)
    health: health_pb2_grpc.HealthStub = field(init=False)
    catalog: tools_pb2_grpc.ToolCatalogServiceStub = field(init=False)

    def __post_init__(self) -> None:
        self.stub = mikrotik_pb2_grpc.MikrotikServiceStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)
        self.catalog = tools_pb2_grpc.ToolCatalogServiceStub(self.channel)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.running.port}"

    def ask(self, question: str, *, timeout: int | None = None, deadline: float = 5.0):
        request = mikrotik_pb2.ConsultarMikrotikRequest(question=question)
        if timeout is not None:
            request.timeout = timeout
        return self.stub.ConsultarMikrotik(request, timeout=deadline)

    def fail(self, question: str, *, timeout: int | None = None, deadline: float = 5.0) -> tuple[grpc.RpcError, float]:
        """Call expecting an error; returns it and the seconds it took."""
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as info:
            self.ask(question, timeout=timeout, deadline=deadline)
        return info.value, time.monotonic() - started

    def serving(self, deadline: float = 2.0) -> bool:
        reply = self.health.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=deadline)
        return reply.status == health_pb2.HealthCheckResponse.SERVING


TEST_SETTINGS = Settings(
    api_url="http://127.0.0.1:9",
    cache_ttl=30.0,
    pool_size=4,
    connect_timeout=1.0,
    query_timeout=10.0,
    broad_query_timeout=25.0,
    health_timeout=2.0,
)


@pytest.fixture
def sim() -> Iterator[MikrotikSimulator]:
    with MikrotikSimulator() as simulator:
        yield simulator


@pytest.fixture
def make_service(sim: MikrotikSimulator) -> Iterator[Callable[..., Service]]:
    started: list[Service] = []

    def factory(*, metrics: bool = False, clock: Callable[[], float] | None = None, **overrides) -> Service:
        settings = replace(TEST_SETTINGS, **{"api_url": sim.url, **overrides})
        cache = None
        if clock is not None:
            cache = AnswerCache(ttl=settings.cache_ttl, max_entries=settings.cache_size, clock=clock)
        queries = MikrotikQueries(settings, cache=cache)
        running = start_server(
            [service_spec(queries)],
            port=0,
            host="127.0.0.1",
            max_workers=2,
            tool_filter=tool_filter(settings),
            metrics_port=0 if metrics else None,
        )
        channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
        service = Service(running=running, channel=channel, queries=queries, settings=settings)
        started.append(service)
        return service

    yield factory
    for service in started:
        service.channel.close()
        service.running.server.stop(0)
        if service.running.metrics:
            service.running.metrics.stop()
        service.queries.close()


@pytest.fixture
def service(make_service: Callable[..., Service]) -> Service:
    return make_service()


def details(error: grpc.RpcError) -> str:
    return error.details() or ""
