"""mikrotik_tool called from Node's @grpc/grpc-js, loading the .proto files of protos/."""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2

from centralita.server import start_server
from centralita_fixtures.mikrotik_simulator import MikrotikSimulator
from mikrotik_tool.queries import MikrotikQueries
from mikrotik_tool.server import service_spec, tool_filter
from mikrotik_tool.settings import Settings
from tests.helpers import REPO_ROOT, require

pytestmark = pytest.mark.node
SCRIPT = Path(__file__).with_name("mikrotik_grpc_js.js")
QUESTION = "¿Cuántos clientes activos hay en router-146?"


def _node_ready() -> tuple[bool, str]:
    if shutil.which("node") is None:
        return False, "node is not installed"
    for package in ("@grpc/grpc-js", "@grpc/proto-loader"):
        if not (REPO_ROOT / "node_modules" / package / "package.json").is_file():
            return False, f"{package} is missing from node_modules (run npm ci)"
    return True, ""


def _health_descriptor_set(path: Path) -> Path:
    """grpc.health.v1 as a FileDescriptorSet, taken from the installed grpcio-health-checking."""
    fds = descriptor_pb2.FileDescriptorSet()
    fds.file.append(descriptor_pb2.FileDescriptorProto.FromString(health_pb2.DESCRIPTOR.serialized_pb))
    path.write_bytes(fds.SerializeToString())
    return path


def test_grpc_js_calls_health_and_consultar_mikrotik(tmp_path):
    ready, reason = _node_ready()
    require(ready, reason)
    with MikrotikSimulator(fault="slow", match="trafico", slow_seconds=5) as sim:
        settings = Settings(api_url=sim.url, cache_ttl=30)
        queries = MikrotikQueries(settings)
        running = start_server([service_spec(queries)], port=0, host="127.0.0.1", tool_filter=tool_filter(settings))
        try:
            config = {
                "target": f"127.0.0.1:{running.port}",
                "includeDirs": [str(REPO_ROOT / "protos"), str(resources.files("grpc_tools") / "_proto")],
                "healthDescriptorSet": str(_health_descriptor_set(tmp_path / "health.binpb")),
                "question": QUESTION,
                "slowQuestion": "¿Cuál es el tráfico de la interfaz WAN?",
            }
            config_path = tmp_path / "config.json"
            config_path.write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
            proc = subprocess.run(
                ["node", str(SCRIPT), str(config_path)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
            )
        finally:
            running.server.stop(0)
            queries.close()
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        assert sim.queries == 2  # the second identical question came from the cache; then the slow one

    assert out["healthOverall"] == {"ok": True, "reply": {"status": "SERVING"}}
    assert out["healthService"] == {"ok": True, "reply": {"status": "SERVING"}}
    assert out["healthUnknown"]["ok"] is False and out["healthUnknown"]["codeName"] == "NOT_FOUND"
    answer = out["answer"]["reply"]
    assert answer["response"] == "En el router FIBRA OPTICA hay 221 clientes activos."
    assert answer["cached"] is False and answer["upstream_ms"] > 0
    again = out["again"]["reply"]
    assert again["cached"] is True and again["age_seconds"] >= 0 and again["upstream_ms"] == 0
    empty = out["empty"]
    assert empty["ok"] is False and empty["codeName"] == "INVALID_ARGUMENT"
    assert "¿Puedes repetirla" in empty["details"]
    slow = out["slow"]
    assert slow["ok"] is False and slow["codeName"] == "DEADLINE_EXCEEDED"
    assert "la consulta tardó demasiado" in slow["details"]  # our sentence, not the client's own deadline
    assert slow["elapsedMs"] < 1000
    api = out["apiHealth"]["reply"]
    assert api["healthy"] is True and api["service"] == "MikroTik API" and api["version"] == "1.0"
