"""Every process as it runs in production (``centralita serve …``), after real traffic, scraped over HTTP.

mikrotik_tool (over its simulator) and legal_search (a small generated corpus) are real processes; the
gateway process takes one call from the fake Asterisk, whose Realtime session (fake Realtime server) asks
for ``consultar_mikrotik`` once, then hangs up. The scrapes are taken once per session.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from centralita_fixtures.fake_realtime import API_KEY, FakeConnection, FakeRealtimeServer
from centralita_fixtures.legal_sample import generate
from tests.helpers import REPO_ROOT, free_port, udp_port_range

GREETING = bytes(range(0, 250)) * 4  # 125 ms
ANSWER = bytes([0x55]) * 1600  # 200 ms
QUESTION = "¿Qué routers hay?"
# The answer's response.done carries a full usage breakdown; the fake's other responses send only totals.
USAGE = {
    "total_tokens": 1500,
    "input_tokens": 1200,
    "output_tokens": 300,
    "input_token_details": {
        "text_tokens": 400,
        "audio_tokens": 800,
        "cached_tokens": 600,
        "cached_tokens_details": {"text_tokens": 300, "audio_tokens": 300},
    },
    "output_token_details": {"text_tokens": 50, "audio_tokens": 250},
}
RTP_PORTS = 4
GREETED = threading.Event()  # the caller heard the whole greeting: the script may speak (no barge-in)


@dataclass
class Scrape:
    text: str

    @property
    def families(self) -> dict[str, str]:
        """Family name → type, as the exposition declares them (``# TYPE``)."""
        return {f.name: f.type for f in text_string_to_metric_families(self.text)}

    def value(self, name: str, **labels: str) -> float:
        """The sample ``name`` with exactly ``labels``; 0 when absent (a counter not yet incremented)."""
        for family in text_string_to_metric_families(self.text):
            for s in family.samples:
                if s.name == name and s.labels == labels:
                    return s.value
        return 0.0


def scrape(url: str) -> Scrape:
    return Scrape(requests.get(url, timeout=5).text)


def wait_until(pred, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: the process exited ({proc.returncode}): {proc.stdout.read()}")
        try:
            if pred():
                return
        except (requests.RequestException, grpc.RpcError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def spawn(service: str, env: dict[str, str]) -> subprocess.Popen:
    full = {**os.environ, "CENTRALITA_ENV_FILE": os.devnull, "GRPC_BIND_HOST": "127.0.0.1", **env}
    return subprocess.Popen(
        [sys.executable, "-m", "centralita_suite.cli", "serve", service],
        cwd=REPO_ROOT,
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def script(conn: FakeConnection) -> None:
    conn.handshake()
    conn.speak(conn.expect("response.create"), GREETING)
    assert GREETED.wait(10), "greeting never heard"
    iid = conn.speech_started(500)
    conn.speech_stopped(iid, 1500)
    # gate off: the server creates the turn's response itself (create_response), as on a real line
    conn.function_calls(None, [("call_m", "consultar_mikrotik", json.dumps({"question": QUESTION}))])
    rid = conn.response_created(conn.expect("response.create", timeout=10))
    item = conn.audio_done(rid, conn.audio_item(rid, ANSWER))
    response = {"id": rid, "object": "realtime.response", "status": "completed", "output": [item], "usage": USAGE}
    conn.send({"type": "response.done", "response": response})


@dataclass
class Served:
    gateway: Scrape
    mikrotik: Scrape
    legal_search: Scrape
    conn: FakeConnection
    mikrotik_answer: str
    legal_results: int

    def all(self) -> dict[str, Scrape]:
        return {"call_gateway": self.gateway, "mikrotik_tool": self.mikrotik, "legal_search": self.legal_search}


@pytest.fixture(scope="session")
def served(tmp_path_factory) -> Iterator[Served]:
    from centralita.legal.v1 import legal_pb2, legal_pb2_grpc
    from centralita.mikrotik.v1 import mikrotik_pb2, mikrotik_pb2_grpc
    from centralita_fixtures.fake_asterisk import FakeAsterisk
    from centralita_fixtures.mikrotik_simulator import MikrotikSimulator
    from tests.helpers import require_ari_docs

    procs: list[subprocess.Popen] = []
    sim = MikrotikSimulator()
    sim.start()
    asterisk = FakeAsterisk(require_ari_docs(), kernel_timestamps=True)
    realtime = FakeRealtimeServer(script, script_timeout=20).__enter__()
    try:
        mk_port, mk_metrics = free_port(), free_port()
        procs.append(
            spawn(
                "mikrotik_tool",
                {
                    "MIKROTIK_API_URL": sim.url,
                    "MIKROTIK_TOOL_PORT": str(mk_port),
                    "MIKROTIK_TOOL_METRICS_PORT": str(mk_metrics),
                },
            )
        )
        data = tmp_path_factory.mktemp("legal-observability")
        docs = data / "docs.jsonl"
        docs.write_text("\n".join(json.dumps(d) for d, _ in generate(40, seed=2)) + "\n", encoding="utf-8")
        lg_port, lg_metrics = free_port(), free_port()
        legal_env = {
            "LEGAL_DATA_DIR": str(data / "run"),
            "LEGAL_DB_URL": "",
            "LEGAL_INDEX_DIR": "",
            "LEGAL_SEARCH_PORT": str(lg_port),
            "LEGAL_SEARCH_METRICS_PORT": str(lg_metrics),
            "CENTRALITA_ENV_FILE": os.devnull,
        }
        subprocess.run(
            [sys.executable, "-m", "centralita_suite.cli", "ingest", "--no-progress", str(docs)],
            env={**os.environ, **legal_env},
            cwd=REPO_ROOT,
            check=True,
            capture_output=True,
            timeout=180,
        )
        procs.append(spawn("legal_search", legal_env))

        mk_channel = grpc.insecure_channel(f"127.0.0.1:{mk_port}")
        grpc.channel_ready_future(mk_channel).result(timeout=30)
        lo, hi = udp_port_range(RTP_PORTS)
        http = free_port()
        gw = spawn(
            "call_gateway",
            {
                "ARI_URL": asterisk.url,
                "ARI_APP": "centralita",
                "ASTERISK_USERNAME": asterisk.username,
                "ASTERISK_PASSWORD": asterisk.password,
                "EXTERNAL_MEDIA_HOST": "127.0.0.1",
                "RTP_BIND_HOST": "127.0.0.1",
                "RTP_PORT_MIN": str(lo),
                "RTP_PORT_MAX": str(hi),
                "GATEWAY_HTTP_PORT": str(http),
                "GATEWAY_HTTP_HOST": "127.0.0.1",
                "OPENAI_REALTIME_URL": realtime.url,
                "OPENAI_API_KEY": API_KEY,
                "TOOL_ENDPOINTS": f"127.0.0.1:{mk_port}",
                "GATEWAY_DRAIN_SECONDS": "1",
                "REALTIME_BARGE_IN_GATE_MS": "0",  # scripted speech events, no voice on the line
                "REALTIME_HOLDING_DELAY": "30",  # no holding phrase: the responses are exactly the script's
            },
        )
        procs.append(gw)
        base = f"http://127.0.0.1:{http}"
        wait_until(lambda: requests.get(base + "/readyz", timeout=1).status_code == 200, 30, "gateway ready", gw)

        cid = asterisk.new_call("3241000752")  # soporte_isp: consultar_mikrotik
        wait_until(lambda: asterisk.leg_for_caller(cid) is not None, 10, "media leg")
        leg = asterisk.leg_for_caller(cid)
        wait_until(lambda: leg.payload_bytes()[: len(GREETING)] == GREETING, 10, "greeting heard")
        GREETED.set()
        conn = realtime.wait(30)
        wait_until(lambda: sum(1 for r in leg.received if r.payload[:1] == b"\x55") >= 8, 10, "answer heard")
        asterisk.caller_hangup(cid)
        wait_until(
            lambda: scrape(base + "/metrics").value("centralita_gateway_realtime_session_cost_usd_count") == 1,
            15,
            "session ended",
            gw,
        )
        # the same question straight to the tool: answered from its cache this time
        mk = mikrotik_pb2_grpc.MikrotikServiceStub(mk_channel)
        answer = mk.ConsultarMikrotik(mikrotik_pb2.ConsultarMikrotikRequest(question=QUESTION), timeout=10).response
        mk_channel.close()
        lg_channel = grpc.insecure_channel(f"127.0.0.1:{lg_port}")
        legal = legal_pb2_grpc.LegalSearchServiceStub(lg_channel)
        wait_until(
            lambda: legal.GetDatabaseStats(legal_pb2.GetDatabaseStatsRequest(), timeout=2).total_documents == 40,
            60,
            "legal_search serving",
            procs[1],
        )
        found = legal.SearchContent(legal_pb2.SearchContentRequest(query="habilitación de comercios"), timeout=10)
        lg_channel.close()
        yield Served(
            gateway=scrape(base + "/metrics"),
            mikrotik=scrape(f"http://127.0.0.1:{mk_metrics}/metrics"),
            legal_search=scrape(f"http://127.0.0.1:{lg_metrics}/metrics"),
            conn=conn,
            mikrotik_answer=answer,
            legal_results=len(found.results),
        )
    finally:
        for proc in reversed(procs):
            stop(proc)
        realtime.stop()
        asterisk.stop()
        sim.stop()
