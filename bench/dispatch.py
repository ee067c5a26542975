"""Dispatcher round trip to a trivial tool vs a bare grpcio unary echo, measured in the same run.

    .venv/bin/python bench/dispatch.py [--quick] [--n 3000]

The dispatcher adds: JSON parse + schema-guided conversion + ParseDict on the way in, and
MessageToDict + relabelling + JSON dump on the way out. Target: ratio ≤ 1.3 at p50.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import grpc

from centralita.dispatcher import Dispatcher
from centralita.server import ServiceSpec, start_server
from centralita_fixtures.echo_service import compile_protos, load_echo_modules, make_servicer


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    q = statistics.quantiles(ordered, n=100)
    return statistics.median(ordered), q[94], q[98]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 500 if args.quick else args.n
    out = Path(tempfile.mkdtemp(prefix="bench-dispatch-"))
    descriptor_set = compile_protos(out)
    pb2, pb2_grpc = load_echo_modules(out)
    spec = ServiceSpec(
        pb2.DESCRIPTOR.services_by_name["EchoService"],
        make_servicer(pb2, pb2_grpc),
        pb2_grpc.add_EchoServiceServicer_to_server,
    )
    server = start_server([spec], port=0, host="127.0.0.1", descriptor_set=descriptor_set)
    import logging

    logging.getLogger("centralita.server").setLevel(logging.WARNING)
    target = f"127.0.0.1:{server.port}"
    channel = grpc.insecure_channel(target)
    bare = channel.unary_unary(
        "/echo.v1.EchoService/Echo",
        request_serializer=pb2.EchoRequest.SerializeToString,
        response_deserializer=pb2.EchoResponse.FromString,
    )
    dispatcher = Dispatcher.connect([target])
    payload = '{"text": "¿Cuántos clientes activos hay en router-146?"}'

    def bare_call() -> None:
        bare(pb2.EchoRequest(text="¿Cuántos clientes activos hay en router-146?"), timeout=5)

    def dispatch_call() -> None:
        result = dispatcher.call("echo", payload)
        assert result.ok

    for fn in (bare_call, dispatch_call):
        for _ in range(200):
            fn()
    samples: dict[str, list[float]] = {"bare grpcio": [], "dispatcher": []}
    # Interleave so both see the same machine noise.
    for _ in range(n):
        for name, fn in (("bare grpcio", bare_call), ("dispatcher", dispatch_call)):
            t0 = time.perf_counter()
            fn()
            samples[name].append((time.perf_counter() - t0) * 1e6)
    print(f"dispatcher round trip vs bare grpcio unary (n={n} each, interleaved, loopback)")
    print(f"{'client':<14}{'p50 µs':>10}{'p95 µs':>10}{'p99 µs':>10}")
    stats = {k: percentiles(v) for k, v in samples.items()}
    for name, (p50, p95, p99) in stats.items():
        print(f"{name:<14}{p50:>10.0f}{p95:>10.0f}{p99:>10.0f}")
    ratio50 = stats["dispatcher"][0] / stats["bare grpcio"][0]
    ratio99 = stats["dispatcher"][2] / stats["bare grpcio"][2]
    verdict = "meets" if ratio50 <= 1.3 else "MISSES"
    print(f"ratio p50 {ratio50:.2f} ({verdict} target ≤ 1.3), ratio p99 {ratio99:.2f}")
    dispatcher.close()
    channel.close()
    server.drain_and_stop(grace=0.5)


if __name__ == "__main__":
    main()
