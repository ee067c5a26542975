"""Small pieces: normalisation, adaptive timeout, settings, sentences, no secrets in logs, CLI."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time

import grpc
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from mikrotik_tool.client import MikrotikClient, safe_url
from mikrotik_tool.errors import ApiFailed, ApiTimeout
from mikrotik_tool.normalize import normalize_question
from mikrotik_tool.queries import reply_margin
from mikrotik_tool.settings import Settings
from mikrotik_tool.timeouts import effective_timeout, is_broad
from tests.helpers import REPO_ROOT, free_port

from .conftest import details


@pytest.mark.parametrize(
    "text",
    [
        "¿Cuántos clientes activos hay en router-146?",
        "cuantos clientes activos hay en router 146",
        "  CUÁNTOS   clientes, activos hay en Router_146 ?? ",
        "¿Cuántos clientes activos hay en ROUTER-146!",
    ],
)
def test_normalisation_merges_trivial_differences(text):
    assert normalize_question(text) == "cuantos clientes activos hay en router 146"


def test_normalisation_keeps_real_differences():
    assert normalize_question("router 146") != normalize_question("router 150")
    assert normalize_question("¿Qué routers?") != normalize_question("¿Qué routers están configurados?")


def test_broad_questions():
    assert is_broad("Dame el estado completo de la red")
    assert is_broad("¿Cuántos clientes hay en TODOS los routers?")
    assert not is_broad("¿Cuántos clientes activos hay en router-146?")
    assert not is_broad("¿Cuál es el tráfico total?")  # "total" is a word, not "todos"


def test_effective_timeout_caps():
    kw = {"simple": 10.0, "broad": 25.0}
    assert effective_timeout("clientes en router-146", requested=None, remaining=None, **kw) == 10.0
    assert effective_timeout("todos los clientes", requested=None, remaining=None, **kw) == 25.0
    assert effective_timeout("todos los clientes", requested=15, remaining=None, **kw) == 15.0
    assert effective_timeout("todos los clientes", requested=15, remaining=4.5, **kw) == 4.5
    assert effective_timeout("clientes", requested=None, remaining=-1.0, **kw) == 0.0
    assert reply_margin(30.0) == 0.25 and reply_margin(0.2) == 0.05


def test_the_api_receives_the_adaptive_timeout(service, sim):
    service.ask("¿Cuántos clientes activos hay en router-146?", deadline=60)
    service.ask("Dame el detalle completo de todos los clientes", deadline=60)
    service.ask("¿Qué routers están configurados?", timeout=5, deadline=60)
    service.ask("¿Cuál es el tráfico de la interfaz WAN?", deadline=3.0)
    assert [t for _, t in sim.questions] == [10, 25, 5, 2]


def test_no_time_left_is_a_timeout_without_calling_the_api(service, sim):
    error, took = service.fail("¿Qué routers están configurados?", deadline=0.04)
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert took < 0.5
    assert sim.queries == 0


def test_client_refuses_a_spent_budget(sim):
    client = MikrotikClient(sim.url)

    async def scenario():
        with pytest.raises(ApiTimeout):
            await client.query("¿Qué routers?", timeout=0)
        assert (await client.health(timeout=0)).healthy is False
        await client.aclose()

    asyncio.run(scenario())
    assert sim.requests_served == 0


def test_settings_from_env():
    settings = Settings.from_env(
        {
            "MIKROTIK_API_URL": "http://10.0.0.5:5050/",
            "ENABLE_MIKROTIK_TOOLS": "false",
            "MIKROTIK_CACHE_TTL": "0",
            "MIKROTIK_POOL_SIZE": "3",
            "MIKROTIK_TOOL_PORT": "6000",
            "MIKROTIK_MAX_CONNECTIONS": "12",
            "MIKROTIK_MAX_WAITING": "40",
        }
    )
    assert (settings.max_connections, settings.max_waiting) == (12, 40)
    assert settings.api_url == "http://10.0.0.5:5050" and settings.api_url_set
    assert settings.enable_tools is False and settings.cache_ttl == 0 and settings.pool_size == 3
    assert settings.port == 6000 and settings.metrics_port == 9101
    defaults = Settings.from_env({})
    assert defaults.api_url == "http://192.168.1.100:5050" and not defaults.api_url_set
    assert defaults.enable_tools and defaults.cache_ttl == 30 and defaults.pool_size == 8
    assert (defaults.max_connections, defaults.max_waiting) == (32, 1000)
    with pytest.raises(ValueError, match="MIKROTIK_CACHE_TTL"):
        Settings.from_env({"MIKROTIK_CACHE_TTL": "soon"})


def test_api_failure_message_is_cleaned():
    error = ApiFailed("Router\n   caído\t" + "x" * 500)
    assert "\n" not in error.sentence and len(error.sentence) < 250
    assert error.sentence.startswith("Lo siento, hubo un problema: Router caído")
    assert ApiFailed("").sentence.startswith("Lo siento, hubo un problema al consultar")


def test_no_credentials_in_logs_or_sentences(make_service, sim, caplog):
    url = sim.url.replace("http://", "http://admin:s3cr3t-pw@")
    service = make_service(api_url=url)
    assert "221" in service.ask("¿Cuántos clientes activos hay en router-146?").response
    sim.stop()
    caplog.set_level(logging.DEBUG)
    error, _ = service.fail("¿Qué routers están configurados?")
    assert "s3cr3t" not in details(error) and "admin" not in details(error)
    assert "s3cr3t" not in caplog.text
    assert safe_url(url) == sim.url


def test_async_servicer_logs_failures_at_info_and_successes_only_at_debug(make_service, caplog):
    method = "/centralita.mikrotik.v1.MikrotikService/ConsultarMikrotik"

    def logged(level: int) -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelno == level and r.getMessage().startswith(method)]

    service = make_service()
    caplog.set_level(logging.INFO, logger="centralita.server")
    service.ask("¿Qué routers están configurados?")
    service.ask("¿Qué routers están configurados?")  # cached
    service.fail("¿?")  # no letters or digits: INVALID_ARGUMENT
    # The status may reach us before the server's thread writes the line: wait for it, not for time.
    deadline = time.monotonic() + 10
    while not logged(logging.INFO) and time.monotonic() < deadline:
        time.sleep(0.02)
    (line,) = logged(logging.INFO)
    assert " INVALID_ARGUMENT " in line and line.endswith("ms")

    caplog.set_level(logging.DEBUG, logger="centralita.server")
    service.ask("¿Qué routers están configurados?")
    deadline = time.monotonic() + 10
    while not logged(logging.DEBUG) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [" OK " in line for line in logged(logging.DEBUG)] == [True]


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_cli_runs_the_simulator_and_its_control_endpoint(stop_signal):
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "centralita_suite.cli", "mikrotik-sim", "--port", str(port), "--latency", "0.01"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                health = requests.get(f"{base}/health", timeout=1)
                break
            except requests.ConnectionError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "simulator did not start"
                time.sleep(0.1)
        assert health.json() == {"status": "ok", "service": "MikroTik API", "version": "1.0"}
        reply = requests.post(f"{base}/query", json={"question": "¿Cuál es el tráfico de la interfaz WAN?"}, timeout=2)
        assert reply.json()["success"] is True and "45.3" in reply.json()["response"]
        control = requests.post(f"{base}/_sim/config", json={"fault": "500"}, timeout=2)
        assert control.json()["config"]["fault"] == "500"
        assert requests.get(f"{base}/health", timeout=2).status_code == 500
        stats = requests.get(f"{base}/_sim/stats", timeout=2).json()
        assert stats["requests"] == 3 and stats["faults"] == 1
        bad = requests.post(f"{base}/_sim/config", data=json.dumps({"fault": "nonsense"}), timeout=2)
        assert bad.status_code == 400
    finally:
        proc.send_signal(stop_signal)  # SIGTERM from the suite supervisor, SIGINT from Ctrl-C
        try:
            output, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
    assert proc.returncode == 0
    assert "SIMULATOR" in output


def test_a_call_without_deadline_uses_the_adaptive_timeout(service, sim):
    from centralita.mikrotik.v1 import mikrotik_pb2

    reply = service.stub.ConsultarMikrotik(mikrotik_pb2.ConsultarMikrotikRequest(question="¿Qué routers hay?"))
    assert "FIBRA OPTICA" in reply.response
    assert sim.questions[-1][1] == 10


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_normalisation_is_idempotent_and_tidy(text):
    once = normalize_question(text)
    assert normalize_question(once) == once
    assert once == once.strip() and "  " not in once
    assert normalize_question(text.upper()) == normalize_question(text.lower()) or not text.isascii()
    assert not any(ch in once for ch in "¿?¡!.,;:-_()\"'")
