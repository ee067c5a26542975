"""The kit's server as a generic gRPC client sees it: reflection, health, drain, metrics, logs."""

from __future__ import annotations

import logging
import os
import threading
import time
import urllib.request

import grpc
import pytest
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from prometheus_client import REGISTRY

from centralita.config import RedactingFormatter, redact


def test_reflection_client_without_generated_code_lists_and_calls(echo_server):
    with grpc.insecure_channel(f"127.0.0.1:{echo_server.port}") as channel:
        db = ProtoReflectionDescriptorDatabase(channel)
        services = set(db.get_services())
        assert {"echo.v1.EchoService", "centralita.tools.v1.ToolCatalogService", "grpc.health.v1.Health"} <= services
        pool = descriptor_pool.DescriptorPool(db)
        method = pool.FindServiceByName("echo.v1.EchoService").methods_by_name["Internal"]
        request_cls = message_factory.GetMessageClass(method.input_type)
        response_cls = message_factory.GetMessageClass(method.output_type)
        call = channel.unary_unary(
            "/echo.v1.EchoService/Internal",
            request_serializer=request_cls.SerializeToString,
            response_deserializer=response_cls.FromString,
        )
        response = call(json_format.ParseDict({"text": "hola"}, request_cls()), timeout=5)
        assert json_format.MessageToDict(response) == {"text": "internal:hola"}


def _health(port: int, service: str = "") -> int:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2).status


def test_health_per_service_and_not_serving_while_draining(echo_server):
    serving = health_pb2.HealthCheckResponse.SERVING
    assert _health(echo_server.port) == serving
    assert _health(echo_server.port, "echo.v1.EchoService") == serving
    with grpc.insecure_channel(f"127.0.0.1:{echo_server.port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        # An in-flight slow call keeps the server draining while we look at health.
        from echo.v1 import echo_pb2

        in_flight = channel.unary_unary(
            "/echo.v1.EchoService/Misbehave",
            request_serializer=echo_pb2.MisbehaveRequest.SerializeToString,
            response_deserializer=echo_pb2.MisbehaveResponse.FromString,
        ).future(echo_pb2.MisbehaveRequest(sleep_ms=1500), timeout=10)
        drainer = threading.Thread(target=echo_server.drain_and_stop, kwargs={"grace": 5.0, "delay": 0.5})
        drainer.start()
        statuses = set()
        for _ in range(50):
            try:
                statuses.add(stub.Check(health_pb2.HealthCheckRequest(service="echo.v1.EchoService"), timeout=1).status)
            except grpc.RpcError:
                break
            if health_pb2.HealthCheckResponse.NOT_SERVING in statuses:
                break
            threading.Event().wait(0.02)
        assert health_pb2.HealthCheckResponse.NOT_SERVING in statuses
        assert in_flight.result(timeout=10).status == "ok"  # the drain let it finish
        drainer.join(10)


def test_metrics_endpoint_counts_calls(echo_server):
    from centralita.dispatcher import Dispatcher

    with Dispatcher.connect([f"127.0.0.1:{echo_server.port}"]) as d:
        assert d.call("echo", {"text": "x"}).ok
    body = urllib.request.urlopen(f"http://127.0.0.1:{echo_server.metrics_port}/metrics", timeout=5).read().decode()
    assert 'centralita_grpc_server_handled_total{code="OK",method="/echo.v1.EchoService/Echo"}' in body
    assert "centralita_grpc_server_handling_seconds_bucket" in body
    health = urllib.request.urlopen(f"http://127.0.0.1:{echo_server.metrics_port}/healthz", timeout=5)
    assert health.status == 200


def test_one_log_line_per_call_with_status_and_ms(echo_server, caplog):
    from centralita.dispatcher import Dispatcher

    caplog.set_level(logging.INFO, logger="centralita.server")
    with Dispatcher.connect([f"127.0.0.1:{echo_server.port}"]) as d:
        d.call("misbehave", {"fail_with": "NOT_FOUND", "message": "nada"})
    lines = [r.getMessage() for r in caplog.records if "/echo.v1.EchoService/Misbehave" in r.getMessage()]
    assert len(lines) == 1 and " NOT_FOUND " in lines[0] and lines[0].endswith("ms")


def test_a_success_is_logged_only_at_debug_a_failure_at_info(echo_server, caplog):
    """Issue 16: a line per successful call at INFO costs the loop as much as the servicer; failures keep theirs."""
    from centralita.dispatcher import Dispatcher

    def lines(method: str, level: int) -> list[str]:
        return [r.getMessage() for r in caplog.records if method in r.getMessage() and r.levelno == level]

    caplog.set_level(logging.INFO, logger="centralita.server")
    with Dispatcher.connect([f"127.0.0.1:{echo_server.port}"]) as d:
        d.call("echo", {"text": "hola"})
        d.call("misbehave", {"fail_with": "NOT_FOUND", "message": "nada"})
    assert lines("/echo.v1.EchoService/Echo", logging.INFO) == []
    assert len(lines("/echo.v1.EchoService/Misbehave", logging.INFO)) == 1

    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="centralita.server")
    with Dispatcher.connect([f"127.0.0.1:{echo_server.port}"]) as d:
        d.call("echo", {"text": "hola"})
    (line,) = lines("/echo.v1.EchoService/Echo", logging.DEBUG)
    assert " OK " in line and line.endswith("ms")


def test_secrets_are_redacted(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-abcdefghijklmnop")
    monkeypatch.setenv("ASTERISK_PASSWORD", "s3cr3t-pass")
    text = "key sk-proj-abcdefghijklmnop pw s3cr3t-pass url http://asterisk:s3cr3t-pass@pbx:8088 Bearer abc.def"
    out = redact(text)
    assert "abcdefghijklmnop" not in out and "s3cr3t-pass" not in out and "abc.def" not in out
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "connecting with %s", (os.environ["ASTERISK_PASSWORD"],), None
    )
    assert "s3cr3t-pass" not in RedactingFormatter("%(message)s").format(record)


def _echo_server(echo_build, **kwargs):
    from centralita.server import ServiceSpec, start_server
    from centralita_fixtures.echo_service import make_servicer

    pb2, pb2_grpc, descriptor_set = echo_build
    spec = ServiceSpec(
        pb2.DESCRIPTOR.services_by_name["EchoService"],
        make_servicer(pb2, pb2_grpc),
        pb2_grpc.add_EchoServiceServicer_to_server,
    )
    return start_server([spec], port=0, host="127.0.0.1", descriptor_set=descriptor_set, **kwargs)


def _misbehave(channel, pb2):
    return channel.unary_unary(
        "/echo.v1.EchoService/Misbehave",
        request_serializer=pb2.MisbehaveRequest.SerializeToString,
        response_deserializer=pb2.MisbehaveResponse.FromString,
    )


def test_200_concurrent_calls_to_a_sync_servicer_queue_and_are_all_answered(echo_build):
    """Four worker threads, 200 calls of 20 ms at once: they wait their turn, none is refused."""
    pb2 = echo_build[0]
    running = _echo_server(echo_build, max_workers=4)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            call = _misbehave(channel, pb2)
            futures = [call.future(pb2.MisbehaveRequest(sleep_ms=20), timeout=60) for _ in range(200)]
            assert [f.result(timeout=90).status for f in futures] == ["ok"] * 200
    finally:
        running.drain_and_stop(grace=0.5)


def test_calls_beyond_the_admission_bound_are_refused_at_once(echo_build):
    """GRPC_MAX_CONCURRENT_RPCS (here 3) bounds the calls admitted, running or queued; the next one
    gets RESOURCE_EXHAUSTED at once, and capacity comes back when the others finish."""
    pb2 = echo_build[0]
    running = _echo_server(echo_build, max_workers=3, max_concurrent_rpcs=3)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            call = _misbehave(channel, pb2)
            method = {"method": "/echo.v1.EchoService/Misbehave"}
            before = REGISTRY.get_sample_value("centralita_grpc_server_in_progress", method) or 0
            busy = [call.future(pb2.MisbehaveRequest(sleep_ms=2000), timeout=30) for _ in range(3)]
            deadline = time.monotonic() + 10
            while (REGISTRY.get_sample_value("centralita_grpc_server_in_progress", method) or 0) < before + 3:
                assert time.monotonic() < deadline, "the three calls never ran"
                time.sleep(0.01)
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as info:
                call(pb2.MisbehaveRequest(sleep_ms=0), timeout=10)
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert time.monotonic() - started < 1.0
            assert [f.result(timeout=30).status for f in busy] == ["ok"] * 3
            assert call(pb2.MisbehaveRequest(sleep_ms=0), timeout=10).status == "ok"
    finally:
        running.drain_and_stop(grace=0.5)


def test_a_call_queued_past_its_deadline_is_not_run(echo_build, caplog):
    """One worker busy for 0.8 s; a call with a 0.2 s deadline waits behind it and is dropped
    without running (the CPU goes to calls someone still waits for). Under heavy load the first
    call may itself take long: the second still cannot run before its deadline has passed."""
    pb2 = echo_build[0]
    caplog.set_level(logging.INFO, logger="centralita.server")
    running = _echo_server(echo_build, max_workers=1)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            call = _misbehave(channel, pb2)
            method = {"method": "/echo.v1.EchoService/Misbehave"}
            before = REGISTRY.get_sample_value("centralita_grpc_server_in_progress", method) or 0
            first = call.future(pb2.MisbehaveRequest(sleep_ms=800), timeout=30)
            deadline = time.monotonic() + 10
            while (REGISTRY.get_sample_value("centralita_grpc_server_in_progress", method) or 0) < before + 1:
                assert time.monotonic() < deadline, "the first call never ran"
                time.sleep(0.01)
            with pytest.raises(grpc.RpcError) as info:
                call(pb2.MisbehaveRequest(fail_with="CRASH", message="must not run"), timeout=0.2)
            assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert first.result(timeout=30).status == "ok"
            # The worker is free now: a call still queued would run at once. Give it the chance.
            assert call(pb2.MisbehaveRequest(sleep_ms=0), timeout=10).status == "ok"
    finally:
        running.drain_and_stop(grace=0.5)
    assert not any("raised" in r.getMessage() for r in caplog.records)  # the crashing call never ran


def test_an_open_reflection_stream_holds_no_pool_thread_after_stop(echo_server):
    """grpcio-reflection's sync servicer on a grpc.aio server consumes its stream on a pool thread that
    waits on the loop; once the loop is gone that thread waits for ever and interpreter exit joins it."""
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    requests_sent: list[reflection_pb2.ServerReflectionRequest] = []
    more = threading.Event()

    def requests():
        first = reflection_pb2.ServerReflectionRequest(list_services="")
        requests_sent.append(first)
        yield first
        more.wait(30)  # the stream stays open while the server stops

    channel = grpc.insecure_channel(f"127.0.0.1:{echo_server.port}")
    try:
        stream = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(requests(), timeout=30)
        reply = next(stream)
        assert any(s.name == "echo.v1.EchoService" for s in reply.list_services_response.service)
        echo_server.drain_and_stop(grace=0.5)
        pool = echo_server._pool
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(t.is_alive() for t in pool._threads):
            time.sleep(0.05)
        stuck = [t.name for t in pool._threads if t.is_alive()]
        assert stuck == [], f"pool threads still running after stop: {stuck}"
    finally:
        more.set()
        channel.close()
