"""A fake OpenAI Chat Completions endpoint: real HTTP on loopback, streamed SSE like the real API.

Each request takes the next scripted ``Reply`` (or a callable that builds one from the request body).
Every request body is checked against the ``openai`` package's request types; every chunk sent is
checked against ``ChatCompletionChunk``. Problems are collected in ``FakeChat.invalid`` and answered
with an HTTP 400, so a test that looks at the answer fails too.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from openai.types.chat import ChatCompletionChunk
from openai.types.chat.completion_create_params import CompletionCreateParamsStreaming
from pydantic import TypeAdapter, ValidationError

API_KEY = "sk-fake-test-0123456789abcdef"
_REQUEST = TypeAdapter(CompletionCreateParamsStreaming)
_ids = itertools.count(1)


def _materialize(value: Any) -> Any:
    """Turn pydantic's lazy iterables into lists (validating them) so the result can be compared."""
    if isinstance(value, dict):
        return {k: _materialize(v) for k, v in value.items()}
    if isinstance(value, str | bytes | int | float | bool) or value is None:
        return value
    if isinstance(value, Iterable):
        return [_materialize(v) for v in value]
    return value


def check_request(body: Any) -> list[str]:
    """Why ``body`` is not a valid streaming chat completion request (empty list when it is)."""
    try:
        validated = _materialize(_REQUEST.validate_python(body))
    except ValidationError as exc:
        return [f"request does not match CompletionCreateParamsStreaming: {exc}"]
    if validated != body:  # TypedDict validation drops unknown keys: any difference is one
        return [f"request has keys or values the openai types do not know: {json.dumps(body)[:2000]}"]
    if body.get("stream") is not True:
        return ["stream must be true"]
    return []


@dataclass
class Reply:
    """One scripted response: SSE chunks (objects), or an HTTP error."""

    chunks: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    error: dict[str, Any] | None = None
    done: bool = True  # send ``data: [DONE]`` at the end
    chunk_delay: float = 0.0
    cut: bool = False  # drop the connection after the chunks, without finishing the body


def _chunk(delta: dict[str, Any], finish: str | None = None, model: str = "fake-model") -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def _usage_chunk(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": "fake-model",
        "choices": [],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }


def _pieces(text: str, n: int) -> list[str]:
    if n <= 1 or len(text) < 2:
        return [text]
    size = max(1, -(-len(text) // n))
    return [text[i : i + size] for i in range(0, len(text), size)]


def text(content: str, *, pieces: int = 3, usage: tuple[int, int] = (50, 10)) -> Reply:
    """An answer streamed as ``pieces`` content deltas."""
    chunks = [_chunk({"role": "assistant", "content": "", "refusal": None})]
    chunks += [_chunk({"content": p}) for p in _pieces(content, pieces)]
    chunks.append(_chunk({}, "stop"))
    chunks.append(_usage_chunk(*usage))
    return Reply(chunks)


def tool_calls(
    *calls: tuple[str, str],
    pieces: int = 3,
    content: str = "",
    usage: tuple[int, int] = (80, 20),
    with_ids: bool = True,
) -> Reply:
    """Tool calls ``(name, arguments string)``; each call's arguments split over ``pieces`` deltas.

    ``with_ids=False`` imitates compatible servers that send no call ids."""
    chunks = [_chunk({"role": "assistant", "content": None, "refusal": None})]
    if content:
        chunks.append(_chunk({"content": content}))
    for i, (name, arguments) in enumerate(calls):
        call_id = f"call_{next(_ids):06d}"
        first = {"index": i, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        if not with_ids:
            del first["id"]
        chunks.append(_chunk({"tool_calls": [first]}))
        for p in _pieces(arguments, pieces):
            chunks.append(_chunk({"tool_calls": [{"index": i, "function": {"arguments": p}}]}))
    chunks.append(_chunk({}, "tool_calls"))
    chunks.append(_usage_chunk(*usage))
    return Reply(chunks)


def http_error(status: int, message: str, etype: str = "invalid_request_error", code: str | None = None) -> Reply:
    return Reply(status=status, error={"message": message, "type": etype, "param": None, "code": code})


def stream_error(message: str, etype: str = "server_error") -> Reply:
    """A stream that starts, then reports an error inside the SSE body (as the API does)."""
    return Reply(
        [
            _chunk({"role": "assistant", "content": "", "refusal": None}),
            {"error": {"message": message, "type": etype, "param": None, "code": None}},
        ],
        done=False,
    )


ReplySource = Reply | Callable[[dict[str, Any]], Reply]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):  # clients closing keep-alive sockets are normal
            super().handle_error(request, client_address)


class FakeChat:
    """``with FakeChat([replies...]) as fake: fake.base_url`` → ``http://127.0.0.1:PORT/v1``."""

    def __init__(
        self,
        script: Iterable[ReplySource] = (),
        *,
        api_key: str = API_KEY,
        default: Callable[[dict[str, Any]], Reply] | None = None,
    ) -> None:
        self.api_key = api_key
        self.script: list[ReplySource] = list(script)
        self.default = default  # answers requests beyond the script (benchmarks); None = a 500 and a complaint
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.peers: list[int] = []  # client port of each request: equal ports = a reused connection
        self.invalid: list[str] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def add(self, *replies: ReplySource) -> None:
        with self._lock:
            self.script.extend(replies)

    def __enter__(self) -> FakeChat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _next(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            source: ReplySource | None = self.script.pop(0) if self.script else self.default
            if source is None:
                self.invalid.append("request beyond the script")
                return http_error(500, "fake: no scripted reply left", "server_error")
        return source(body) if callable(source) else source

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # small SSE writes must not wait for delayed ACKs

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path != "/v1/chat/completions":
                    self._json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
                    return
                if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    self._json(
                        401,
                        {
                            "error": {
                                "message": "Incorrect API key provided.",
                                "type": "invalid_request_error",
                                "code": "invalid_api_key",
                            }
                        },
                    )
                    return
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:
                    fake.invalid.append("body is not JSON")
                    self._json(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
                    return
                with fake._lock:
                    fake.requests.append(body)
                    fake.headers.append(dict(self.headers))
                    fake.peers.append(self.client_address[1])
                problems = check_request(body)
                if problems:
                    fake.invalid.extend(problems)
                    self._json(400, {"error": {"message": problems[0][:500], "type": "invalid_request_error"}})
                    return
                reply = fake._next(body)
                if reply.error is not None:
                    self._json(reply.status, {"error": reply.error})
                    return
                self._stream(reply, include_usage=bool((body.get("stream_options") or {}).get("include_usage")))

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _write_chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def _stream(self, reply: Reply, include_usage: bool) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream; charset=utf-8")
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                self._write_chunk(b": keep-alive comment, clients must ignore it\n\n")
                for chunk in reply.chunks:
                    if "usage" in chunk and not include_usage:
                        continue
                    if "error" not in chunk:
                        try:
                            ChatCompletionChunk.model_validate(chunk)
                        except ValidationError as exc:  # a bug in the fake itself
                            fake.invalid.append(f"fake produced an invalid chunk: {exc}")
                    self._write_chunk(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
                    if reply.chunk_delay:
                        time.sleep(reply.chunk_delay)
                if reply.cut:
                    self.close_connection = True
                    return
                if reply.done:
                    self._write_chunk(b"data: [DONE]\n\n")
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        return Handler
