"""`centralita run` (what `make run` starts) brings the suite up and SIGINT (Ctrl-C) takes it down."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from centralita.dispatcher import Dispatcher
from tests.helpers import free_port


def _serving(port: int) -> bool:
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            status = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=1).status
            return status == health_pb2.HealthCheckResponse.SERVING
    except grpc.RpcError:
        return False


def _http_ok(port: int) -> bool:
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).status == 200
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_run_starts_the_suite_and_ctrl_c_stops_every_process(tmp_path):
    ports = {name: free_port() for name in ("sim", "mk", "mk_m", "legal", "legal_m", "gw")}
    rtp = free_port(kind=2)
    env = {k: v for k, v in os.environ.items() if k != "MIKROTIK_API_URL"}
    env.update(
        MIKROTIK_SIM_PORT=str(ports["sim"]),
        MIKROTIK_TOOL_PORT=str(ports["mk"]),
        MIKROTIK_TOOL_METRICS_PORT=str(ports["mk_m"]),
        LEGAL_SEARCH_PORT=str(ports["legal"]),
        LEGAL_SEARCH_METRICS_PORT=str(ports["legal_m"]),
        GATEWAY_HTTP_PORT=str(ports["gw"]),
        GRPC_BIND_HOST="127.0.0.1",
        GATEWAY_HTTP_HOST="127.0.0.1",
        LEGAL_DATA_DIR=str(tmp_path / "data"),
        LEGAL_SAMPLE_DOCS="150",
        ARI_URL=f"http://127.0.0.1:{free_port()}",
        RTP_PORT_MIN=str(rtp),
        RTP_PORT_MAX=str(rtp),
        TOOL_ENDPOINTS=f"127.0.0.1:{ports['mk']},127.0.0.1:{ports['legal']}",
        GRPC_DRAIN_DELAY="0.2",
        CENTRALITA_ENV_FILE=str(tmp_path / "none.env"),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "centralita_suite.cli", "run"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not (
            _serving(ports["mk"]) and _serving(ports["legal"]) and _http_ok(ports["gw"])
        ):
            assert proc.poll() is None, "".join(lines)
            time.sleep(0.3)
        assert _serving(ports["mk"]) and _serving(ports["legal"]) and _http_ok(ports["gw"]), "".join(lines)
        with Dispatcher.connect(env["TOOL_ENDPOINTS"].split(",")) as tools:
            mikrotik = tools.call("consultar_mikrotik", {"question": "¿Qué routers están configurados?"})
            assert mikrotik.ok and "FIBRA OPTICA" in mikrotik.output["response"]
            stats = tools.call("get_database_stats", {})
            assert stats.ok and stats.output["total_documents"] == 150
        proc.send_signal(signal.SIGINT)
        assert proc.wait(45) == 0, "".join(lines)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(5)
    log = "".join(lines)
    assert "SIMULATOR" in log  # said loudly when MIKROTIK_API_URL is unset
    pids = [int(p) for p in re.findall(r"started \S+ \(pid (\d+)\)", log)]
    assert len(pids) == 4
    assert not [p for p in pids if _alive(p)]
