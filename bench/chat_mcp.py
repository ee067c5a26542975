"""Chat engine and MCP overhead, against baselines measured in the same run.

    .venv/bin/python bench/chat_mcp.py [--quick] [--n 300]

1. One answer with one tool round (fake Chat Completions server on loopback, live echo gRPC service):
   the engine vs a bare loop doing the same two streamed HTTP requests with httpx and one
   ``dispatcher.call`` (no SSE parsing, no events, no logging). The ratio is the engine's overhead.
2. Parallel tool calls: one round of 4 calls that each take 100 ms; wall time of the round vs 400 ms
   sequential.
3. MCP ``tools/call`` through the SDK's in-process client vs ``dispatcher.call``.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path

import anyio
import httpx

from centralita.dispatcher import Dispatcher
from centralita.server import ServiceSpec, start_server
from centralita_fixtures import fake_chat
from centralita_fixtures.echo_service import compile_protos, load_echo_modules, make_servicer
from centralita_fixtures.fake_chat import API_KEY, FakeChat
from chat.engine import ChatEngine, ChatSettings


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(sorted(samples), n=100)
    return statistics.median(samples), q[94], q[98]


def show(label: str, samples: list[float]) -> float:
    p50, p95, p99 = percentiles(samples)
    print(f"  {label:<34} p50 {p50:7.2f} ms   p95 {p95:7.2f} ms   p99 {p99:7.2f} ms")
    return p50


def responder(body: dict) -> fake_chat.Reply:
    """Tool call first, then an answer that quotes the tool output."""
    if body["messages"][-1]["role"] == "tool":
        return fake_chat.text("Respuesta: " + body["messages"][-1]["content"], pieces=5)
    return fake_chat.tool_calls(("echo", json.dumps({"text": "hola"})), pieces=4)


def bare_answer(client: httpx.Client, url: str, dispatcher: Dispatcher) -> None:
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "eco"}], "stream": True}
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with client.stream("POST", url, json=body, headers=headers) as response:
        for _ in response.iter_lines():
            pass
    result = dispatcher.call("echo", {"text": "hola"})
    body["messages"] += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "echo", "arguments": '{"text":"hola"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": result.output_json()},
    ]
    with client.stream("POST", url, json=body, headers=headers) as response:
        for _ in response.iter_lines():
            pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 60 if args.quick else args.n
    logging.disable(logging.INFO)

    out = Path(tempfile.mkdtemp(prefix="bench-chat-"))
    descriptor_set = compile_protos(out)
    pb2, pb2_grpc = load_echo_modules(out)
    spec = ServiceSpec(
        pb2.DESCRIPTOR.services_by_name["EchoService"],
        make_servicer(pb2, pb2_grpc),
        pb2_grpc.add_EchoServiceServicer_to_server,
    )
    running = start_server([spec], port=0, host="127.0.0.1", descriptor_set=descriptor_set)
    try:
        with Dispatcher.connect([f"127.0.0.1:{running.port}"]) as dispatcher, FakeChat(default=responder) as fake:
            settings = ChatSettings(base_url=fake.base_url, model="fake-model", api_key=API_KEY)
            engine = ChatEngine(dispatcher, settings, instructions="Asistente de pruebas.")
            client = httpx.Client(timeout=10)
            url = f"{fake.base_url}/chat/completions"
            for _ in range(10):  # warm up both paths
                engine.ask([{"role": "user", "content": "eco"}])
                bare_answer(client, url, dispatcher)
            engine_ms, bare_ms = [], []
            for _ in range(n):  # interleaved so both see the same machine state
                t = time.perf_counter()
                engine.ask([{"role": "user", "content": "eco"}])
                engine_ms.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                bare_answer(client, url, dispatcher)
                bare_ms.append((time.perf_counter() - t) * 1000)
            print(f"1. one answer with one tool round ({n} answers, 2 streamed requests + 1 gRPC call each)")
            e50 = show("engine.ask", engine_ms)
            b50 = show("bare httpx + dispatcher.call", bare_ms)
            print(f"  ratio engine/bare at p50: {e50 / b50:.2f}   (engine overhead {e50 - b50:.2f} ms)")

            slow = json.dumps({"sleep_ms": 100, "fail_with": "", "message": ""})
            rounds = []
            for _ in range(max(5, n // 20)):
                fake.add(fake_chat.tool_calls(*[("misbehave", slow)] * 4), fake_chat.text("listo"))
                t = time.perf_counter()
                engine.ask([{"role": "user", "content": "cuatro a la vez"}])
                rounds.append((time.perf_counter() - t) * 1000)
            print("2. one round of 4 parallel tool calls of 100 ms each (sequential would be >= 400 ms)")
            show("answer wall time", rounds)
            engine.close()
            client.close()

            from mcp import Client

            from chat.mcp_server import build_server

            async def mcp_bench() -> list[float]:
                samples = []
                async with Client(build_server(dispatcher)) as mcp_client:
                    for i in range(n + 10):
                        t = time.perf_counter()
                        result = await mcp_client.call_tool("echo", {"text": "hola"})
                        if i >= 10:
                            samples.append((time.perf_counter() - t) * 1000)
                        assert not result.is_error
                return samples

            mcp_ms = anyio.run(mcp_bench)
            direct = []
            for _ in range(n):
                t = time.perf_counter()
                dispatcher.call("echo", {"text": "hola"})
                direct.append((time.perf_counter() - t) * 1000)
            print(f"3. MCP tools/call through the SDK's in-process client ({n} calls)")
            m50 = show("mcp call_tool", mcp_ms)
            d50 = show("dispatcher.call", direct)
            print(f"  ratio mcp/direct at p50: {m50 / d50:.2f}")
            assert fake.invalid == [], fake.invalid[:3]
    finally:
        running.drain_and_stop(grace=0.2)


if __name__ == "__main__":
    main()
