"""``centralita serve call_gateway`` as a real process: ready once ARI is up, a call whose Realtime
session cannot start is hung up cleanly, SIGTERM drains and exits 0."""

import os
import signal
import subprocess
import sys
import time

import requests

from centralita_fixtures.fake_realtime import API_KEY
from tests.gateway.e2e.harness import wait_for
from tests.helpers import REPO_ROOT, free_port, udp_port_range


def test_serve_process_ready_call_refused_by_realtime_then_sigterm(fake_asterisk):
    lo, hi = udp_port_range(4)
    http = free_port()
    env = {
        **os.environ,
        "ARI_URL": fake_asterisk.url,
        "ARI_APP": "centralita",
        "ASTERISK_USERNAME": fake_asterisk.username,
        "ASTERISK_PASSWORD": fake_asterisk.password,
        "EXTERNAL_MEDIA_HOST": "127.0.0.1",
        "RTP_BIND_HOST": "127.0.0.1",
        "RTP_PORT_MIN": str(lo),
        "RTP_PORT_MAX": str(hi),
        "GATEWAY_HTTP_PORT": str(http),
        "GATEWAY_HTTP_HOST": "127.0.0.1",
        "OPENAI_REALTIME_URL": f"ws://127.0.0.1:{free_port()}/v1/realtime",
        "OPENAI_API_KEY": API_KEY,
        "REALTIME_CONNECT_TIMEOUT": "1",
        "TOOL_ENDPOINTS": f"127.0.0.1:{free_port()}",
        "GATEWAY_DRAIN_SECONDS": "1",
        "CENTRALITA_ENV_FILE": "/nonexistent",
        "ARI_PING_INTERVAL": "1",
        "REALTIME_BARGE_IN_GATE_MS": "200",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "centralita_suite.cli", "serve", "call_gateway"],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{http}"
    try:

        def ready():
            try:
                return requests.get(base + "/readyz", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_for(ready, 20, "/readyz")
        cid = fake_asterisk.new_call("3241000752")
        wait_for(lambda: fake_asterisk.hung_up.get(cid) == "ari", 10, "call without Realtime hung up")
        wait_for(lambda: fake_asterisk.leftovers("centralita-") == {"channels": [], "bridges": []}, 5, "clean")
        ended = 'centralita_gateway_calls_ended_total{outcome="setup_failed"} 1.0'
        # the call is counted once its teardown finishes, which may be just after its last ARI request
        wait_for(lambda: ended in requests.get(base + "/metrics", timeout=2).text, 5, "the ended call counted")
        metrics = requests.get(base + "/metrics", timeout=2).text
        assert ended in metrics
        assert "centralita_gateway_barge_in_gate_ms 200.0" in metrics  # the declared gate (issue 14)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        assert time.monotonic() - started < 10
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    out = proc.stdout.read()
    assert fake_asterisk.password not in out and API_KEY not in out
    assert "gateway stopped" in out
    assert "will be cut off" not in out  # the shipped profiles keep a paused question together
