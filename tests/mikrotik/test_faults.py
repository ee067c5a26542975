"""Faults of the MikroTik API: each gives the right status and sentence within its deadline, and
the service keeps serving other callers meanwhile."""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from centralita.mikrotik.v1 import mikrotik_pb2

from .conftest import details

Code = grpc.StatusCode
TIMEOUT = "la consulta tardó demasiado"
UNREACHABLE = "no se pudo conectar con el sistema de consultas"
DOWN_5XX = "no está disponible en este momento"
UNREADABLE = "Ocurrió un error al leer la respuesta"

FAULTS = [
    ("hang", Code.DEADLINE_EXCEEDED, TIMEOUT),
    ("slow", Code.DEADLINE_EXCEEDED, TIMEOUT),
    ("trickle", Code.DEADLINE_EXCEEDED, TIMEOUT),
    ("down", Code.UNAVAILABLE, UNREACHABLE),
    ("reset", Code.UNAVAILABLE, UNREACHABLE),
    ("500", Code.UNAVAILABLE, DOWN_5XX),
    ("503", Code.UNAVAILABLE, DOWN_5XX),
    ("404", Code.INTERNAL, "no pudo procesar la pregunta"),
    ("302", Code.INTERNAL, "no pudo procesar la pregunta"),
    ("garbage", Code.INTERNAL, UNREADABLE),
    ("badshape", Code.INTERNAL, UNREADABLE),
    ("fail", Code.FAILED_PRECONDITION, "Lo siento, hubo un problema: No se pudo conectar con el router ROUTER 3."),
]
DEADLINE = 1.5
CACHED = "¿Qué routers están configurados?"


def _faulty_call(service, i: int):
    started = time.monotonic()
    try:
        service.ask(f"¿Cuál es el tráfico de la interfaz WAN? ({i})", deadline=DEADLINE)
    except grpc.RpcError as exc:
        return exc.code(), details(exc), time.monotonic() - started
    return Code.OK, "", time.monotonic() - started


@pytest.mark.parametrize(("fault", "code", "sentence"), FAULTS, ids=[f[0] for f in FAULTS])
def test_fault_gives_status_and_sentence_while_others_are_served(make_service, sim, fault, code, sentence):
    service = make_service(pool_size=2)
    service.ask(CACHED)  # primed before the fault
    sim.configure(fault=fault, match="trafico", slow_seconds=5)
    live = 0
    with ThreadPoolExecutor(6) as pool:
        pending = [pool.submit(_faulty_call, service, i) for i in range(6)]
        time.sleep(0.05)
        while not all(f.done() for f in pending) or live < 3:
            t0 = time.monotonic()
            # An uncached question goes upstream at once, next to the faulty ones.
            fresh = service.ask(f"¿Cuántos clientes activos hay en router-146? ({live})", deadline=DEADLINE)
            assert "221" in fresh.response and fresh.cached is False
            assert service.ask(CACHED).cached is True
            assert service.serving()
            assert time.monotonic() - t0 < 1.0  # the faulty calls take ~1.3 s
            live += 1
        results = [f.result() for f in pending]
    for got_code, text, took in results:
        assert got_code == code, text
        assert sentence in text
        assert took < DEADLINE
        assert "http" not in text.lower() and "Traceback" not in text


def test_api_down_entirely(make_service, sim):
    service = make_service()
    service.ask(CACHED)
    sim.stop()  # nothing listens on the port any more: connection refused
    for _ in range(5):
        error, took = service.fail("¿Cuántos clientes activos hay en router-146?")
        assert error.code() == Code.UNAVAILABLE and UNREACHABLE in details(error)
        assert took < 1.0
    assert service.ask(CACHED).cached is True  # what is cached is still answered
    assert service.serving()
    health = service.stub.GetApiHealth(mikrotik_pb2.GetApiHealthRequest(), timeout=2)
    assert health.healthy is False
    sim.start()  # the API comes back on the same port
    assert "221" in service.ask("¿Cuántos clientes activos hay en router-146?").response


def test_api_hanging_for_everyone(make_service, sim):
    """Every request hangs: callers get the timeout sentence in time; health and cache still answer."""
    service = make_service(pool_size=2)
    service.ask(CACHED)
    sim.configure(fault="hang")
    with ThreadPoolExecutor(10) as pool:
        pending = [pool.submit(_faulty_call, service, i) for i in range(10)]
        time.sleep(0.1)
        for _ in range(5):
            t0 = time.monotonic()
            assert service.serving()
            assert service.ask(CACHED).cached is True
            assert time.monotonic() - t0 < 0.6
        t0 = time.monotonic()
        health = service.stub.GetApiHealth(mikrotik_pb2.GetApiHealthRequest(), timeout=1.0)
        assert health.healthy is False and health.error.startswith("timeout")
        assert time.monotonic() - t0 < 1.0
        results = [f.result() for f in pending]
    assert {r[0] for r in results} == {Code.DEADLINE_EXCEEDED}
    assert all(TIMEOUT in r[1] and r[2] < DEADLINE for r in results)
    sim.configure(fault="none")
    assert "45.3" in service.ask("¿Cuál es el tráfico de la interfaz WAN?").response


def test_slow_api_within_the_deadline_is_fine(make_service, sim):
    service = make_service()
    sim.configure(latency=0.4)
    t0 = time.monotonic()
    reply = service.ask("¿Cuál es el tráfico de la interfaz WAN?", deadline=2.0)
    assert "45.3" in reply.response and reply.upstream_ms >= 400
    assert 0.4 <= time.monotonic() - t0 < 1.5


@pytest.fixture
def blackhole():
    """A port whose accept queue is full: further SYNs are dropped, so connect() never completes."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port), timeout=1)
    probe = socket.socket()
    probe.settimeout(0.2)
    with pytest.raises(OSError):  # check the trick works on this kernel before relying on it
        probe.connect(("127.0.0.1", port))
    probe.close()
    yield f"http://127.0.0.1:{port}"
    filler.close()
    server.close()


def test_connect_timeout_means_unreachable(make_service, blackhole):
    service = make_service(api_url=blackhole, connect_timeout=0.4)
    error, took = service.fail("¿Qué routers están configurados?", deadline=3.0)
    assert error.code() == Code.UNAVAILABLE and UNREACHABLE in details(error)
    assert 0.35 < took < 1.0


def test_connect_cut_short_by_the_deadline_is_a_timeout(make_service, blackhole):
    service = make_service(api_url=blackhole, connect_timeout=5.0)
    error, took = service.fail("¿Qué routers están configurados?", deadline=1.0)
    assert error.code() == Code.DEADLINE_EXCEEDED and TIMEOUT in details(error)
    assert took < 1.0


def _wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_waiting_queue_is_bounded_and_refusal_is_immediate(make_service, sim):
    """The API hangs: MIKROTIK_MAX_CONNECTIONS questions are on the wire, MIKROTIK_MAX_WAITING more
    wait for a connection (each no longer than its own deadline), the rest are refused at once;
    health checks and cached answers are served meanwhile."""
    service = make_service(max_connections=2, max_waiting=2)
    service.ask(CACHED)
    sim.configure(fault="hang")
    ask = service.stub.ConsultarMikrotik

    def request(i: int):
        return mikrotik_pb2.ConsultarMikrotikRequest(question=f"¿Cuál es el tráfico de la interfaz WAN? ({i})")

    on_wire = [ask.future(request(i), timeout=6.0) for i in range(2)]
    _wait_for(lambda: sim.stats()["in_flight_queries"] == 2)
    waiting = [ask.future(request(i), timeout=3.0) for i in range(2, 4)]  # they give up before a slot frees
    _wait_for(lambda: service.queries.client.waiting == 2)
    refused = []
    for i in range(4, 10):
        error, took = service.fail(f"¿Cuál es el tráfico de la interfaz WAN? ({i})", deadline=4.0)
        refused.append((error.code(), details(error), took))
    for _ in range(5):
        t0 = time.monotonic()
        assert service.serving(deadline=1.0)
        assert service.ask(CACHED, deadline=1.0).cached is True
        assert time.monotonic() - t0 < 0.6
    assert all(
        code == Code.RESOURCE_EXHAUSTED and "muy ocupado" in text and took < 0.8 for code, text, took in refused
    ), refused
    for future in waiting:
        assert future.exception(timeout=5).code() == Code.DEADLINE_EXCEEDED
        assert TIMEOUT in future.exception().details()
    for future in on_wire:
        assert future.exception(timeout=10).code() == Code.DEADLINE_EXCEEDED
    assert sim.queries == 1 + 2  # the priming question and the two on the wire
    assert sim.peak_in_flight == 2


def test_a_dropped_connection_is_retried_exactly_once(make_service, sim):
    """A reused keep-alive connection may be closed by the server just as we send: one retry on a
    fresh connection covers that race; a server that keeps dropping us is reported, not hammered."""
    service = make_service()
    sim.configure(fault="down")
    error, took = service.fail("¿Qué routers están configurados?")
    assert error.code() == Code.UNAVAILABLE and took < 1.0
    assert sim.queries == 2
    sim.configure(fault="reset")  # the answer had started: never resent
    service.fail("¿Qué routers están configurados?")
    assert sim.queries == 3
    sim.configure(fault="500")  # an HTTP answer: never resent
    service.fail("¿Qué routers están configurados?")
    assert sim.queries == 4
