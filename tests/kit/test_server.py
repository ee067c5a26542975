"""The kit's server as a generic gRPC client sees it: reflection, health, drain, metrics, logs."""

from __future__ import annotations

import logging
import os
import threading
import urllib.request

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

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
