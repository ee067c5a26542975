"""A streamed Chat Completions request over HTTP: the SSE client of the chat engine.

``stream_completion`` posts one request, yields the answer's text as it arrives and assembles the
tool calls of the reply; endpoint and stream problems become ``ChatError`` with a kind the HTTP API
maps to a status.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from chat.errors import ChatError


@dataclass
class PendingCall:
    call_id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass
class Reply:
    text: str = ""
    calls: dict[int, PendingCall] = field(default_factory=dict)
    finish_reason: str | None = None


def stream_completion(
    http: httpx.Client, base_url: str, api_key: str, body: dict[str, Any], reply: Reply, usage: dict[str, int]
) -> Iterator[str]:
    """One streamed request: yields text deltas, fills ``reply`` and ``usage``."""
    url = f"{base_url.rstrip('/')}/chat/completions"
    headers = {"Authorization": f"Bearer {api_key}", "Accept": "text/event-stream"}
    try:
        with http.stream("POST", url, json=body, headers=headers) as response:
            if response.status_code >= 400:
                response.read()
                raise ChatError(_http_error(response), "model", response.status_code)
            done = False
            for data in _sse_data(response.iter_lines()):
                if done:  # read to the end of the body so the connection is reused for the next request
                    continue
                if data == "[DONE]":
                    done = True
                    continue
                yield from _apply_chunk(data, reply, usage)
            if not done and reply.finish_reason is None:
                raise ChatError("the model's stream ended before the answer was complete", "protocol")
    except httpx.TimeoutException as exc:
        raise ChatError(
            f"the chat endpoint {base_url} did not answer in time ({type(exc).__name__})", "unreachable"
        ) from None
    except httpx.RemoteProtocolError as exc:
        raise ChatError(
            f"the chat endpoint {base_url} ended the stream before the answer was complete: {exc}", "protocol"
        ) from None
    except httpx.TransportError as exc:
        raise ChatError(
            f"cannot reach the chat endpoint {base_url}: {type(exc).__name__}: {exc}", "unreachable"
        ) from None


def _sse_data(lines: Iterable[str]) -> Iterator[str]:
    """The ``data`` payload of each server-sent event (comments and other fields ignored)."""
    buffer: list[str] = []
    for line in lines:
        if line == "":
            if buffer:
                yield "\n".join(buffer)
                buffer = []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if name == "data":
            buffer.append(value[1:] if value.startswith(" ") else value)
    if buffer:
        yield "\n".join(buffer)


def _apply_chunk(data: str, reply: Reply, usage: dict[str, int]) -> Iterator[str]:
    try:
        chunk = json.loads(data)
    except json.JSONDecodeError:
        raise ChatError(f"the model's stream sent something that is not JSON: {data[:200]!r}", "protocol") from None
    if not isinstance(chunk, dict):
        raise ChatError("the model's stream sent a chunk that is not an object", "protocol")
    if "error" in chunk:
        err = chunk["error"] if isinstance(chunk["error"], dict) else {"message": str(chunk["error"])}
        raise ChatError(f"model error: {err.get('message') or err}", "model")
    for key, value in (chunk.get("usage") or {}).items():
        if key in usage and isinstance(value, int):
            usage[key] += value
    for choice in chunk.get("choices") or []:
        if choice.get("index", 0) != 0:
            continue
        delta = choice.get("delta") or {}
        content = delta.get("content")
        if content:
            reply.text += content
            yield content
        for tc in delta.get("tool_calls") or []:
            pending = reply.calls.setdefault(int(tc.get("index", 0)), PendingCall())
            pending.call_id = tc.get("id") or pending.call_id
            function = tc.get("function") or {}
            pending.name = function.get("name") or pending.name
            pending.arguments += function.get("arguments") or ""
        if choice.get("finish_reason"):
            reply.finish_reason = choice["finish_reason"]


def _http_error(response: httpx.Response) -> str:
    try:
        payload = response.json()
        err = payload.get("error") if isinstance(payload, dict) else None
        message = (err.get("message") if isinstance(err, dict) else err) or payload
    except ValueError:
        message = response.text[:300] or response.reason_phrase
    return f"model error (HTTP {response.status_code}): {message}"
