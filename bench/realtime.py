"""Realtime session latencies against the fake Realtime server (real WebSocket on loopback).

    .venv/bin/python bench/realtime.py [--quick] [--n 2000]

Tool overhead: response.function_call_arguments.done received → function_call_output written to the socket,
    minus the tool's own time (submit → result). Target p99 ≤ 2 ms. Baseline, same run: a bare
    websocket-client loop that parses the event and writes an output from the receiving thread
    (no core, no dispatcher, no thread hand-off).
Barge-in: input_audio_buffer.speech_started → the sink emptied, with a fake sink. Reported as seen by the
    gateway (event received → clear() returned) and end to end (server send → clear() returned).
    Target ≤ 20 ms.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import threading
import time

import websocket

from call_gateway.realtime import RealtimeEngine
from centralita_fixtures.fake_realtime import FakeConnection, FakeRealtimeServer
from centralita_fixtures.realtime_fakes import Behaviour, FakeDispatcher, FakeSink
from centralita_fixtures.realtime_rig import PROFILE, SPECS, settings_for

ARGS = json.dumps({"question": "¿Cuántos clientes activos hay en router-146?"})


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    q = statistics.quantiles(ordered, n=100)
    return statistics.median(ordered), q[94], q[98]


WARMUP = 20  # first samples of each series dropped (imports, first allocations, cold caches)


def row(name: str, samples_s: list[float], target: str = "") -> tuple[float, float, float]:
    samples_s = samples_s[WARMUP:]
    p50, p95, p99 = (x * 1000 for x in percentiles(samples_s))
    print(f"{name:<44} n={len(samples_s):>5}  p50={p50:7.3f} ms  p95={p95:7.3f} ms  p99={p99:7.3f} ms  {target}")
    return p50, p95, p99


def engine_for(server: FakeRealtimeServer, sink: FakeSink, dispatcher: FakeDispatcher) -> RealtimeEngine:
    return RealtimeEngine(
        profile=PROFILE,
        dispatcher=dispatcher,
        sink=sink,
        settings=settings_for(server, holding_delay=30.0),
        on_end=lambda r: None,
        call_id="bench",
    )


def bench_tool_overhead(n: int, parallel: int, tool_delay: float) -> list[float]:
    def script(conn: FakeConnection) -> None:
        conn.handshake()
        conn.speak(conn.expect("response.create"), b"\x10" * 160)
        for i in range(n):
            calls = [(f"c{i}_{k}", "consultar_mikrotik", ARGS) for k in range(parallel)]
            conn.function_calls(None, calls, chunks=2)
            follow = conn.expect("response.create", timeout=5)
            conn.response_done(conn.response_created(follow))

    dispatcher = FakeDispatcher(list(SPECS), {"consultar_mikrotik": Behaviour(delay=tool_delay)})
    with FakeRealtimeServer(script, script_timeout=120) as server:
        engine = engine_for(server, FakeSink(auto=True), dispatcher)
        engine.start()
        conn = server.wait(timeout=300)
        engine.close()
    dispatcher.close()
    assert not conn.invalid and not conn.violations, (conn.invalid, conn.violations)
    return list(engine.timings.tool_overhead)


def bench_tool_overhead_bare(n: int) -> list[float]:
    """Floor: parse + build + send on the receiving thread of a plain websocket-client connection."""

    def script(conn: FakeConnection) -> None:
        for i in range(n):
            conn.call_ids.add(f"c{i}")
            conn.send(
                {
                    "type": "response.function_call_arguments.done",
                    "response_id": "r",
                    "item_id": "i",
                    "output_index": 0,
                    "call_id": f"c{i}",
                    "name": "consultar_mikrotik",
                    "arguments": ARGS,
                }
            )
            conn.expect("conversation.item.create", timeout=5)

    samples: list[float] = []
    with FakeRealtimeServer(script, script_timeout=120) as server:
        ws = websocket.create_connection(
            server.url, header=[f"Authorization: Bearer {settings_for(server).api_key}"], suppress_origin=True
        )
        while len(samples) < n:
            raw = ws.recv()
            t0 = time.monotonic()
            event = json.loads(raw)
            if event["type"] != "response.function_call_arguments.done":
                continue  # the fake's conversation.item.added acks
            output = {
                "type": "conversation.item.create",
                "item": {"type": "function_call_output", "call_id": event["call_id"], "output": "{}"},
            }
            ws.send(json.dumps(output))
            samples.append(time.monotonic() - t0)
        server.wait(timeout=60)
        ws.close()
    return samples


def bench_barge_in(n: int) -> tuple[list[float], list[float]]:
    sink = FakeSink()
    end_to_end: list[float] = []
    ready = threading.Event()

    def script(conn: FakeConnection) -> None:
        conn.handshake()
        conn.response_done(conn.response_created(conn.expect("response.create")))
        ready.wait(5)
        for _ in range(n):
            rid = conn.response_created({"response": {}})
            iid = conn.audio_item(rid, b"\x55" * 4000)  # 500 ms
            conn.wait_until(lambda iid=iid: sink.received_ms(iid) == 500, what="audio in the sink")
            sink.advance(120)
            clears = sink.clears
            sent = time.monotonic()
            conn.speech_started()
            conn.wait_until(lambda clears=clears: sink.clears > clears, what="sink cleared")
            end_to_end.append(sink.cleared_at[-1] - sent)
            conn.expect("conversation.item.truncate", timeout=5)
            conn.expect("response.cancel", timeout=5)
            conn.response_done(rid, status="cancelled", reason="turn_detected")

    dispatcher = FakeDispatcher(list(SPECS))
    with FakeRealtimeServer(script, script_timeout=120) as server:
        engine = engine_for(server, sink, dispatcher)
        engine.start()
        ready.set()
        conn = server.wait(timeout=300)
        engine.close()
    dispatcher.close()
    assert not conn.invalid and not conn.violations, (conn.invalid, conn.violations)
    return list(engine.timings.barge_in), end_to_end


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--quick", action="store_true")
    default_interval = float(os.environ.get("GATEWAY_SWITCH_INTERVAL", 0.001))
    parser.add_argument(
        "--switch-interval",
        type=float,
        default=default_interval,
        help="GIL switch interval; the gateway process sets 1 ms (GATEWAY_SWITCH_INTERVAL)",
    )
    args = parser.parse_args()
    sys.setswitchinterval(args.switch_interval)
    n = (200 if args.quick else args.n) + WARMUP
    logging.basicConfig(level=logging.WARNING)
    print(
        f"Realtime session latencies (fake server on loopback, n={n}, GIL switch interval "
        f"{sys.getswitchinterval() * 1000:g} ms, load average {os.getloadavg()[0]:.1f})"
    )
    bare = row("tool overhead floor: bare recv→send", bench_tool_overhead_bare(n))
    overhead = row("tool overhead, one call, instant tool", bench_tool_overhead(n, 1, 0.0), "target p99 ≤ 2 ms")
    row("tool overhead, one call, 5 ms tool", bench_tool_overhead(max(50, n // 4), 1, 0.005), "target p99 ≤ 2 ms")
    row("tool overhead, two calls, instant tools", bench_tool_overhead(max(50, n // 2), 2, 0.0), "target p99 ≤ 2 ms")
    print(f"{'tool overhead p50 vs floor':<44} {overhead[0] / bare[0]:.1f}x")
    gateway, e2e = bench_barge_in(max(50, n // 4))
    row("barge-in: speech_started → sink emptied", gateway, "target ≤ 20 ms")
    row("barge-in end to end: server send → emptied", e2e, "target ≤ 20 ms")


if __name__ == "__main__":
    main()
