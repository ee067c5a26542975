"""``centralita chat`` as a subprocess, against the fake Chat Completions server and live tools."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from centralita_fixtures import fake_chat
from centralita_fixtures.fake_chat import API_KEY, FakeChat
from tests.helpers import REPO_ROOT, free_port


@pytest.fixture
def fake():
    with FakeChat() as server:
        yield server
        assert server.invalid == [], server.invalid


def run_chat(args: list[str], env_extra: dict[str, str], stdin: str = "", timeout: float = 30):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CHAT_", "PROFILES_", "TOOL_"))}
    env.update({"CENTRALITA_ENV_FILE": os.devnull, "LOG_LEVEL": "INFO", **env_extra})
    return subprocess.run(
        [sys.executable, "-m", "centralita_suite.cli", "chat", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=timeout,
    )


def chat_env(fake: FakeChat, endpoints: list[str]) -> dict[str, str]:
    return {
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": API_KEY,
        "CHAT_MODEL": "fake-model",
        "TOOL_ENDPOINTS": ",".join(endpoints),
    }


def test_once_answers_on_stdout_with_a_live_tool(fake, endpoints):
    args = json.dumps(
        {
            "query": "¿Cuántas normativas hay?",
            "filters": None,
            "operation": "count",
            "group_by": None,
            "order": None,
            "limit": None,
        }
    )
    fake.add(
        fake_chat.tool_calls(("query_metadata_sql", args)),
        lambda body: fake_chat.text(f"Hay {json.loads(body['messages'][-1]['content'])['total']} normativas."),
    )
    proc = run_chat(["--once", "¿Cuántas normativas hay?"], chat_env(fake, endpoints))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Hay 80 normativas.\n"  # only the answer on stdout
    assert "[herramienta] query_metadata_sql" in proc.stderr
    assert "tools used: query_metadata_sql" in proc.stderr  # the per-answer log line
    assert API_KEY not in proc.stderr and API_KEY not in proc.stdout
    assert fake.requests[0]["messages"][0]["role"] == "system"  # the legal profile's instructions


def test_once_fails_with_a_non_zero_exit(fake, endpoints):
    fake.add(fake_chat.http_error(500, "The server had an error", "server_error"))
    proc = run_chat(["--once", "hola"], chat_env(fake, endpoints))
    assert proc.returncode == 1 and proc.stdout == ""
    assert "HTTP 500" in proc.stderr and "Traceback" not in proc.stderr


def test_once_with_an_empty_answer_fails(fake, endpoints):
    fake.add(fake_chat.text(""))
    proc = run_chat(["--once", "hola"], chat_env(fake, endpoints))
    assert proc.returncode == 1 and "empty answer" in proc.stderr


def test_once_with_profile_and_model_options(fake, endpoints):
    fake.add(fake_chat.text("Hola, soporte."))
    proc = run_chat(["--once", "hola", "--profile", "soporte_isp", "--model", "other-model"], chat_env(fake, endpoints))
    assert proc.returncode == 0, proc.stderr
    body = fake.requests[0]
    assert body["model"] == "other-model" and "MikroTik" in body["messages"][0]["content"]
    assert "tools" not in body  # soporte_isp allows only consultar_mikrotik, which is not running here


def test_once_with_an_unknown_profile(fake, endpoints):
    proc = run_chat(["--once", "hola", "--profile", "nope"], chat_env(fake, endpoints))
    assert proc.returncode == 2 and "profile 'nope' is not defined" in proc.stderr and fake.requests == []


def test_bad_configuration_is_reported_without_a_traceback(fake, endpoints):
    proc = run_chat(["--once", "hola"], {**chat_env(fake, endpoints), "CHAT_MAX_TOOL_ROUNDTRIPS": "tres"})
    assert proc.returncode == 2 and "CHAT_MAX_TOOL_ROUNDTRIPS" in proc.stderr and "Traceback" not in proc.stderr


def test_once_without_a_key(endpoints):
    proc = run_chat(["--once", "hola"], {"TOOL_ENDPOINTS": ",".join(endpoints)})
    assert proc.returncode == 2 and "OPENAI_API_KEY" in proc.stderr


def test_once_with_an_unreachable_endpoint(endpoints):
    env = {
        "OPENAI_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
        "OPENAI_API_KEY": API_KEY,
        "TOOL_ENDPOINTS": ",".join(endpoints),
    }
    proc = run_chat(["--once", "hola"], env)
    assert proc.returncode == 1 and "cannot reach the chat endpoint" in proc.stderr


def test_interactive_keeps_history_and_exits_on_eof(fake, endpoints):
    fake.add(
        fake_chat.tool_calls(("get_database_stats", "{}")),
        lambda body: fake_chat.text("Hay datos de varios municipios."),
        lambda body: fake_chat.text(f"Me preguntaste {sum(m['role'] == 'user' for m in body['messages'])} cosas."),
    )
    proc = run_chat([], chat_env(fake, endpoints), stdin="¿Qué municipios hay?\n\n¿Y cuántas preguntas van?\n")
    assert proc.returncode == 0, proc.stderr
    assert "[herramienta] get_database_stats {}" in proc.stdout
    assert "Hay datos de varios municipios." in proc.stdout and "Me preguntaste 2 cosas." in proc.stdout
    third = fake.requests[2]["messages"]
    assert [m["role"] for m in third] == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert "Ctrl-D" in proc.stderr


def test_interactive_reports_an_error_and_goes_on(fake, endpoints):
    fake.add(fake_chat.http_error(429, "Rate limit reached"), fake_chat.text("Ahora sí."))
    proc = run_chat([], chat_env(fake, endpoints), stdin="uno\ndos\n")
    assert proc.returncode == 0
    assert "[error]" in proc.stderr and "Rate limit reached" in proc.stderr
    assert "Ahora sí." in proc.stdout
    assert [m["role"] for m in fake.requests[1]["messages"]] == ["system", "user"]  # the failed turn is dropped


def test_register_plugs_into_the_centralita_parser():
    from centralita_suite import cli as centralita_cli

    assert "chat.cli" in centralita_cli.PART_CLIS
    parser = centralita_cli.build_parser()
    once = parser.parse_args(["chat", "--once", "hola", "--profile", "soporte_isp"])
    assert once.once == "hola" and once.profile == "soporte_isp" and callable(once.func)
    mcp = parser.parse_args(["mcp", "--transport", "http", "--port", "9000"])
    assert (mcp.transport, mcp.port) == ("http", 9000) and callable(mcp.func)
    with pytest.raises(SystemExit):
        parser.parse_args(["mcp", "--transport", "carrier-pigeon"])
