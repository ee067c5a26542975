"""``POST /v1/chat``: JSON messages in, Server-Sent Events out (for an internal web front end).

Request: ``{"messages": [{"role": "user", "content": "..."}, ...], "profile": "informacion_legal"}``
(``profile`` optional, default ``CHAT_PROFILE``). Events, each ``event: NAME`` + ``data: JSON``:

- ``text`` ``{"text"}``: a piece of the answer;
- ``tool_call`` ``{"round", "id", "name", "arguments"}`` and ``tool_result`` ``{"round", "id", "name", "ok",
  "code", "elapsed_ms"}``: tool-call notices as they happen;
- ``done`` ``{"text", "tools_used", "rounds", "requests", "usage", "latency_ms", "finish_reason",
  "stopped_by_limit", "messages"}`` (``messages``: what to append to the history for the next turn);
- ``error`` ``{"kind", "message"}`` if the model fails after the stream started.

Errors before the stream starts are plain JSON ``{"error": {"kind", "message"}}``: 400 bad body,
404/405 wrong route, 413 body too large, 502 model or endpoint failure, 503 chat not configured.

``handle_chat(handler, service)`` serves one request on any ``BaseHTTPRequestHandler`` (the gateway's
HTTP port calls it from ``do_POST``); ``start_chat_http`` runs a small stand-alone server.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from centralita.dispatcher import Dispatcher
from chat.engine import (
    ChatEngine,
    ChatError,
    ChatEvent,
    ChatSettings,
    Finished,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from chat.messages import check_messages
from chat.profiles import chat_profiles, default_profile

log = logging.getLogger("chat.http")
PATH = "/v1/chat"
MAX_BODY = 1024 * 1024


class ChatService:
    """One engine per profile over a shared dispatcher (what the HTTP endpoint needs)."""

    def __init__(
        self, dispatcher: Dispatcher, settings: ChatSettings | None = None, profiles_path: str | None = None
    ) -> None:
        self.dispatcher = dispatcher
        self.settings = settings or ChatSettings.from_env()
        self.profiles = chat_profiles(profiles_path)
        self.default_profile = default_profile()
        self._engines: dict[str, ChatEngine] = {}
        self._lock = threading.Lock()

    def engine(self, profile: str | None = None) -> ChatEngine:
        """The engine of ``profile`` (default ``CHAT_PROFILE``); ``KeyError`` if there is no such profile."""
        name = profile or self.default_profile
        if name not in self.profiles:
            raise KeyError(name)
        with self._lock:
            if name not in self._engines:
                chosen = self.profiles[name]
                self._engines[name] = ChatEngine(
                    self.dispatcher, self.settings, instructions=chosen.instructions, allow=chosen.tools
                )
            return self._engines[name]

    def close(self) -> None:
        with self._lock:
            for engine in self._engines.values():
                engine.close()
            self._engines.clear()


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _send_json(handler: BaseHTTPRequestHandler, status: int, kind: str, message: str) -> None:
    body = json.dumps({"error": {"kind": kind, "message": message}}, ensure_ascii=False).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json; charset=utf-8")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _read_request(handler: BaseHTTPRequestHandler) -> dict[str, Any]:
    raw_length = handler.headers.get("Content-Length")
    if raw_length is None:
        raise _BadRequest(411, "Content-Length is required")
    try:
        length = int(raw_length)
    except ValueError:
        raise _BadRequest(400, "Content-Length is not a number") from None
    if length < 0 or length > MAX_BODY:
        raise _BadRequest(413, f"the body must be at most {MAX_BODY} bytes")
    raw = handler.rfile.read(length)
    try:
        payload = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise _BadRequest(400, "the body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise _BadRequest(400, "the body must be a JSON object with 'messages'")
    unknown = set(payload) - {"messages", "profile"}
    if unknown:
        raise _BadRequest(400, f"unknown fields: {', '.join(sorted(unknown))}")
    profile = payload.get("profile")
    if profile is not None and not (isinstance(profile, str) and profile.strip()):
        raise _BadRequest(400, "profile must be a non-empty string")
    try:
        messages = check_messages(payload.get("messages"))
    except ValueError as exc:
        raise _BadRequest(400, str(exc)) from None
    return {"messages": messages, "profile": profile}


def event_payload(event: ChatEvent) -> tuple[str, dict[str, Any]]:
    """SSE event name and data for one engine event."""
    if isinstance(event, TextDelta):
        return "text", {"text": event.text}
    if isinstance(event, ToolCallStarted):
        return "tool_call", {
            "round": event.round,
            "id": event.call_id,
            "name": event.name,
            "arguments": event.arguments,
        }
    if isinstance(event, ToolCallFinished):
        return "tool_result", {
            "round": event.round,
            "id": event.call_id,
            "name": event.name,
            "ok": event.ok,
            "code": event.code,
            "elapsed_ms": round(event.elapsed_ms, 1),
        }
    assert isinstance(event, Finished)
    a = event.answer
    return "done", {
        "text": a.text,
        "tools_used": a.tools_used,
        "rounds": a.rounds,
        "requests": a.requests,
        "usage": a.usage,
        "latency_ms": round(a.latency_ms, 1),
        "finish_reason": a.finish_reason,
        "stopped_by_limit": a.stopped_by_limit,
        "messages": a.messages,
    }


class _SSEWriter:
    """Writes events with chunked encoding on HTTP/1.1, or until close on HTTP/1.0."""

    def __init__(self, handler: BaseHTTPRequestHandler) -> None:
        self.handler = handler
        self.chunked = handler.request_version == "HTTP/1.1" and handler.protocol_version == "HTTP/1.1"

    def start(self) -> None:
        h = self.handler
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream; charset=utf-8")
        h.send_header("Cache-Control", "no-cache")
        h.send_header("X-Accel-Buffering", "no")
        if self.chunked:
            h.send_header("Transfer-Encoding", "chunked")
        else:
            h.send_header("Connection", "close")
            h.close_connection = True
        h.end_headers()

    def send(self, name: str, data: dict[str, Any]) -> None:
        self._write(f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode())

    def _write(self, data: bytes) -> None:
        out = self.handler.wfile
        out.write(f"{len(data):x}\r\n".encode() + data + b"\r\n" if self.chunked else data)
        out.flush()

    def end(self) -> None:
        if self.chunked:
            self.handler.wfile.write(b"0\r\n\r\n")
            self.handler.wfile.flush()


def handle_chat(handler: BaseHTTPRequestHandler, service: ChatService) -> None:
    """Serve ``POST /v1/chat`` on ``handler`` (the caller has checked method and path)."""
    try:
        request = _read_request(handler)
    except _BadRequest as exc:
        _send_json(handler, exc.status, "bad_request", str(exc))
        return
    try:
        engine = service.engine(request["profile"])
    except KeyError as exc:
        known = ", ".join(service.profiles)
        _send_json(handler, 400, "bad_request", f"unknown profile {exc.args[0]!r}; available: {known}")
        return
    try:
        events = engine.stream(request["messages"])
        first = next(events)  # endpoint errors before anything was streamed get a proper HTTP status
    except ChatError as exc:
        status = 503 if exc.kind == "config" else 502
        _send_json(handler, status, exc.kind, str(exc))
        return
    except Exception:
        log.exception("chat request failed before streaming")
        _send_json(handler, 500, "internal", "internal error")
        return
    writer = _SSEWriter(handler)
    try:
        writer.start()
        writer.send(*event_payload(first))
        for event in events:
            writer.send(*event_payload(event))
    except (BrokenPipeError, ConnectionResetError):
        log.info("chat client went away before the answer was complete")
        events.close()
        return
    except ChatError as exc:
        try:
            writer.send("error", {"kind": exc.kind, "message": str(exc)})
        except OSError:
            return
    except Exception:
        log.exception("chat request failed while streaming")
        try:
            writer.send("error", {"kind": "internal", "message": "internal error"})
        except OSError:
            return
    with contextlib.suppress(OSError):
        writer.end()


def start_chat_http(
    service: ChatService, host: str = "127.0.0.1", port: int = 0, http11: bool = False
) -> ThreadingHTTPServer:
    """A stand-alone server with only ``POST /v1/chat`` (port 0 = any free port), serving in a thread."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1" if http11 else "HTTP/1.0"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            if self.path.split("?", 1)[0] != PATH:
                _send_json(self, 404, "not_found", f"no route {self.path.split('?', 1)[0]}")
                return
            handle_chat(self, service)

        def do_GET(self) -> None:
            status = 405 if self.path.split("?", 1)[0] == PATH else 404
            _send_json(self, status, "method" if status == 405 else "not_found", "use POST /v1/chat")

    httpd = ThreadingHTTPServer((host, port), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="chat-http", daemon=True).start()
    return httpd
