"""Benchmark of mikrotik_tool against the MikroTik API simulator (not a test: prints figures).

    .venv/bin/python bench/mikrotik.py [--quick]

Baselines are measured in the same run: the seed's client (a plain ``requests.post`` per question,
i.e. a new TCP connection each time), a direct keep-alive ``requests.Session`` to the simulator, and
for the cached answer a bare grpcio unary echo server (sync ``grpc.server``, the goal's baseline, and
``grpc.aio``, the kind of server the kit runs). The cached-answer comparison runs the servers in their
own processes (the real ``centralita serve mikrotik_tool``, logging at INFO to /dev/null) and
interleaves their samples one by one in a rotating order, so the machine's noise hits all alike; it is
repeated 3 times in the run and the p50 ratio is printed pooled and per repetition (its spread), with
each server's CPU time per call (from /proc: what the interceptor and servicer cost, free of the
client's and the scheduler's noise).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import grpc
import requests
from _procs import bare_echo_server, cpu_seconds, free_port, tool_server

from centralita.mikrotik.v1 import mikrotik_pb2, mikrotik_pb2_grpc
from centralita.server import start_server
from centralita_fixtures.mikrotik_simulator import MikrotikSimulator
from mikrotik_tool.queries import MikrotikQueries
from mikrotik_tool.server import service_spec
from mikrotik_tool.settings import Settings

QUESTION = "¿Cuántos clientes activos hay en router-146?"


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def timed(fn: Callable[[], object], n: int) -> list[float]:
    """Milliseconds of ``n`` sequential calls (after 10 warm-up calls)."""
    for _ in range(10):
        fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


class Tool:
    """A mikrotik_tool server in this process and a stub to it."""

    def __init__(self, api_url: str, *, ttl: float, pool_size: int = 8) -> None:
        settings = Settings(api_url=api_url, cache_ttl=ttl, pool_size=pool_size)
        self.queries = MikrotikQueries(settings)
        self.running = start_server([service_spec(self.queries)], port=0, host="127.0.0.1")
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.running.port}")
        self.stub = mikrotik_pb2_grpc.MikrotikServiceStub(self.channel)

    def ask(self, question: str = QUESTION) -> str:
        request = mikrotik_pb2.ConsultarMikrotikRequest(question=question)
        return self.stub.ConsultarMikrotik(request, timeout=30).response

    def close(self) -> None:
        self.channel.close()
        self.running.server.stop(0)
        self.queries.close()


def connections_for(sim: MikrotikSimulator, fn: Callable[[int], object], n: int) -> tuple[int, int, float]:
    before_conn, before_req = sim.connections_accepted, sim.queries
    t0 = time.perf_counter()
    for i in range(n):
        fn(i)
    seconds = time.perf_counter() - t0
    return sim.connections_accepted - before_conn, sim.queries - before_req, seconds


def concurrent_upstream(sim: MikrotikSimulator, fn: Callable[[], object], n: int) -> int:
    before = sim.queries
    barrier = threading.Barrier(n)

    def one(_: int) -> object:
        barrier.wait(timeout=10)
        return fn()

    with ThreadPoolExecutor(n) as pool:
        list(pool.map(one, range(n)))
    return sim.queries - before


def cached_vs_bare_echo(api_url: str, n: int, reps: int = 3) -> tuple[list[dict[str, list[float]]], dict[str, float]]:
    """Interleaved ms samples, out of process: a cached ``ConsultarMikrotik`` and bare grpcio echoes.

    ``reps`` repetitions of ``n`` rounds, each round one call to each server in a rotating order (so
    none is always first after the client's pause); also each server's CPU microseconds per call.
    """
    port = free_port()
    env = {
        "MIKROTIK_API_URL": api_url,
        "MIKROTIK_TOOL_PORT": str(port),
        "MIKROTIK_TOOL_METRICS_PORT": "0",
        "MIKROTIK_CACHE_TTL": "3600",
        "LOG_LEVEL": "INFO",
    }
    request = mikrotik_pb2.ConsultarMikrotikRequest(question=QUESTION)
    payload = request.SerializeToString()
    with (
        bare_echo_server() as (sync_port, sync_pid),
        bare_echo_server(aio=True) as (aio_port, aio_pid),
        tool_server("mikrotik_tool", env, port) as tool_proc,
        grpc.insecure_channel(f"127.0.0.1:{sync_port}") as sync_ch,
        grpc.insecure_channel(f"127.0.0.1:{aio_port}") as aio_ch,
        grpc.insecure_channel(f"127.0.0.1:{port}") as tool_ch,
    ):
        tool = mikrotik_pb2_grpc.MikrotikServiceStub(tool_ch).ConsultarMikrotik
        assert tool(request, timeout=10).cached is False
        calls = [
            ("tool", tool, request, tool_proc.pid),
            ("sync", sync_ch.unary_unary("/bench.Echo/Echo"), payload, sync_pid),
            ("aio", aio_ch.unary_unary("/bench.Echo/Echo"), payload, aio_pid),
        ]
        for _ in range(200):  # warm-up
            for _name, fn, arg, _pid in calls:
                fn(arg, timeout=10)
        cpu0 = {name: cpu_seconds(pid) for name, _fn, _arg, pid in calls}
        runs: list[dict[str, list[float]]] = []
        for _ in range(reps):
            samples: dict[str, list[float]] = {name: [] for name, *_ in calls}
            for i in range(n):
                for k in range(len(calls)):
                    name, fn, arg, _pid = calls[(i + k) % len(calls)]
                    t0 = time.perf_counter()
                    fn(arg, timeout=10)
                    samples[name].append((time.perf_counter() - t0) * 1000)
            runs.append(samples)
        cpu_us = {name: (cpu_seconds(pid) - cpu0[name]) * 1e6 / (n * reps) for name, _fn, _arg, pid in calls}
        assert tool(request, timeout=10).cached
    return runs, cpu_us


def row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples (about 5 s)")
    args = parser.parse_args()
    n_conn = 1000
    n_lat = 300 if args.quick else 2000
    n_concurrent = 100

    with MikrotikSimulator() as sim:
        url = f"{sim.url}/query"
        payload = {"question": QUESTION, "timeout": 15}

        def seed_post(_: int = 0) -> object:
            return requests.post(url, json=payload, timeout=15).json()

        session = requests.Session()

        def session_post(_: int = 0) -> object:
            return session.post(url, json=payload, timeout=15).json()

        uncached = Tool(sim.url, ttl=0)
        cached = Tool(sim.url, ttl=30)
        try:
            seed_conn, seed_req, seed_s = connections_for(sim, seed_post, n_conn)
            ours_conn, ours_req, ours_s = connections_for(sim, lambda i: uncached.ask(), n_conn)

            sim.configure(latency=0.2)
            naive_up = concurrent_upstream(sim, seed_post, n_concurrent)
            ours_up = concurrent_upstream(sim, cached.ask, n_concurrent)
            sim.configure(latency=0.0)

            cached.ask()
            cached_ms = timed(cached.ask, n_lat)
            uncached_ms = timed(uncached.ask, n_lat)
            seed_ms = timed(seed_post, n_lat)
            session_ms = timed(session_post, n_lat)
            runs, cpu_us = cached_vs_bare_echo(sim.url, n_lat)
        finally:
            uncached.close()
            cached.close()
            session.close()

    print(f"mikrotik_tool benchmark ({'quick' if args.quick else 'full'}; simulator on loopback, no latency)")
    print()
    widths = [58, 12, 12, 10]
    print(row(["TCP connections for 1,000 sequential queries", "connections", "upstream", "seconds"], widths))
    print(row(["  seed client (requests.post per question)", str(seed_conn), str(seed_req), f"{seed_s:.2f}"], widths))
    print(
        row(
            ["  mikrotik_tool over gRPC, cache off (pooled session)", str(ours_conn), str(ours_req), f"{ours_s:.2f}"],
            widths,
        )
    )
    print()
    print(row([f"{n_concurrent} concurrent identical questions (API latency 200 ms)", "upstream", "", ""], widths))
    print(row(["  seed client", str(naive_up), "", ""], widths))
    print(row(["  mikrotik_tool (single-flight + cache)", str(ours_up), "", ""], widths))
    print()
    print(row([f"latency, ms ({n_lat} sequential calls)", "p50", "p99", "mean"], widths))
    for label, samples in (
        ("  mikrotik_tool, cached answer (gRPC round trip)", cached_ms),
        ("  mikrotik_tool, uncached (gRPC + pooled HTTP)", uncached_ms),
        ("  direct requests.post, new connection (seed)", seed_ms),
        ("  direct requests.Session, keep-alive", session_ms),
    ):
        print(
            row(
                [
                    label,
                    f"{percentile(samples, 50):.3f}",
                    f"{percentile(samples, 99):.3f}",
                    f"{statistics.fmean(samples):.3f}",
                ],
                widths,
            )
        )
    print()
    overhead = percentile(uncached_ms, 50) - percentile(seed_ms, 50)
    overhead_ka = percentile(uncached_ms, 50) - percentile(session_ms, 50)
    print(
        f"uncached overhead over a direct requests.post (p50): {overhead:+.3f} ms "
        f"({percentile(uncached_ms, 50) / percentile(seed_ms, 50):.2f}x)"
    )
    print(
        f"uncached overhead over a direct keep-alive Session (p50): {overhead_ka:+.3f} ms "
        f"({percentile(uncached_ms, 50) / percentile(session_ms, 50):.2f}x)"
    )
    print()
    oop = {key: [x for run in runs for x in run[key]] for key in runs[0]}
    print(
        row(
            [f"out of process, interleaved ({len(runs)} x {len(runs[0]['tool'])} rounds), ms", "p50", "p95", "CPU us"],
            widths,
        )
    )
    for label, key in (
        ("  mikrotik_tool, cached answer (centralita serve)", "tool"),
        ("  bare grpcio unary echo, sync grpc.server (baseline)", "sync"),
        ("  bare grpcio unary echo, grpc.aio server", "aio"),
    ):
        print(
            row(
                [label, f"{percentile(oop[key], 50):.3f}", f"{percentile(oop[key], 95):.3f}", f"{cpu_us[key]:.0f}"],
                widths,
            )
        )
    print("  (CPU us: the server process's user+system CPU per call, from /proc, over all rounds)")
    for base in ("sync", "aio"):
        per_run = [percentile(run["tool"], 50) / percentile(run[base], 50) for run in runs]
        pooled = percentile(oop["tool"], 50) / percentile(oop[base], 50)
        goal = " (goal <= 1.3x)" if base == "sync" else ""
        print(
            f"cached answer / bare {base} echo (p50): {pooled:.2f}x{goal}; "
            f"per repetition {' '.join(f'{r:.2f}' for r in per_run)} (spread {max(per_run) - min(per_run):.2f})"
        )
    print(
        f"cached answer vs direct requests.post (p50): "
        f"{percentile(seed_ms, 50) / percentile(cached_ms, 50):.1f}x faster"
    )


if __name__ == "__main__":
    main()
