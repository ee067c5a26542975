"""Turn-taking through the gateway (issue 14): how fast the answer starts once the caller is done, and how
long a noise burst pauses the answer, at 1 and at 50 concurrent calls, on loopback.

Three processes, as in ``bench/calls.py`` (the measuring side does not steal the gateway's GIL):
  * this one: the fake Asterisk and the phone-side RTP peers. Each caller says a real Spanish question
    (espeak-ng, ~1.2 s), waits for the answer, and 600 ms into it makes a 160 ms noise burst;
  * the gateway (``python -m centralita_suite.compose``) with the shipped profiles and its barge-in gate;
  * a fake Realtime server (``--realtime-server``) running the turn detection the gateway configured
    (``FakeVad``): for each finished turn it logs when it sent ``speech_stopped``, and answers the
    gateway's ``response.create`` after ``--model-delay`` with 2.5 s of audio (faster than real time).

Printed per level:
  * turn p50/p99: ``speech_stopped`` sent → first answer packet at the phone (kernel receive time),
    minus the fake model's own delay (``response.create`` received → first audio delta sent): the
    gateway's share (its event handling, ``response.create``, audio into the sink, pacing, RTP);
  * pause p50/p99/max: the longest gap in the answer's packets around the noise, minus one frame: how
    long the caller hears nothing because of the burst (the answer itself is not cut: ``cut`` counts
    calls whose answer did not arrive whole).

    .venv/bin/python bench/turns.py [--levels 1,50] [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _procs import free_port, pct, stop_gateway_rig, wait_for  # bench/ is sys.path[0]

from centralita_fixtures.ports import udp_port_range

ROOT = Path(__file__).resolve().parent.parent

USERNAME, PASSWORD = "bench", "bench-ari-password"
ANSWER_MS = 2500
NOISE_AFTER_S = 0.6
GREETING = bytes([0x13]) * 8 * 300


# ----------------------------------------------------------------------------- fake Realtime process
def run_realtime_server(out_path: str, model_delay: float) -> None:
    import centralita_fixtures.fake_realtime as fr

    fr.check_client_event = lambda event: []  # the tests validate events; the bench only measures
    counter = iter(range(10**9))
    lock = threading.Lock()
    out = open(out_path, "a", buffering=1)  # noqa: SIM115 - line-buffered log for the parent

    def script(conn):
        with lock:
            n = next(counter)
        marker = 0x20 + n % 90  # the answer's byte: which call a packet belongs to
        conn.use_vad()
        conn.handshake(check_headers=False)
        conn.speak(conn.expect("response.create", timeout=30), GREETING, chunk_ms=100)
        turn = conn.next_turn(timeout=60)
        request = conn.expect("response.create", timeout=10)
        received = time.time()
        time.sleep(model_delay)
        rid = conn.response_created(request)
        first = time.time()
        iid = conn.audio_item(rid, bytes([marker]) * 8 * ANSWER_MS, chunk_ms=100, pause=0.05)
        conn.response_done(rid, output=[conn.audio_done(rid, iid)])
        # speech_stopped was sent at turn.stopped_at (monotonic): convert to wall clock for the parent
        stopped_wall = time.time() - (time.monotonic() - turn.stopped_at)
        out.write(
            json.dumps({"marker": marker, "t_stop": stopped_wall, "model": first - received, "t_first_sent": first})
            + "\n"
        )
        conn.closed.wait(120)
        out.write(
            json.dumps(
                {
                    "marker": marker,
                    "after": {
                        k: len(conn.of_type(k))
                        for k in ("conversation.item.truncate", "response.cancel", "response.create")
                    },
                    "turns": len([e for e in conn.speech_events if e["type"].endswith("speech_started")]),
                }
            )
            + "\n"
        )

    server = fr.FakeRealtimeServer(script, script_timeout=180).__enter__()
    print(server.port, flush=True)
    try:
        sys.stdin.read()
    finally:
        server.stop()


# ----------------------------------------------------------------------------- helpers


def run_level(fake, n: int, results: Path, question: bytes, noise: bytes) -> dict:
    start_line = len(results.read_text().splitlines())
    callers = []
    for _ in range(n):
        callers.append(fake.new_call("3241000752", app="bench"))
        time.sleep(0.02)
    wait_for(lambda: all(fake.leg_for_caller(c) is not None for c in callers), 60, f"{n} calls bridged")
    legs = [fake.leg_for_caller(c) for c in callers]
    wait_for(
        lambda: all(sum(1 for r in leg.received if r.payload[:1] == b"\x13") >= 15 for leg in legs),
        60,
        "greetings heard",
    )
    for leg in legs:
        leg.say(question)
        time.sleep(0.01)
    noised: set[int] = set()
    deadline = time.monotonic() + 60
    while len(noised) < n and time.monotonic() < deadline:
        for i, leg in enumerate(legs):
            if i in noised:
                continue
            answer = [r for r in leg.received if r.payload and r.payload[0] >= 0x20 and len(set(r.payload)) == 1]
            if answer and time.time() - answer[0].kt >= NOISE_AFTER_S:
                leg.say(noise)
                noised.add(i)
        time.sleep(0.005)
    time.sleep(ANSWER_MS / 1000 + 1.5)
    records = {}
    for line in results.read_text().splitlines()[start_line:]:
        rec = json.loads(line)
        if "t_stop" in rec:
            records[rec["marker"]] = rec
    turns, pauses = [], []
    cut = 0
    for leg in legs:
        answer = [r for r in leg.received if r.payload and r.payload[0] >= 0x20 and len(set(r.payload)) == 1]
        if not answer:
            cut += 1
            continue
        rec = records.get(answer[0].payload[0])
        if rec is None:
            continue
        turns.append((answer[0].kt - rec["t_stop"] - rec["model"]) * 1000)
        gaps = [(b.kt - a.kt) * 1000 - 20 for a, b in itertools.pairwise(answer)]
        pauses.append(max(gaps) if gaps else 0.0)
        if len(answer) < ANSWER_MS // 20:
            cut += 1
        if os.environ.get("BENCH_DEBUG"):
            noise_at = next((r.kt for r in leg.received if r.kt > answer[0].kt + NOISE_AFTER_S), 0)
            print(
                f"    marker {answer[0].payload[0]}: {len(answer)} answer packets, longest gap "
                f"{pauses[-1]:.0f} ms, answer started {answer[0].kt - rec['t_stop']:.2f} s after speech_stopped, "
                f"noise {noise_at - answer[0].kt:.2f} s into it",
                flush=True,
            )
    for c in callers:
        fake.caller_hangup(c)
    wait_for(
        lambda: not fake.leftovers("bench-")["channels"] and not fake.leftovers("bench-")["bridges"], 30, "teardown"
    )
    return {
        "calls": n,
        "turns": len(turns),
        "turn_p50": pct(turns, 50),
        "turn_p99": pct(turns, 99),
        "pause_p50": pct(pauses, 50),
        "pause_p99": pct(pauses, 99),
        "pause_max": max(pauses or [0.0]),
        "cut": cut,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--levels", default="1,50")
    ap.add_argument("--quick", action="store_true", help="levels 1 and 5")
    ap.add_argument("--model-delay", type=float, default=0.3, help="the fake model's own delay (removed)")
    ap.add_argument("--realtime-server", metavar="OUT", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.realtime_server:
        run_realtime_server(args.realtime_server, args.model_delay)
        return 0

    from centralita_fixtures.ari_spec import SPEC_FILES, ari_docs_dir
    from centralita_fixtures.fake_asterisk import FakeAsterisk
    from centralita_fixtures.speech import noise_burst, utterance

    question = utterance(["¿Cuántos clientes hay", "en el router doce?"], 300, speed=185)
    noise = noise_burst(160)
    docs = ari_docs_dir()
    checked = all((docs / f).is_file() for f in SPEC_FILES)
    fake = FakeAsterisk(
        docs if checked else None, username=USERNAME, password=PASSWORD, media_stasis_delay=0.02, kernel_timestamps=True
    )
    tmp = Path(tempfile.mkdtemp(prefix="bench-turns-"))
    results = tmp / "turns.jsonl"
    results.touch()
    rt = subprocess.Popen(
        [sys.executable, __file__, "--realtime-server", str(results), "--model-delay", str(args.model_delay)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    rt_port = int(rt.stdout.readline())
    lo, hi = udp_port_range(120)
    http_port = free_port()
    env = {
        **os.environ,
        "ARI_URL": fake.url,
        "ARI_APP": "bench",
        "ASTERISK_USERNAME": USERNAME,
        "ASTERISK_PASSWORD": PASSWORD,
        "EXTERNAL_MEDIA_HOST": "127.0.0.1",
        "RTP_BIND_HOST": "127.0.0.1",
        "RTP_PORT_MIN": str(lo),
        "RTP_PORT_MAX": str(hi),
        "GATEWAY_HTTP_PORT": str(http_port),
        "GATEWAY_HTTP_HOST": "127.0.0.1",
        "OPENAI_REALTIME_URL": f"ws://127.0.0.1:{rt_port}/v1/realtime",
        "OPENAI_API_KEY": "sk-test-fake-realtime-0123456789",
        "TOOL_ENDPOINTS": "127.0.0.1:9",
        "LOG_LEVEL": os.environ.get("BENCH_GATEWAY_LOG_LEVEL", "WARNING"),
        "GATEWAY_CHAT_ENABLED": "false",
        "GATEWAY_DRAIN_SECONDS": "1",
        "CENTRALITA_ENV_FILE": "/nonexistent",
    }
    log = open(tmp / "gateway.log", "w")  # noqa: SIM115 - the gateway writes to it until stop_gateway_rig
    gw = subprocess.Popen([sys.executable, "-m", "centralita_suite.compose"], env=env, cwd=ROOT, stderr=log)
    rows = []
    gate = "?"
    try:
        import requests

        def ready() -> bool:
            try:
                return requests.get(f"http://127.0.0.1:{http_port}/readyz", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_for(ready, 30, "gateway /readyz")
        metrics = requests.get(f"http://127.0.0.1:{http_port}/metrics", timeout=5).text
        gate = next(
            (x.split()[-1] for x in metrics.splitlines() if x.startswith("centralita_gateway_barge_in_gate_ms ")), "?"
        )
        levels = [1, 5] if args.quick else [int(x) for x in args.levels.split(",")]
        for n in levels:
            rows.append(run_level(fake, n, results, question, noise))
            print(f"  level {n} done", flush=True)
            time.sleep(0.5)
    finally:
        stop_gateway_rig(gw, rt, fake)
    print(
        f"\ncall_gateway turn-taking: {os.cpu_count()} cores, barge-in gate {gate} ms, "
        f"fake model delay {args.model_delay * 1000:.0f} ms (removed)"
    )
    columns = [
        ("calls", "calls", "d"),
        ("turns", "turns", "d"),
        ("turn p50", "turn_p50", ".1f"),
        ("turn p99", "turn_p99", ".1f"),
        ("pause p50", "pause_p50", ".0f"),
        ("pause p99", "pause_p99", ".0f"),
        ("pause max", "pause_max", ".0f"),
        ("cut", "cut", "d"),
    ]
    hdr = " ".join(f"{name:>10}" for name, _, _ in columns)
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(" ".join(f"{r[key]:>10{fmt}}" for _, key, fmt in columns))
    print(
        "(ms. turn = speech_stopped sent → first answer packet at the phone, minus the model's own delay;\n"
        " pause = longest silence inside the answer around a 160 ms noise burst; cut = answers not heard whole)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
