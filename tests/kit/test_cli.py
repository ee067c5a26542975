"""The CLI as a user runs it: a subprocess against a live kit-built server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "centralita_suite.cli", *args], capture_output=True, text=True, timeout=60, env=env
    )


def _env(**changes: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ENABLE_MIKROTIK_TOOLS"}
    return {**env, "CENTRALITA_ENV_FILE": os.devnull, **changes}


@pytest.mark.parametrize("enabled", [None, "true", "false"])
def test_local_tools_honour_the_environment_and_say_where_they_come_from(enabled):
    env = _env() if enabled is None else _env(ENABLE_MIKROTIK_TOOLS=enabled)
    result = _cli("tools", "--format", "realtime", env=env)
    assert result.returncode == 0, result.stderr
    names = [t["name"] for t in json.loads(result.stdout)]  # stdout is JSON only
    assert {"query_metadata_sql", "search_content", "get_database_stats"} <= set(names)
    assert ("consultar_mikrotik" in names) is (enabled != "false")
    assert "from the local protos" in result.stderr
    if enabled == "false":
        assert "left out: consultar_mikrotik (ENABLE_MIKROTIK_TOOLS=false)" in result.stderr
    else:
        assert "left out" not in result.stderr


def test_local_tools_refuse_a_bad_switch():
    result = _cli("tools", env=_env(ENABLE_MIKROTIK_TOOLS="quizás"))
    assert result.returncode == 2
    assert "ENABLE_MIKROTIK_TOOLS" in result.stderr and result.stdout == ""


def test_tools_from_live_endpoints(echo_server):
    result = _cli("tools", "--format", "chat", "--strict", "--endpoints", f"127.0.0.1:{echo_server.port}")
    assert result.returncode == 0, result.stderr
    tools = json.loads(result.stdout)
    assert [t["function"]["name"] for t in tools] == ["echo", "edge_cases", "misbehave"]
    assert tools[0]["function"]["strict"] is True
    assert tools[0]["function"]["parameters"]["required"] == ["text"]
    assert f"3 tool(s) from the live endpoints 127.0.0.1:{echo_server.port}" in result.stderr


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
