"""Concurrent calls through the gateway: 1, 10, 50 and 100 at once, all on loopback.

Three processes, so that the measuring side does not steal the GIL from what it measures:
  * this one: the fake Asterisk (ARI HTTP + WebSocket) and the fake RTP peers, which timestamp every
    packet the gateway sends the moment it arrives;
  * the gateway itself (``python -m centralita_suite.compose``), whose CPU and RSS are read from /proc;
  * a fake Realtime server (``--realtime-server``): per call a greeting, then a long answer streamed
    faster than real time, interrupted by ``speech_started`` (barge-in) after a while (the calls'
    barge-ins spread over 2 s).

Printed per level: outbound inter-packet interval p50/p99, jitter p99 (|interval - 20 ms|, and the
RFC 3550 interarrival jitter), frames lost (sequence gaps + greeting frames that never arrived),
gateway CPU % of one core and RSS, barge-in reaction p50/p99 (speech_started sent → arrival of the
last packet of the interrupted item at the peer; 0 when nothing arrived after it). Receive times are the kernel's
(SO_TIMESTAMPNS), so the measuring process's own scheduling does not show up as jitter.
Targets: jitter p99 ≤ 2 ms at 100 calls, 0 frames lost, barge-in ≤ 20 ms.

    .venv/bin/python bench/calls.py --quick
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

GREETING_MS = 1000
USERNAME, PASSWORD = "bench", "bench-ari-password"


# ----------------------------------------------------------------------------- fake Realtime process
def run_realtime_server(out_path: str, long_ms: int, barge_after: float) -> None:
    import centralita_fixtures.fake_realtime as fr

    fr.check_client_event = lambda event: []  # the tests validate events; the bench only measures
    counter = iter(range(10**9))
    lock = threading.Lock()
    out = open(out_path, "a", buffering=1)  # noqa: SIM115 - line-buffered log for the parent

    def script(conn):
        with lock:
            n = next(counter)
        marker = 20 + n % 200
        # callers do not all interrupt in the same millisecond: spread the barge-ins over 2 s
        barge_at = barge_after + (n % 20) * 0.1
        conn.handshake(check_headers=False)
        conn.speak(conn.expect("response.create", timeout=30), bytes([19]) * 8 * GREETING_MS, chunk_ms=200)
        rid = conn.response_created()
        iid = fr.new_id("item")
        conn.send(
            {
                "type": "response.output_item.added",
                "response_id": rid,
                "output_index": 0,
                "item": {
                    "id": iid,
                    "object": "realtime.item",
                    "type": "message",
                    "role": "assistant",
                    "status": "in_progress",
                    "content": [],
                },
            }
        )
        start = time.monotonic()
        sent_ms = 0
        chunk = bytes([marker]) * 8 * 200
        while sent_ms < long_ms and time.monotonic() - start < barge_at:
            # like the real API: audio arrives faster than real time (200 ms every 100 ms)
            conn.audio_ms[iid] = conn.audio_ms.get(iid, 0) + 200
            conn.send(
                {
                    "type": "response.output_audio.delta",
                    "response_id": rid,
                    "item_id": iid,
                    "output_index": 0,
                    "content_index": 0,
                    "delta": fr.base64.b64encode(chunk).decode(),
                }
            )
            sent_ms += 200
            time.sleep(0.1)
        while time.monotonic() - start < barge_at:
            time.sleep(0.01)
        t = time.time()  # wall clock: compared with the peer's kernel receive timestamps
        conn.speech_started(3000)
        out.write(json.dumps({"marker": marker, "t_barge": t}) + "\n")
        try:
            conn.expect("conversation.item.truncate", timeout=3)
        except AssertionError:
            out.write(json.dumps({"marker": marker, "no_truncate": True}) + "\n")
        conn.response_done(rid, status="cancelled")
        conn.closed.wait(120)

    server = fr.FakeRealtimeServer(script, script_timeout=180).__enter__()
    print(server.port, flush=True)
    try:
        sys.stdin.read()  # until the parent closes our stdin
    finally:
        server.stop()


# ----------------------------------------------------------------------------- helpers


def family(pid: int) -> list[int]:
    """The gateway and its children (the media process)."""
    pids = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            pids += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    return pids


def proc_cpu_seconds(pid: int) -> float:
    total = 0.0
    for p in family(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def proc_rss_mb(pid: int) -> float:
    total = 0.0
    for p in family(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            continue
    return total


# ----------------------------------------------------------------------------- one level
def box_busy_seconds() -> float:
    """CPU time used by everything on the machine (all cores), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in fields]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def run_level(fake, n: int, barge_after: float, results_path: Path, gw_pid: int) -> dict:
    import requests

    start_line = len(results_path.read_text().splitlines()) if results_path.exists() else 0
    callers = []
    for _ in range(n):
        callers.append(fake.new_call("100", app="bench"))
        time.sleep(0.01)
    wait_for(lambda: all(fake.leg_for_caller(c) is not None for c in callers), 30, f"{n} calls bridged")
    legs = {c: fake.leg_for_caller(c) for c in callers}
    steady_from = time.time() + 1.0  # once every call is up (setup bursts are reported apart)
    cpu0, box0, t0 = proc_cpu_seconds(gw_pid), box_busy_seconds(), time.monotonic()
    rss_peak = 0.0
    # wait for every barge-in to be reported by the Realtime side, sampling RSS meanwhile
    deadline = time.monotonic() + barge_after + 32
    while time.monotonic() < deadline:
        rss_peak = max(rss_peak, proc_rss_mb(gw_pid))
        lines = results_path.read_text().splitlines()[start_line:]
        if sum(1 for line in lines if "t_barge" in line) >= n:
            break
        time.sleep(0.2)
    time.sleep(0.3)
    cpu1, box1, t1 = proc_cpu_seconds(gw_pid), box_busy_seconds(), time.monotonic()
    barges = {}
    for line in results_path.read_text().splitlines()[start_line:]:
        rec = json.loads(line)
        if "t_barge" in rec:
            barges[rec["marker"]] = rec["t_barge"]

    intervals, dev, rfc_jitter, reactions, steady_dev = [], [], [], [], []
    lost = 0
    for leg in legs.values():
        pkts = list(leg.received)
        greeting = [p for p in pkts if p.payload[:1] == b"\x13"]
        lost += max(0, GREETING_MS // 20 - len(greeting))
        j = 0.0
        for a, b in itertools.pairwise(pkts):
            if b.marker:
                continue  # a new talk spurt: not an interval
            gap = (b.seq - a.seq) % 65536
            if gap != 1:
                lost += gap - 1
                continue
            iv = (b.kt - a.kt) * 1000
            intervals.append(iv)
            dev.append(abs(iv - 20.0))
            if a.kt >= steady_from:
                steady_dev.append(abs(iv - 20.0))
            d = iv - ((b.ts - a.ts) % 2**32) / 8.0
            j += (abs(d) - j) / 16
        rfc_jitter.append(j)
        markers = {p.payload[0] for p in pkts if p.payload and p.payload[0] >= 20}
        for m in markers & set(barges):
            last = max(p.kt for p in pkts if p.payload[:1] == bytes([m]))
            # how long after speech_started the gateway still sent audio of the interrupted item
            # (0 = nothing after it; the caller hears the last packet's 20 ms on top of this)
            reactions.append(max(0.0, (last - barges[m]) * 1000))
            if os.environ.get("BENCH_DEBUG"):
                n_m = sum(1 for p in pkts if p.payload[:1] == bytes([m]))
                print(f"    marker {m}: {n_m} pkts, last-barge {(last - barges[m]) * 1000:.1f} ms", flush=True)
    for c in callers:
        fake.caller_hangup(c)
    wait_for(
        lambda: not fake.leftovers("bench-")["channels"] and not fake.leftovers("bench-")["bridges"], 30, "teardown"
    )
    metrics = ""

    def metric(name: str) -> float:
        return next((float(x.split()[-1]) for x in metrics.splitlines() if x.startswith(name + " ")), -1)

    # the fake drops our media channel a moment before the gateway forgets the call: give teardown 5 s
    deadline = time.monotonic() + 5.0
    while True:
        metrics = requests.get(f"http://127.0.0.1:{fake.gw_http_port}/metrics", timeout=5).text
        active = metric("centralita_gateway_calls_active")
        if active in (0, -1) or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    if os.environ.get("BENCH_DEBUG"):
        print(
            "    pacer: late ticks",
            metric("centralita_gateway_rtp_pacer_late_ticks_total"),
            "of",
            metric("centralita_gateway_rtp_pacer_ticks_total"),
            "max lateness ms",
            metric("centralita_gateway_rtp_pacer_max_lateness_ms"),
            "skipped",
            metric("centralita_gateway_rtp_pacer_skipped_ticks_total"),
            flush=True,
        )
    fake.pacer_realtime = metric("centralita_gateway_rtp_pacer_realtime") == 1
    return {
        "calls": n,
        "packets": len(intervals) + len(legs),
        "interval_p50": pct(intervals, 50),
        "interval_p99": pct(intervals, 99),
        "jitter_p99": pct(dev, 99),
        "steady_jitter_p99": pct(steady_dev, 99),
        "rfc3550_jitter_max": max(rfc_jitter),
        "lost": lost,
        "cpu_pct": 100 * (cpu1 - cpu0) / (t1 - t0),
        "rss_mb": rss_peak,
        "box_pct": 100 * (box1 - box0) / (t1 - t0) / (os.cpu_count() or 1),
        "barge_p50": pct(reactions, 50),
        "barge_p99": pct(reactions, 99),
        "barge_n": len(reactions),
        "active_after": active,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short run (~1 min)")
    ap.add_argument("--levels", default="1,10,50,100")
    ap.add_argument("--realtime-server", metavar="OUT", help=argparse.SUPPRESS)
    ap.add_argument("--long-ms", type=int, default=8000, help=argparse.SUPPRESS)
    ap.add_argument("--barge-after", type=float, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    barge_after = args.barge_after or (3.0 if args.quick else 10.0)
    if args.realtime_server:
        run_realtime_server(args.realtime_server, max(args.long_ms, int(barge_after * 1000) + 6000), barge_after)
        return 0

    from centralita_fixtures.ari_spec import SPEC_FILES, ari_docs_dir
    from centralita_fixtures.fake_asterisk import FakeAsterisk

    docs = ari_docs_dir()
    checked = all((docs / f).is_file() for f in SPEC_FILES)
    fake = FakeAsterisk(
        docs if checked else None, username=USERNAME, password=PASSWORD, media_stasis_delay=0.02, kernel_timestamps=True
    )
    tmp = Path(tempfile.mkdtemp(prefix="bench-calls-"))
    results = tmp / "barge.jsonl"
    results.touch()
    rt = subprocess.Popen(
        [sys.executable, __file__, "--realtime-server", str(results), "--barge-after", str(barge_after)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    rt_port = int(rt.stdout.readline())
    lo, hi = udp_port_range(220)
    fake.gw_http_port = free_port()
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
        "GATEWAY_HTTP_PORT": str(fake.gw_http_port),
        "GATEWAY_HTTP_HOST": "127.0.0.1",
        "OPENAI_REALTIME_URL": f"ws://127.0.0.1:{rt_port}/v1/realtime",
        "OPENAI_API_KEY": "sk-test-fake-realtime-0123456789",
        "TOOL_ENDPOINTS": "127.0.0.1:9",
        "LOG_LEVEL": os.environ.get("BENCH_GATEWAY_LOG_LEVEL", "WARNING"),
        "GATEWAY_DRAIN_SECONDS": "1",
        "CENTRALITA_ENV_FILE": "/nonexistent",
        # these callers send no voice with their scripted speech_started: measure the ungated barge-in
        # (bench/turns.py measures the gated one with real speech)
        "REALTIME_BARGE_IN_GATE_MS": "0",
    }
    log = open(tmp / "gateway.log", "w")  # noqa: SIM115 - the gateway writes to it until stop_gateway_rig
    gw = subprocess.Popen([sys.executable, "-m", "centralita_suite.compose"], env=env, cwd=ROOT, stderr=log)
    rows = []
    try:
        import requests

        def ready():
            try:
                return requests.get(f"http://127.0.0.1:{fake.gw_http_port}/readyz", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_for(ready, 30, "gateway /readyz")
        print(
            f"gateway pid {gw.pid}, RTP {lo}-{hi}, ARI requests checked against the docs: {checked}; "
            f"barge-in after {barge_after:.0f} s of answer",
            flush=True,
        )
        idle_rss = proc_rss_mb(gw.pid)
        for n in (int(x) for x in args.levels.split(",")):
            rows.append(run_level(fake, n, barge_after, results, gw.pid))
            print(f"  level {n} done", flush=True)
            time.sleep(0.5)
    finally:
        stop_gateway_rig(gw, rt, fake)
    prio = "SCHED_RR" if getattr(fake, "pacer_realtime", False) else "normal priority"
    print(
        f"\ncall_gateway: concurrent calls through the fakes (gateway + media process idle RSS {idle_rss:.0f} MB, "
        f"{os.cpu_count()} cores, RTP pacer at {prio})"
    )
    columns = [
        ("calls", "calls", "d"),
        ("packets", "packets", "d"),
        ("ivl p50", "interval_p50", ".2f"),
        ("ivl p99", "interval_p99", ".2f"),
        ("jit p99", "jitter_p99", ".2f"),
        ("steady", "steady_jitter_p99", ".2f"),
        ("rfc3550", "rfc3550_jitter_max", ".2f"),
        ("lost", "lost", "d"),
        ("cpu %", "cpu_pct", ".1f"),
        ("rss MB", "rss_mb", ".1f"),
        ("box %", "box_pct", ".0f"),
        ("barge p50", "barge_p50", ".1f"),
        ("barge p99", "barge_p99", ".1f"),
        ("left", "active_after", ".0f"),
    ]
    hdr = " ".join(f"{name:>9}" for name, _, _ in columns)
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(" ".join(f"{r[key]:>9{fmt}}" for _, key, fmt in columns))
    print(
        "(ms. ivl = outbound inter-packet interval at the peer; jit = |ivl - 20|; steady = jit p99 once every "
        "call of the level is up;\n rfc3550 = worst per-call interarrival jitter; barge = speech_started sent → "
        "last packet of the interrupted item received;\n cpu % of one core and RSS of the gateway + its media "
        "process; box % = the whole machine's CPU (all cores, fakes included);\n"
        " left = calls still active after the hangups)"
    )
    last = rows[-1] if rows else None
    if last:
        ok = last["jitter_p99"] <= 2.0 and last["lost"] == 0 and last["barge_p99"] <= 20.0
        print(
            f"targets at {last['calls']} calls (jitter p99 <= 2 ms, 0 lost, barge-in p99 <= 20 ms): "
            f"{'met' if ok else 'NOT met'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
