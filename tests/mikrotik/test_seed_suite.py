"""The seed's 8-test suite (test_mikrotik_integration.py), against the simulator over real HTTP
and the service over real gRPC."""

from __future__ import annotations

import json
import time

import grpc
import jsonschema

from centralita.mikrotik.v1 import mikrotik_pb2
from centralita.schema import ToolSpec, chat_tool, realtime_tool
from centralita.tools.v1 import tools_pb2

from .conftest import SERVICE, details


# TEST 1: Health Check de la API
def test_1_health_check(service, sim):
    reply = service.stub.GetApiHealth(mikrotik_pb2.GetApiHealthRequest(), timeout=3)
    assert reply.healthy is True
    assert (reply.status, reply.service, reply.version) == ("ok", "MikroTik API", "1.0")
    assert reply.error == ""
    assert reply.latency_ms > 0
    assert sim.stats()["health"] == 1
    assert service.serving()


def test_1_health_check_reports_a_dead_api(make_service, sim):
    sim.configure(fault="500")
    reply = make_service().stub.GetApiHealth(mikrotik_pb2.GetApiHealthRequest(), timeout=3)
    assert reply.healthy is False
    assert "500" in reply.error
    sim.stop()
    reply = make_service().stub.GetApiHealth(mikrotik_pb2.GetApiHealthRequest(), timeout=3)
    assert reply.healthy is False and reply.error.startswith("unreachable")
    assert "127.0.0.1" not in reply.error  # no URL in what operators' probes may print


# TEST 2: Consultas Básicas
def test_2_basic_queries(service):
    reply = service.ask("¿Qué routers están configurados?")
    for fact in ("FIBRA OPTICA", "192.168.26.1", "ROUTER 2", "192.168.146.1", "ROUTER 3", "192.168.150.1"):
        assert fact in reply.response
    assert reply.cached is False and reply.upstream_ms > 0
    total = service.ask("Necesito saber cuántos clientes tenemos conectados")
    assert "450" in total.response


# TEST 3: Consulta de Router Específico
def test_3_router_specific(service):
    reply = service.ask("¿Cuántos clientes activos hay en router-146?")
    assert reply.response == "En el router FIBRA OPTICA hay 221 clientes activos."
    principal = service.ask("¿Cuántos clientes hay en el router principal?")
    assert "221" in principal.response and "FIBRA OPTICA" in principal.response


# TEST 4: Consulta de Tráfico
def test_4_traffic(service):
    reply = service.ask("¿Cuál es el tráfico de la interfaz WAN?")
    assert "45.3 Mbps" in reply.response and "12.7 Mbps" in reply.response


# TEST 5: Manejo de Timeouts
def test_5_timeout_from_the_request(service, sim):
    sim.configure(latency=3.0)
    error, took = service.fail("¿Qué routers están configurados?", timeout=1, deadline=5)
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "la consulta tardó demasiado" in details(error)
    assert 0.9 < took < 1.6
    assert sim.questions[-1][1] == 1  # the API was told the same budget


def test_5_timeout_from_the_grpc_deadline(service, sim):
    sim.configure(latency=3.0)
    error, took = service.fail("¿Qué routers están configurados?", deadline=1.0)
    # The service answers before the caller's deadline, so the caller gets our sentence.
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "la consulta tardó demasiado" in details(error)
    assert took < 1.0


# TEST 6: Manejo de Errores
def test_6_error_handling(make_service, sim):
    service = make_service()
    error, _ = service.fail("   ")
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "¿Puedes repetirla" in details(error)
    error, _ = service.fail("¿?")
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    error, _ = service.fail("x" * 501)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    error, _ = service.fail("¿Qué routers hay?", timeout=61)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert sim.queries == 0  # invalid requests never reach the API

    error, _ = service.fail("¿Quién ganó el partido?")  # the API answers success:false
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert details(error).startswith("Lo siento, hubo un problema: No pude interpretar la pregunta.")

    sim.stop()
    error, took = service.fail("¿Qué routers están configurados?")
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "no se pudo conectar" in details(error)
    assert took < 1.0


# TEST 7: Definición del Tool
def test_7_tool_definition(service):
    tools = service.catalog.ListTools(tools_pb2.ListToolsRequest(), timeout=3).tools
    assert [t.name for t in tools] == ["consultar_mikrotik"]
    spec = ToolSpec.from_proto(tools[0])
    assert spec.method == f"/{SERVICE}/ConsultarMikrotik"
    assert spec.timeout_ms == 30000 and spec.kind == "query" and spec.holding_phrase
    params = spec.parameters
    jsonschema.Draft202012Validator.check_schema(params)
    assert params["type"] == "object" and params["additionalProperties"] is False
    assert params["required"] == ["question"]
    assert params["properties"]["question"]["type"] == "string"
    assert params["properties"]["question"]["maxLength"] == 500
    timeout = params["properties"]["timeout"]
    assert timeout["type"] == "integer" and timeout["minimum"] == 1 and timeout["maximum"] == 60
    jsonschema.validate({"question": "¿Qué routers están configurados?"}, params)
    jsonschema.validate({"question": "¿Qué routers?", "timeout": 15}, params)
    assert "router-146" in params["properties"]["question"]["description"]
    tool = realtime_tool(spec)
    assert tool["type"] == "function" and tool["name"] == "consultar_mikrotik"
    assert "MikroTik" in tool["description"] and "ALWAYS call it first" in tool["description"]
    strict = chat_tool(spec, strict=True)["function"]
    assert strict["strict"] is True and set(strict["parameters"]["required"]) == {"question", "timeout"}
    assert json.loads(json.dumps(tool, ensure_ascii=False)) == tool


def test_7_tools_disabled_removes_the_tool_but_not_the_rpc(make_service):
    service = make_service(enable_tools=False)
    tools = service.catalog.ListTools(tools_pb2.ListToolsRequest(), timeout=3).tools
    assert list(tools) == []
    assert "221" in service.ask("¿Cuántos clientes activos hay en router-146?").response


# TEST 8: Consultas Consecutivas
def test_8_consecutive_queries(service, sim):
    conversation = [
        ("Necesito saber cuántos clientes tenemos conectados", "450"),
        ("¿Cuántos clientes activos hay en el router principal?", "221"),
        ("¿Qué routers están configurados?", "192.168.150.1"),
        ("¿Cuál es el tráfico de la interfaz WAN?", "45.3"),
        ("¿Cuántos clientes activos hay en router-146?", "221"),
    ]
    started = time.monotonic()
    for question, fact in conversation:
        assert fact in service.ask(question).response
    assert time.monotonic() - started < 2.0
    assert sim.queries == len(conversation)
    assert sim.connections_accepted == 1  # one kept-alive connection served the whole conversation
