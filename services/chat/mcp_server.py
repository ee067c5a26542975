"""``centralita mcp``: the dispatcher's tools for MCP clients, over stdio or streamable HTTP.

Built on the official ``mcp`` SDK's low-level server. ``tools/list`` is the live catalogue of the
services in ``TOOL_ENDPOINTS`` (endpoints that were down are retried on every listing), with the
schemas generated from the protos; ``tools/call`` goes through the dispatcher, and a failed call
(gRPC error, bad arguments, unknown tool) comes back as a result with ``isError`` and the
dispatcher's readable error, so the client's model can correct itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import anyio
import mcp_types as types
from mcp.server import Server
from mcp.server.stdio import stdio_server
from starlette.applications import Starlette

from centralita.config import env_int, env_str, load_env
from centralita.dispatcher import Dispatcher
from centralita.schema import mcp_tool

log = logging.getLogger("chat.mcp")
DEFAULT_PORT = 8090
INSTRUCTIONS = (
    "Herramientas de Centralita: consultas tipadas a servicios gRPC (normativa municipal, red MikroTik, ...). "
    "Cada herramienta describe cuándo usarla; los errores vuelven como resultados con isError."
)


def _version() -> str:
    try:
        return version("centralita")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
        return "0"


def list_tools(dispatcher: Dispatcher) -> list[types.Tool]:
    """The catalogue as MCP tools, retrying endpoints that were not reachable so far."""
    if any(state != "ok" for state in dispatcher.status().values()):
        dispatcher.refresh()
    return [types.Tool.model_validate(mcp_tool(spec)) for spec in dispatcher.tools()]


def build_server(dispatcher: Dispatcher) -> Server[Any]:
    """An MCP server whose tools are the dispatcher's."""

    async def on_list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        tools = await anyio.to_thread.run_sync(list_tools, dispatcher)
        return types.ListToolsResult(tools=tools)

    async def on_call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        result = await asyncio.wrap_future(dispatcher.submit(params.name, params.arguments or {}))
        log.info("mcp tool %s: %s in %.0f ms", params.name, result.code, result.elapsed_ms)
        return types.CallToolResult(
            content=[types.TextContent(text=result.output_json())],
            structured_content=result.output,
            is_error=not result.ok,
        )

    return Server(
        "centralita",
        version=_version(),
        instructions=INSTRUCTIONS,
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
    )


def http_app(dispatcher: Dispatcher, host: str = "127.0.0.1") -> Starlette:
    """The streamable HTTP app (endpoint ``/mcp``); DNS-rebinding protection when bound to loopback."""
    return build_server(dispatcher).streamable_http_app(host=host)


async def _serve_stdio(dispatcher: Dispatcher) -> None:
    server = build_server(dispatcher)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def run(
    *,
    transport: str = "stdio",
    host: str | None = None,
    port: int | None = None,
    endpoints: Sequence[str] | None = None,
) -> int:
    """Serve until the client disconnects (stdio) or the process is stopped (http)."""
    load_env()
    with Dispatcher.connect(endpoints) as dispatcher:
        names = ", ".join(s.name for s in dispatcher.tools()) or "none yet"
        if transport == "stdio":
            log.info("MCP over stdio; tools: %s", names)
            anyio.run(_serve_stdio, dispatcher)
            return 0
        import uvicorn

        host = host or env_str("MCP_HOST", "127.0.0.1")
        port = port if port is not None else env_int("MCP_PORT", DEFAULT_PORT)
        log.info("MCP over streamable HTTP on http://%s:%d/mcp; tools: %s", host, port, names)
        config = uvicorn.Config(http_app(dispatcher, host), host=host, port=port, log_level="warning", lifespan="on")
        uvicorn.Server(config).run()
        return 0
