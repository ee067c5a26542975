"""``ToolSpec``: one tool, independent of who consumes it, and its three envelopes (Realtime session tools,
Chat Completions tools, MCP ``tools/list``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from centralita.tools.v1 import tools_pb2


@dataclass(frozen=True)
class ToolSpec:
    """A tool, independent of who consumes it."""

    name: str
    description: str
    method: str
    request_type: str
    response_type: str
    parameters: dict[str, Any] = field(hash=False)
    strict_parameters: dict[str, Any] = field(hash=False)
    timeout_ms: int = 0
    kind: str = "query"
    holding_phrase: str = ""

    def to_proto(self) -> tools_pb2.Tool:
        return tools_pb2.Tool(
            name=self.name,
            description=self.description,
            method=self.method,
            request_type=self.request_type,
            response_type=self.response_type,
            parameters_json=json.dumps(self.parameters, ensure_ascii=False),
            strict_parameters_json=json.dumps(self.strict_parameters, ensure_ascii=False),
            timeout_ms=self.timeout_ms,
            kind=tools_pb2.TOOL_KIND_ACTION if self.kind == "action" else tools_pb2.TOOL_KIND_QUERY,
            holding_phrase=self.holding_phrase,
        )

    @classmethod
    def from_proto(cls, tool: tools_pb2.Tool) -> ToolSpec:
        return cls(
            name=tool.name,
            description=tool.description,
            method=tool.method,
            request_type=tool.request_type,
            response_type=tool.response_type,
            parameters=json.loads(tool.parameters_json),
            strict_parameters=json.loads(tool.strict_parameters_json),
            timeout_ms=tool.timeout_ms,
            kind="action" if tool.kind == tools_pb2.TOOL_KIND_ACTION else "query",
            holding_phrase=tool.holding_phrase,
        )


def realtime_tool(spec: ToolSpec, strict: bool = False) -> dict[str, Any]:
    """``session.tools`` item of the Realtime API (flat; the API has no ``strict`` flag)."""
    params = spec.strict_parameters if strict else spec.parameters
    return {"type": "function", "name": spec.name, "description": spec.description, "parameters": params}


def chat_tool(spec: ToolSpec, strict: bool = True) -> dict[str, Any]:
    """``tools`` item of Chat Completions."""
    function: dict[str, Any] = {
        "name": spec.name,
        "description": spec.description,
        "parameters": spec.strict_parameters if strict else spec.parameters,
    }
    if strict:
        function["strict"] = True
    return {"type": "function", "function": function}


def mcp_tool(spec: ToolSpec, strict: bool = False) -> dict[str, Any]:
    """``tools/list`` item of MCP."""
    return {
        "name": spec.name,
        "description": spec.description,
        "inputSchema": spec.strict_parameters if strict else spec.parameters,
        "annotations": {"readOnlyHint": spec.kind != "action", "openWorldHint": True},
    }


FORMATTERS = {"realtime": realtime_tool, "chat": chat_tool, "mcp": mcp_tool}
