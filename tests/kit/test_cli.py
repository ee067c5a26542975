"""The CLI as a user runs it: a subprocess against a live kit-built server."""

from __future__ import annotations

import json
import subprocess
import sys


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "centralita.cli", *args], capture_output=True, text=True, timeout=60)


def test_tools_from_live_endpoints(echo_server):
    result = _cli("tools", "--format", "chat", "--strict", "--endpoints", f"127.0.0.1:{echo_server.port}")
    assert result.returncode == 0, result.stderr
    tools = json.loads(result.stdout)
    assert [t["function"]["name"] for t in tools] == ["echo", "edge_cases", "misbehave"]
    assert tools[0]["function"]["strict"] is True
    assert tools[0]["function"]["parameters"]["required"] == ["text"]


def test_tools_from_a_dead_endpoint_fails_with_a_clear_message():
    from tests.helpers import free_port

    result = _cli("tools", "--endpoints", f"127.0.0.1:{free_port()}", "--timeout", "0.5")
    assert result.returncode == 1
    assert "UNAVAILABLE" in result.stderr


def test_call_prints_the_response(echo_server):
    result = _cli("call", "echo", '{"text": "¿hola?"}', "--endpoints", f"127.0.0.1:{echo_server.port}")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"text": "¿hola?"}


def test_call_with_bad_arguments_exits_non_zero_with_the_readable_error(echo_server):
    result = _cli("call", "echo", '{"texto": 1}', "--endpoints", f"127.0.0.1:{echo_server.port}")
    assert result.returncode == 1
    assert json.loads(result.stdout)["error"]["code"] == "INVALID_ARGUMENT"
    assert "unknown field `texto`" in result.stderr
