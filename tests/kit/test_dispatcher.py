"""The dispatcher against a real kit-built server on a free port (discovery through reflection)."""

from __future__ import annotations

import json
import time

import pytest

from centralita.dispatcher import SAY, SAY_DEFAULT, Dispatcher


@pytest.fixture
def dispatcher(echo_server):
    d = Dispatcher.connect([f"127.0.0.1:{echo_server.port}"])
    yield d
    d.close()


def test_discovers_only_rpcs_marked_as_tools(dispatcher):
    assert [t.name for t in dispatcher.tools()] == ["echo", "edge_cases", "misbehave"]
    echo = dispatcher.spec("echo")
    assert echo.description == "Echo the text back. Use it to test the dispatcher."
    assert echo.method == "/echo.v1.EchoService/Echo"
    assert echo.timeout_ms == 2000
    assert dispatcher.spec("edge_cases").kind == "action"


def test_call_round_trip_with_proto_field_names(dispatcher):
    result = dispatcher.call("echo", '{"text": "hola"}')
    assert result.ok and result.code == "OK"
    assert result.output == {"text": "hola"}
    assert json.loads(result.output_json()) == {"text": "hola"}


def test_enums_oneofs_and_int64_survive_the_round_trip(dispatcher):
    args = {
        "big": "9007199254740993",
        "colour": "dark_blue",
        "colours": ["red", "dark_blue"],
        "scope": {"kind": "region_id", "region_id": 7, "municipality": None},
        "inner": {"label": "x", "child": {"label": "y"}},
    }
    result = dispatcher.call("edge_cases", args)
    assert result.ok, result.output
    assert result.output["big"] == 9007199254740993
    assert result.output["colour"] == "dark_blue"
    assert result.output["colours"] == ["red", "dark_blue"]
    assert result.output["scope"] == "region_id"
    assert result.output["inner"]["child"]["label"] == "y"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ('["a"]', "must be a JSON object"),
        ('{"txt": "a"}', "unknown field `txt`"),
        ('{"text": 5}', "`text` must be a string"),
        ('{"text": "' + "a" * 101 + '"}', "too long"),
    ],
)
def test_bad_arguments_are_reported_to_the_model(dispatcher, args, fragment):
    result = dispatcher.call("echo", args)
    assert not result.ok and result.code == "INVALID_ARGUMENT"
    assert fragment in result.output["error"]["message"]
    assert result.say == SAY["INVALID_ARGUMENT"]


def test_unknown_tool(dispatcher):
    result = dispatcher.call("borrar_todo", "{}")
    assert result.code == "UNKNOWN_TOOL" and "available tools: echo" in result.output["error"]["message"]


def test_server_status_and_sentence_reach_the_caller(dispatcher):
    result = dispatcher.call("misbehave", {"fail_with": "UNAVAILABLE", "message": "El router no responde."})
    assert result.code == "UNAVAILABLE"
    assert result.say == "El router no responde."  # written by the service for people: said as is


def test_an_aborted_internal_error_keeps_the_services_sentence(dispatcher):
    result = dispatcher.call(
        "misbehave", {"fail_with": "INTERNAL", "message": "La respuesta del equipo no se entiende."}
    )
    assert result.code == "INTERNAL" and result.say == "La respuesta del equipo no se entiende."


def test_a_crash_is_never_read_to_the_caller(dispatcher):
    result = dispatcher.call("misbehave", {"fail_with": "CRASH", "message": "KeyError: 'password' at line 3"})
    assert result.code == "UNKNOWN"
    assert result.say == SAY_DEFAULT and "KeyError" not in result.say


def test_deadline_gives_a_timeout_result(dispatcher):
    result = dispatcher.call("misbehave", {"sleep_ms": 2000}, timeout=0.2)
    assert result.code == "DEADLINE_EXCEEDED"
    assert result.say == SAY["DEADLINE_EXCEEDED"]
    assert result.elapsed_ms < 1500


def test_parallel_submits_each_resolve(dispatcher):
    futures = [dispatcher.submit("misbehave", {"sleep_ms": 200}) for _ in range(5)]
    results = [f.result(timeout=5) for f in futures]
    assert all(r.ok for r in results)
    assert max(r.elapsed_ms for r in results) < 1500  # ran side by side, not one after another


def test_cancelled_submit_cancels_the_rpc(dispatcher):
    fut = dispatcher.submit("misbehave", {"sleep_ms": 3000})
    assert fut.cancel()
    assert dispatcher.call("echo", {"text": "still fine"}).ok


def test_dead_endpoint_is_reported_not_raised(echo_server):
    from tests.helpers import free_port

    dead = f"127.0.0.1:{free_port()}"
    d = Dispatcher.connect([dead, f"127.0.0.1:{echo_server.port}"], discover_timeout=0.5)
    try:
        assert d.status()[dead] != "ok"
        assert d.call("echo", {"text": "a"}).ok
        assert d.call("nope", {}).code == "UNKNOWN_TOOL"
    finally:
        d.close()


def test_a_service_that_starts_late_joins_in_the_background(echo_build):
    from centralita.server import ServiceSpec, start_server
    from centralita_fixtures.echo_service import make_servicer
    from tests.helpers import free_port

    pb2, pb2_grpc, descriptor_set = echo_build
    port = free_port()
    d = Dispatcher.connect([f"127.0.0.1:{port}"], discover_timeout=0.3, retry_interval=0.2)
    try:
        assert d.tools() == [] and d.call("echo", {"text": "a"}).code == "UNKNOWN_TOOL"
        spec = ServiceSpec(
            pb2.DESCRIPTOR.services_by_name["EchoService"],
            make_servicer(pb2, pb2_grpc),
            pb2_grpc.add_EchoServiceServicer_to_server,
        )
        server = start_server([spec], port=port, host="127.0.0.1", descriptor_set=descriptor_set)
        try:
            for _ in range(50):
                if d.tools():
                    break
                time.sleep(0.1)
            assert [t.name for t in d.tools()] == ["echo", "edge_cases", "misbehave"]
            assert d.call("echo", {"text": "ya estoy"}).output == {"text": "ya estoy"}
        finally:
            server.drain_and_stop(grace=0.2)
    finally:
        d.close()
