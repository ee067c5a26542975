"""``centralita mcp`` through the ``mcp`` SDK's own client, over stdio and streamable HTTP, with live tools."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import anyio
import jsonschema
import pytest
from mcp import Client, StdioServerParameters

from centralita.schema import mcp_tool
from centralita.server import start_server
from legal_search.server import service_spec
from tests.helpers import REPO_ROOT, free_port

LEGAL = {"query_metadata_sql", "search_content", "get_database_stats"}


def server_env(endpoints: list[str]) -> dict[str, str]:
    return {
        "TOOL_ENDPOINTS": ",".join(endpoints),
        "CENTRALITA_ENV_FILE": os.devnull,
        "LOG_LEVEL": "INFO",
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
    }


def stdio_params(endpoints: list[str]) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "centralita_suite.cli", "mcp"],
        env=server_env(endpoints),
        cwd=str(REPO_ROOT),
    )


def with_client(server: object, body: Callable[[Client], Awaitable[None]], timeout: float = 30) -> None:
    async def main() -> None:
        with anyio.fail_after(timeout):
            async with Client(server) as client:
                await body(client)

    anyio.run(main)


def text_of(result) -> dict:
    assert len(result.content) == 1 and result.content[0].type == "text"
    return json.loads(result.content[0].text)


async def check_catalogue_and_calls(client: Client, dispatcher, legal_corpus) -> None:
    listing = await client.list_tools()
    tools = {t.name: t for t in listing.tools}
    assert LEGAL | {"echo", "misbehave", "edge_cases"} <= set(tools)
    for name in ("search_content", "echo"):
        expected = mcp_tool(dispatcher.spec(name))
        assert tools[name].input_schema == expected["inputSchema"]  # the generated MCP schema, unchanged
        assert tools[name].description == expected["description"]
        jsonschema.Draft202012Validator.check_schema(tools[name].input_schema)
    assert tools["search_content"].annotations.read_only_hint is True

    count = await client.call_tool("query_metadata_sql", {"query": "¿Cuántas normativas hay?", "operation": "count"})
    assert not count.is_error and text_of(count)["total"] == len(legal_corpus[0])
    assert count.structured_content == text_of(count)

    found = await client.call_tool(
        "search_content", {"query": "habilitaciones de comercios", "filters": {"municipality": "Merlo"}}
    )
    assert not found.is_error
    assert any(r["id"] == "merlo-ordenanza-2947-2024" for r in text_of(found)["results"])

    echoed = await client.call_tool("echo", {"text": "hola"})
    assert not echoed.is_error and text_of(echoed) == {"text": "hola"}


async def check_errors(client: Client) -> None:
    failed = await client.call_tool(
        "misbehave", {"sleep_ms": 0, "fail_with": "NOT_FOUND", "message": "No encontré ese cliente."}
    )
    assert failed.is_error
    assert text_of(failed)["error"] == {
        "code": "NOT_FOUND",
        "message": "No encontré ese cliente.",
        "say": "No encontré ese cliente.",
    }

    empty = await client.call_tool("search_content", {"query": ""})  # legal_search refuses: INVALID_ARGUMENT
    assert empty.is_error and text_of(empty)["error"]["code"] == "INVALID_ARGUMENT"

    bad = await client.call_tool("echo", {"text": 5})
    assert bad.is_error and "text" in text_of(bad)["error"]["message"]

    unknown = await client.call_tool("no_such_tool", {})
    assert unknown.is_error and text_of(unknown)["error"]["code"] == "UNKNOWN_TOOL"


def test_stdio_lists_and_calls_tools(endpoints, dispatcher, legal_corpus):
    async def body(client: Client) -> None:
        assert client.server_info.name == "centralita"
        await check_catalogue_and_calls(client, dispatcher, legal_corpus)
        await check_errors(client)

    with_client(stdio_params(endpoints), body)


def test_stdio_discovers_a_service_that_starts_later(echo_server, legal_service):
    late_port = free_port()
    endpoints = [f"127.0.0.1:{echo_server.port}", f"127.0.0.1:{late_port}"]
    late = []

    async def body(client: Client) -> None:
        before = {t.name for t in (await client.list_tools()).tools}
        assert "echo" in before and not (LEGAL & before)
        late.append(start_server([service_spec(legal_service)], port=late_port, host="127.0.0.1"))
        after: set[str] = set()
        deadline = time.monotonic() + 15  # the channel may still be in its reconnect backoff for a moment
        while not after >= LEGAL and time.monotonic() < deadline:
            await anyio.sleep(0.3)
            after = {t.name for t in (await client.list_tools(cache_mode="refresh")).tools}
        assert after >= LEGAL
        stats = await client.call_tool("get_database_stats", {})
        assert not stats.is_error and text_of(stats)["total_documents"] > 0

    try:
        with_client(stdio_params(endpoints), body)
    finally:
        for running in late:
            running.drain_and_stop(grace=0.2)


@pytest.fixture
def http_server(endpoints):
    port = free_port()
    env = {**os.environ, **server_env(endpoints)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "centralita_suite.cli", "mcp", "--transport", "http", "--port", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"mcp http server exited: {proc.stderr.read()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("mcp http server did not start listening")
    yield f"http://127.0.0.1:{port}/mcp"
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_http_lists_and_calls_tools(http_server, dispatcher, legal_corpus):
    async def body(client: Client) -> None:
        await check_catalogue_and_calls(client, dispatcher, legal_corpus)
        await check_errors(client)

    with_client(http_server, body)


def test_http_refuses_a_foreign_host_header(http_server):
    import httpx

    response = httpx.post(
        http_server,
        headers={
            "Host": "evil.example",
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
        },
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        timeout=5,
    )
    assert response.status_code in (403, 421)
