"""The real process: ``centralita serve mikrotik_tool`` configured from the environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from centralita.mikrotik.v1 import mikrotik_pb2, mikrotik_pb2_grpc
from centralita.tools.v1 import tools_pb2, tools_pb2_grpc
from tests.helpers import REPO_ROOT, free_port

from .conftest import SERVICE


@pytest.mark.parametrize("tools_enabled", ["true", "false"])
def test_serve_reads_the_environment_and_drains_on_sigterm(sim, tools_enabled):
    port = free_port()
    env = {
        **os.environ,
        "MIKROTIK_API_URL": sim.url,
        "MIKROTIK_TOOL_PORT": str(port),
        "MIKROTIK_TOOL_METRICS_PORT": str(free_port()),
        "GRPC_BIND_HOST": "127.0.0.1",
        "ENABLE_MIKROTIK_TOOLS": tools_enabled,
        "MIKROTIK_POOL_SIZE": "2",
        "GRPC_DRAIN_GRACE": "2",
        "CENTRALITA_ENV_FILE": os.devnull,  # no developer's .env in a test
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "centralita_suite.cli", "serve", "mikrotik_tool"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=20)
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        tools = tools_pb2_grpc.ToolCatalogServiceStub(channel).ListTools(tools_pb2.ListToolsRequest(), timeout=5)
        assert [t.name for t in tools.tools] == (["consultar_mikrotik"] if tools_enabled == "true" else [])
        stub = mikrotik_pb2_grpc.MikrotikServiceStub(channel)
        reply = stub.ConsultarMikrotik(mikrotik_pb2.ConsultarMikrotikRequest(question="¿Qué routers hay?"), timeout=5)
        assert "192.168.26.1" in reply.response
        assert sim.queries == 1
    finally:
        channel.close()
        proc.send_signal(signal.SIGTERM)
        try:
            output, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
    assert proc.returncode == 0, output
    assert "pool 2" in output and "stopped" in output
    assert ("tools on" if tools_enabled == "true" else "tools OFF") in output
