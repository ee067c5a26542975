"""Acceptance: a function call answered by the real mikrotik_tool (gRPC) in front of its simulator."""

from __future__ import annotations

import json

import pytest

from call_gateway.realtime import RealtimeEngine
from centralita.dispatcher import Dispatcher
from centralita.profiles import load_profiles
from centralita.server import start_server
from centralita_fixtures.fake_realtime import FakeConnection, FakeRealtimeServer
from centralita_fixtures.mikrotik_simulator import MikrotikSimulator
from centralita_fixtures.realtime_fakes import FakeSink
from centralita_fixtures.realtime_rig import settings_for
from mikrotik_tool.queries import MikrotikQueries
from mikrotik_tool.server import service_spec, tool_filter
from mikrotik_tool.settings import Settings


@pytest.fixture
def live_dispatcher():
    with MikrotikSimulator() as sim:
        settings = Settings(api_url=sim.url, cache_ttl=0.0, pool_size=2, connect_timeout=1.0, query_timeout=5.0)
        queries = MikrotikQueries(settings)
        running = start_server([service_spec(queries)], port=0, host="127.0.0.1", tool_filter=tool_filter(settings))
        dispatcher = Dispatcher.connect([f"127.0.0.1:{running.port}"], default_timeout=5.0)
        try:
            yield dispatcher, sim
        finally:
            dispatcher.close()
            running.server.stop(0)
            queries.close()


def test_function_call_answered_by_live_mikrotik_tool(live_dispatcher) -> None:
    dispatcher, sim = live_dispatcher
    profile = load_profiles().for_exten("3241000752")  # the shipped ISP-support profile (seed 000)

    def script(conn: FakeConnection) -> None:
        update = conn.handshake()
        tools = update["session"]["tools"]
        assert [t["name"] for t in tools] == ["consultar_mikrotik"]  # learnt from the live catalog
        assert tools[0]["parameters"]["additionalProperties"] is False
        conn.speak(conn.expect("response.create"), b"\x10" * 800)
        conn.function_calls(
            None,
            [
                (
                    "call_146",
                    "consultar_mikrotik",
                    json.dumps({"question": "¿Cuántos clientes activos hay en router-146?"}),
                )
            ],
        )
        conn.speak(conn.expect("response.create", timeout=5), b"\x20" * 800)
        # the model invents a field: the real dispatcher refuses it before any RPC
        conn.function_calls(
            None,
            [
                ("call_bad", "consultar_mikrotik", '{"pregunta": "clientes"}'),
                ("call_cut", "consultar_mikrotik", '{"question": "clientes en router 2"'),
            ],
        )
        conn.speak(conn.expect("response.create", timeout=5), b"\x30" * 800)

    with FakeRealtimeServer(script) as server:
        ends: list[str] = []
        session = RealtimeEngine(
            profile=profile,
            dispatcher=dispatcher,
            sink=FakeSink(auto=True),
            settings=settings_for(server),
            on_end=ends.append,
            call_id="live",
        )
        session.start()
        try:
            conn = server.wait(timeout=10)
        finally:
            session.close()
    outputs = {e["item"]["call_id"]: json.loads(e["item"]["output"]) for e in conn.of_type("conversation.item.create")}
    assert set(outputs) == {"call_146", "call_bad", "call_cut"}
    answer = outputs["call_146"]
    assert "221" in answer["response"] and "FIBRA OPTICA" in answer["response"]
    for bad in ("call_bad", "call_cut"):
        assert outputs[bad]["error"]["code"] == "INVALID_ARGUMENT" and outputs[bad]["error"]["say"]
    assert sim.queries == 1  # the bad calls never reached the MikroTik API
    final = conn.of_type("response.create")[-1]["response"]
    assert outputs["call_bad"]["error"]["say"] in final["instructions"]  # the caller hears it
    assert conn.invalid == [] and conn.violations == []
    assert ends == [] and session.metrics.function_calls == 3 and session.metrics.tool_errors == 2
