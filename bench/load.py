"""Load on the tool services from outside, and a soak of calls through the gateway.

    .venv/bin/python bench/load.py [--levels 10,50,100,250,500,1000] [--seconds 8] [--docs 2000]
    .venv/bin/python bench/load.py --soak [--soak-minutes 10] [--soak-calls 20] [--sample-every 60] [--warmup-minutes 1]

**Load** (default): the real processes — ``centralita mikrotik-sim`` (50 ms per question),
``centralita serve mikrotik_tool`` in front of it, ``centralita serve legal_search`` on a generated
corpus — and a plain ``grpc.aio`` client in this process keeping N calls in flight for a few seconds
per level: half ``ConsultarMikrotik`` (half of those a cached question, half a new one that goes to
the API), half ``SearchContent``. Printed per level: calls/s, p50/p99 per tool, errors by status
code, RSS of each server. Then the bursts of issue 16, measured the same way: 100 identical
questions with the API slowed to 0.5 s (upstream requests counted by the simulator), 500 distinct
questions at 0.2 s (peak questions in flight at the API), 200 searches at once.

**Soak** (``--soak``): the gateway process with the fake Asterisk and the fake Realtime API, as
``bench/calls.py`` runs them (this reuses its rig, hence the fakes of ``centralita_fixtures``), keeps
``--soak-calls`` calls up for ``--soak-minutes``; every ``--sample-every`` seconds the RSS, open file
descriptors and threads of the gateway and its media process are sampled. Growth is reported from
the first sample after ``--warmup-minutes`` (default 1) of the same calls to the last: RSS ≤ 10 % (also
printed as MB/min and KB per call); no fd/thread growth, judged as the median of the second half of the
samples against the median of the first half (a one-time rise early on is a pool reaching its size, and
one sample catching a short-lived thread is no leak; a per-call leak keeps rising into the second half).
Every sample is printed, the warm-up's included.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import grpc
from _procs import REPO, free_port, pct, rss_fds_threads, stop_gateway_rig, tool_server, wait_for

from centralita.legal.v1 import legal_pb2, legal_pb2_grpc
from centralita.mikrotik.v1 import mikrotik_pb2, mikrotik_pb2_grpc

CACHED = "¿Qué routers están configurados?"
SEARCHES = [
    "habilitaciones comerciales",
    "sueldos del personal municipal",
    "tasas de alumbrado",
    "ordenanza de tránsito",
    "licencias de conducir",
    "residuos y reciclaje",
    "presupuesto anual",
    "espacios verdes",
    "ruidos molestos",
    "transporte público",
]


# ------------------------------------------------------------------------------------- the servers
class Rig:
    """Simulator, mikrotik_tool and legal_search as child processes."""

    def __init__(self, docs: int, workdir: Path) -> None:
        self.workdir = workdir
        self.docs = docs
        self.sim_port, self.mk_port, self.lg_port = free_port(), free_port(), free_port()
        self._stack: list = []
        self.pids: dict[str, int] = {}

    def __enter__(self) -> Rig:
        env = {**os.environ, "CENTRALITA_ENV_FILE": os.devnull}
        sim = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "centralita_suite.cli",
                "mikrotik-sim",
                "--port",
                str(self.sim_port),
                "--latency",
                "0.05",
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._sim = sim
        legal_env = {"LEGAL_DATA_DIR": str(self.workdir / "legal"), "LEGAL_SAMPLE_DOCS": str(self.docs)}
        t0 = time.monotonic()
        subprocess.run(
            [
                sys.executable,
                "-c",
                f"from centralita_suite.sample_data import ensure_sample; ensure_sample(n={self.docs})",
            ],
            cwd=REPO,
            env={**env, **legal_env},
            check=True,
            stdout=subprocess.DEVNULL,
        )
        print(f"legal corpus of {self.docs} documents ready in {time.monotonic() - t0:.0f} s", flush=True)
        self._wait_http(f"{self.sim_url}/_sim/stats")
        mk = tool_server(
            "mikrotik_tool",
            {
                "MIKROTIK_API_URL": self.sim_url,
                "MIKROTIK_TOOL_PORT": str(self.mk_port),
                "MIKROTIK_TOOL_METRICS_PORT": "0",
                "LOG_LEVEL": "WARNING",
            },
            self.mk_port,
            log_path=str(self.workdir / "mikrotik.log"),
        )
        lg = tool_server(
            "legal_search",
            {
                **legal_env,
                "LEGAL_SEARCH_PORT": str(self.lg_port),
                "LEGAL_SEARCH_METRICS_PORT": "0",
                "LOG_LEVEL": "WARNING",
            },
            self.lg_port,
            log_path=str(self.workdir / "legal.log"),
        )
        self.pids["mikrotik_tool"] = mk.__enter__().pid
        self._stack.append(mk)
        self.pids["legal_search"] = lg.__enter__().pid
        self._stack.append(lg)
        return self

    def __exit__(self, *exc: object) -> None:
        for cm in reversed(self._stack):
            cm.__exit__(None, None, None)
        self._sim.terminate()
        self._sim.wait(10)

    @property
    def sim_url(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}"

    @staticmethod
    def _wait_http(url: str) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url, timeout=1).read()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def sim(self, path: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.sim_url}{path}",
            data=data,
            method="GET" if body is None else "POST",
            headers={"Content-Type": "application/json"},
        )
        return json.loads(urllib.request.urlopen(req, timeout=5).read())

    def rss(self) -> dict[str, float]:
        return {name: rss_fds_threads(pid)[0] for name, pid in self.pids.items()}


# --------------------------------------------------------------------------------------- the client
class Client:
    """One aio channel per service; each call records (tool, ms, status code)."""

    def __init__(self, rig: Rig) -> None:
        self.mk_channel = grpc.aio.insecure_channel(f"127.0.0.1:{rig.mk_port}")
        self.lg_channel = grpc.aio.insecure_channel(f"127.0.0.1:{rig.lg_port}")
        self.mk = mikrotik_pb2_grpc.MikrotikServiceStub(self.mk_channel).ConsultarMikrotik
        self.lg = legal_pb2_grpc.LegalSearchServiceStub(self.lg_channel).SearchContent
        self.fresh = 0

    async def close(self) -> None:
        await self.mk_channel.close()
        await self.lg_channel.close()

    async def call(self, kind: str, arg: str, timeout: float = 10.0) -> tuple[str, float, str]:
        t0 = time.perf_counter()
        try:
            if kind == "search_content":
                await self.lg(legal_pb2.SearchContentRequest(query=arg, limit=5), timeout=timeout)
            else:
                await self.mk(mikrotik_pb2.ConsultarMikrotikRequest(question=arg), timeout=timeout)
            code = "OK"
        except grpc.aio.AioRpcError as exc:
            code = exc.code().name
        return kind, (time.perf_counter() - t0) * 1000, code

    def next_call(self, i: int) -> tuple[str, str]:
        """Half searches, a quarter cached questions, a quarter new questions (upstream)."""
        slot = i % 4
        if slot in (0, 2):
            return "search_content", SEARCHES[i % len(SEARCHES)]
        if slot == 1:
            return "consultar_mikrotik (cached)", CACHED
        self.fresh += 1
        return "consultar_mikrotik (upstream)", f"¿Cuántos clientes activos hay en router-146? (carga {self.fresh})"


async def run_level(client: Client, rig: Rig, inflight: int, seconds: float) -> dict:
    results: list[tuple[str, float, str]] = []
    stop_at = time.monotonic() + seconds
    counter = iter(range(10**9))
    rss_peak = {name: 0.0 for name in rig.pids}

    async def worker() -> None:
        while time.monotonic() < stop_at:
            kind, arg = client.next_call(next(counter))
            results.append(await client.call(kind, arg))

    async def sampler() -> None:
        while time.monotonic() < stop_at:
            for name, mb in rig.rss().items():
                rss_peak[name] = max(rss_peak[name], mb)
            await asyncio.sleep(0.5)

    t0 = time.monotonic()
    await asyncio.gather(sampler(), *(worker() for _ in range(inflight)))
    took = time.monotonic() - t0
    by_kind: dict[str, list[float]] = collections.defaultdict(list)
    errors: collections.Counter[str] = collections.Counter()
    for kind, ms, code in results:
        if code == "OK":
            by_kind[kind].append(ms)
        else:
            errors[code] += 1
    return {
        "inflight": inflight,
        "calls": len(results),
        "rate": len(results) / took,
        "by_kind": by_kind,
        "errors": errors,
        "rss": rss_peak,
    }


async def bursts(client: Client, rig: Rig) -> list[str]:
    """The three bursts of issue 16, from outside."""
    lines = []
    rig.sim("/_sim/config", {"latency": 0.5})
    before = rig.sim("/_sim/stats")["queries"]
    question = f"¿Cuántos clientes activos hay en router-146? (tras el corte {time.time()})"
    got = await asyncio.gather(*(client.call("mk", question) for _ in range(100)))
    up = rig.sim("/_sim/stats")["queries"] - before
    ok = [ms for _, ms, code in got if code == "OK"]
    lines.append(
        f"100 identical questions, API 0.5 s: {len(ok)}/100 answered, {up} upstream request(s), "
        f"p50 {pct(ok, 50):.0f} ms, p99 {pct(ok, 99):.0f} ms, errors "
        f"{dict(collections.Counter(c for _, _, c in got if c != 'OK')) or 'none'}"
    )
    rig.sim("/_sim/reset", {})
    rig.sim("/_sim/config", {"latency": 0.2})
    stamp = time.time()
    t0 = time.monotonic()
    got = await asyncio.gather(
        *(client.call("mk", f"¿Cuántos clientes hay? ({stamp} {i})", timeout=60) for i in range(500))
    )
    took = time.monotonic() - t0
    stats = rig.sim("/_sim/stats")
    ok = [ms for _, ms, code in got if code == "OK"]
    lines.append(
        f"500 distinct questions, API 0.2 s: {len(ok)}/500 answered in {took:.1f} s, "
        f"{stats['queries']} upstream, at most {stats['peak_in_flight_queries']} at the API at once "
        f"(MIKROTIK_MAX_CONNECTIONS), p50 {pct(ok, 50):.0f} ms, p99 {pct(ok, 99):.0f} ms, errors "
        f"{dict(collections.Counter(c for _, _, c in got if c != 'OK')) or 'none'}"
    )
    rig.sim("/_sim/config", {"latency": 0.05})
    t0 = time.monotonic()
    got = await asyncio.gather(
        *(client.call("search_content", SEARCHES[i % len(SEARCHES)] + f" {i}", timeout=60) for i in range(200))
    )
    took = time.monotonic() - t0
    ok = [ms for _, ms, code in got if code == "OK"]
    lines.append(
        f"200 searches at once: {len(ok)}/200 answered in {took:.1f} s ({len(ok) / took:.0f}/s), "
        f"p50 {pct(ok, 50):.0f} ms, p99 {pct(ok, 99):.0f} ms, errors "
        f"{dict(collections.Counter(c for _, _, c in got if c != 'OK')) or 'none'}"
    )
    return lines


async def load(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp, Rig(args.docs, Path(tmp)) as rig:
        idle = rig.rss()
        client = Client(rig)
        try:
            await client.call("consultar_mikrotik", CACHED)
            rows = []
            for n in (int(x) for x in args.levels.split(",")):
                rows.append(await run_level(client, rig, n, args.seconds))
                print(f"  level {n} done", flush=True)
            burst_lines = await bursts(client, rig)
        finally:
            await client.close()
    print(
        f"\ntool services under rising load ({args.seconds:.0f} s per level, {os.cpu_count()} cores shared; "
        f"idle RSS mikrotik_tool {idle['mikrotik_tool']:.0f} MB, legal_search {idle['legal_search']:.0f} MB)"
    )
    kinds = ["consultar_mikrotik (cached)", "consultar_mikrotik (upstream)", "search_content"]
    print(
        f"{'in flight':>9} {'calls':>7} {'calls/s':>8} "
        + " ".join(f"{k[:28]:>30}" for k in kinds)
        + f" {'errors by code':>24} {'RSS mk/lg MB':>13}"
    )
    for r in rows:
        cells = [
            f"{len(r['by_kind'][k]):>5}: {pct(r['by_kind'][k], 50):6.1f} / {pct(r['by_kind'][k], 99):6.1f} ms"
            for k in kinds
        ]
        errors = ", ".join(f"{c} {n}" for c, n in sorted(r["errors"].items())) or "none"
        print(
            f"{r['inflight']:>9} {r['calls']:>7} {r['rate']:>8.0f} "
            + " ".join(f"{c:>30}" for c in cells)
            + f" {errors:>24} {r['rss']['mikrotik_tool']:>6.0f}/{r['rss']['legal_search']:<6.0f}"
        )
    print(
        "(per tool: calls answered: p50 / p99; errors: calls that got a status other than OK. Each of the N "
        "callers waits for its answer before the next call, so slow searches hold callers: calls/s is the mix's)"
    )
    print("\nbursts:")
    for line in burst_lines:
        print("  " + line)


# -------------------------------------------------------------------------------------------- soak
def soak(args: argparse.Namespace) -> int:
    import calls  # bench/calls.py: its rig (fake Asterisk from centralita_fixtures, fake Realtime, gateway process)

    from centralita_fixtures.ari_spec import SPEC_FILES, ari_docs_dir
    from centralita_fixtures.fake_asterisk import FakeAsterisk

    docs = ari_docs_dir()
    checked = all((docs / f).is_file() for f in SPEC_FILES)
    fake = FakeAsterisk(
        docs if checked else None,
        username=calls.USERNAME,
        password=calls.PASSWORD,
        media_stasis_delay=0.02,
        kernel_timestamps=True,
    )
    tmp = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    results = tmp / "barge.jsonl"
    results.touch()
    barge_after = 3.0
    rt = subprocess.Popen(
        [sys.executable, calls.__file__, "--realtime-server", str(results), "--barge-after", str(barge_after)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    rt_port = int(rt.stdout.readline())
    lo, hi = calls.udp_port_range(2 * args.soak_calls + 20)
    fake.gw_http_port = free_port()
    env = {
        **os.environ,
        "ARI_URL": fake.url,
        "ARI_APP": "bench",
        "ASTERISK_USERNAME": calls.USERNAME,
        "ASTERISK_PASSWORD": calls.PASSWORD,
        "EXTERNAL_MEDIA_HOST": "127.0.0.1",
        "RTP_BIND_HOST": "127.0.0.1",
        "RTP_PORT_MIN": str(lo),
        "RTP_PORT_MAX": str(hi),
        "GATEWAY_HTTP_PORT": str(fake.gw_http_port),
        "GATEWAY_HTTP_HOST": "127.0.0.1",
        "OPENAI_REALTIME_URL": f"ws://127.0.0.1:{rt_port}/v1/realtime",
        "OPENAI_API_KEY": "sk-test-fake-realtime-0123456789",
        "TOOL_ENDPOINTS": "127.0.0.1:9",
        "LOG_LEVEL": "WARNING",
        "GATEWAY_DRAIN_SECONDS": "1",
        "CENTRALITA_ENV_FILE": os.devnull,
    }
    with open(tmp / "gateway.log", "w") as log:
        gw = subprocess.Popen([sys.executable, "-m", "call_gateway.server"], env=env, cwd=REPO, stderr=log)
    samples: list[tuple[float, float, int, int, int]] = []  # minute, RSS MB, fds, threads, calls so far

    def sample(total_calls: int) -> None:
        rss = fds = threads = 0
        parts = []
        for pid in calls.family(gw.pid):
            try:
                r, f, t = rss_fds_threads(pid)
            except (FileNotFoundError, ProcessLookupError):
                continue
            rss, fds, threads = rss + r, fds + f, threads + t
            parts.append(f"{r:.1f}")
        samples.append(((time.monotonic() - started) / 60, rss, fds, threads, total_calls))
        print(
            f"  {samples[-1][0]:5.1f} min: RSS {rss:6.1f} MB (gateway + media: {' + '.join(parts)}), "
            f"fds {fds}, threads {threads}, calls {total_calls}",
            flush=True,
        )

    try:
        import requests

        def ready() -> bool:
            try:
                return requests.get(f"http://127.0.0.1:{fake.gw_http_port}/readyz", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_for(ready, 30, "gateway /readyz")
        print(
            f"soak: {args.soak_calls} calls at a time for {args.soak_minutes:g} min, gateway pid {gw.pid}", flush=True
        )
        total = 0
        lost = 0
        # Warm-up: pools, caches and the allocator's arenas fill during the first rounds; the baseline
        # sample is taken after them (every sample is printed).
        warm_until = time.monotonic() + args.warmup_minutes * 60
        started = time.monotonic()
        sample(total)
        while True:
            calls.run_level(fake, args.soak_calls, barge_after, results, gw.pid)
            total += args.soak_calls
            if time.monotonic() >= warm_until:
                break
        samples.clear()
        print("  warm-up done; baseline:", flush=True)
        started = time.monotonic()
        sample(total)
        next_sample = started + args.sample_every
        end = started + args.soak_minutes * 60
        while time.monotonic() < end:
            row = calls.run_level(fake, args.soak_calls, barge_after, results, gw.pid)
            total += args.soak_calls
            lost += row["lost"]
            if row["active_after"] not in (0, -1):
                print(f"  {row['active_after']:.0f} calls still active after a round's hangups", flush=True)
            if time.monotonic() >= next_sample:
                sample(total)
                next_sample += args.sample_every
        sample(total)
    finally:
        stop_gateway_rig(gw, rt, fake)
    first, last = samples[0], samples[-1]
    rss_growth = 100 * (last[1] - first[1]) / first[1]
    mid_rss = statistics.median(s[1] for s in samples)
    # fds and threads: a one-time rise early on (a pool reaching its working size, a lazy import) is not
    # growth, nor is one sample catching a short-lived thread; a per-call leak keeps rising, so the
    # second half's median would exceed the first half's.
    half = max(1, len(samples) // 2)
    early, late = samples[:half], samples[half:] or samples[-1:]
    fds_early, fds_late = statistics.median(s[2] for s in early), statistics.median(s[2] for s in late)
    thr_early, thr_late = statistics.median(s[3] for s in early), statistics.median(s[3] for s in late)
    minutes, n_calls = last[0] - first[0], last[4] - first[4]
    slope = (last[1] - first[1]) / minutes if minutes > 0 else 0.0
    ok = rss_growth <= 10 and fds_late <= fds_early and thr_late <= thr_early
    print(f"\nsoak over {last[0]:.1f} min, {last[4]} calls ({args.soak_calls} at a time), frames lost {lost}:")
    print(
        f"  RSS {first[1]:.1f} -> {last[1]:.1f} MB ({rss_growth:+.1f} %, median {mid_rss:.1f}; "
        f"{slope:+.2f} MB/min, {1024 * (last[1] - first[1]) / max(1, n_calls):+.2f} KB per call); "
        f"fds {first[2]} -> {last[2]}; threads {first[3]} -> {last[3]}"
    )
    print(
        f"  fds/threads compared as the median of the last {len(late)} sample(s) vs. the median of the first "
        f"{len(early)} after warm-up: fds {fds_early:g} -> {fds_late:g}, threads {thr_early:g} -> {thr_late:g}"
    )
    print(f"  targets (RSS growth <= 10 %, no fd or thread growth): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--levels", default="10,50,100,250,500,1000", help="calls in flight, one level after another")
    ap.add_argument("--seconds", type=float, default=8.0, help="seconds per level")
    ap.add_argument("--docs", type=int, default=2000, help="documents of the generated legal corpus")
    ap.add_argument("--soak", action="store_true", help="run the soak instead of the load levels")
    ap.add_argument("--soak-minutes", type=float, default=10.0)
    ap.add_argument("--soak-calls", type=int, default=20)
    ap.add_argument("--sample-every", type=float, default=60.0, help="seconds between samples of the soak")
    ap.add_argument("--warmup-minutes", type=float, default=1.0, help="rounds of calls before the baseline sample")
    args = ap.parse_args()
    if args.soak:
        return soak(args)
    asyncio.run(load(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
