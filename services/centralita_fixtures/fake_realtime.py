"""A fake OpenAI Realtime (GA) server: a real WebSocket server on loopback, driven by a script.

Every server event it sends is checked against the SDK's ``RealtimeServerEvent`` (``conn.server_invalid``).

Each connection runs ``script(conn)`` in the server's handler thread. A reader thread records every
client event, validates it against the ``openai`` SDK's ``RealtimeClientEvent`` (pydantic models) and
strictly (the TypedDict union must return the event unchanged, so no stray or beta key passes), and
enforces the server rules peers got wrong: one active response at a time, truncate offsets within
the item's audio, one ``function_call_output`` per known ``call_id``. Breaches of those rules are
answered with an ``error`` event like the real server's, and recorded in ``conn.violations``.

Turn detection is honoured as the gateway configures it in ``session.update`` (``FakeVad``): an energy
VAD on the decoded u-law input (server_vad ``threshold`` mapped to a level, ``prefix_padding_ms``,
``silence_duration_ms``; semantic_vad as a longer end-of-turn wait set by ``eagerness``), emitting
``speech_started``/``speech_stopped``/``committed`` with ``audio_start_ms``/``audio_end_ms`` on the
input audio clock; ``interrupt_response`` cancels an in-band response in progress on speech start
(``response.done`` cancelled, reason ``turn_detected``). Each finished turn lands in ``conn.turns``;
with ``create_response`` the fake creates its response (``Turn.response_id``) for the script to speak.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlparse

from openai.types.realtime import RealtimeClientEvent, RealtimeServerEvent
from openai.types.realtime.realtime_client_event_param import RealtimeClientEventParam
from pydantic import TypeAdapter, ValidationError
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

_MODELS = TypeAdapter(RealtimeClientEvent)
_SERVER_MODELS = TypeAdapter(RealtimeServerEvent)
_PARAMS = TypeAdapter(RealtimeClientEventParam)
API_KEY = "sk-test-fake-realtime-0123456789"
_ids = itertools.count(1)


def _plain(value: Any) -> Any:
    """TypedDict validation turns ``Iterable`` fields into lazy iterators; make them lists again."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str | bytes | int | float | bool) or value is None:
        return value
    try:
        return [_plain(v) for v in value]
    except TypeError:
        return value


def check_client_event(event: Any) -> list[str]:
    """Problems with one client event ([] = valid GA event with no unknown key)."""
    try:
        _MODELS.validate_python(event)
    except ValidationError as exc:
        return [f"not a RealtimeClientEvent: {exc.errors()[:3]}"]
    try:
        strict = _plain(_PARAMS.validate_python(event))
    except ValidationError as exc:
        return [f"not a RealtimeClientEventParam: {exc.errors()[:3]}"]
    if strict != event:
        return [f"unknown keys (beta or stray) in {event.get('type')}: sent {event!r}, schema keeps {strict!r}"]
    return []


def new_id(prefix: str) -> str:
    return f"{prefix}_{next(_ids)}"


def _ulaw_magnitude(byte: int) -> int:
    u = ~byte & 0xFF
    return ((((u & 0x0F) << 3) + 0x84) << ((u >> 4) & 0x07)) - 0x84


_MAG = [_ulaw_magnitude(b) for b in range(256)]
# semantic_vad: how long a pause must be before the fake decides the caller is done (the real model also
# listens to the words; a fake can only wait longer when asked to be less eager)
SEMANTIC_WAIT_MS = {"high": 500, "medium": 800, "auto": 800, "low": 1200}


@dataclass
class Turn:
    item_id: str
    audio_start_ms: int
    audio_end_ms: int
    voiced_ms: int
    stopped_at: float  # monotonic time speech_stopped was sent
    response_id: str | None = None  # the response the server created for it (create_response)


@dataclass
class FakeVad:
    """The server's turn detection over the input audio clock (8 bytes per ms)."""

    kind: str = "server_vad"
    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_ms: int = 500
    create_response: bool = True
    interrupt_response: bool = True
    start_frames: int = 2  # voiced 20 ms frames in a row that start speech
    clock_ms: int = 0
    speaking: bool = False
    onset_ms: int = 0
    last_voice_ms: int = 0
    voiced_ms: int = 0
    run: int = 0
    item_id: str = ""
    partial: bytes = b""

    @classmethod
    def from_session(cls, turn_detection: dict[str, Any] | None) -> FakeVad | None:
        td = turn_detection or {}
        if not td:
            return None
        if td.get("type") == "semantic_vad":
            return cls(
                kind="semantic_vad",
                threshold=0.5,
                prefix_padding_ms=300,
                silence_ms=SEMANTIC_WAIT_MS[td.get("eagerness", "auto")],
                create_response=td.get("create_response", True),
                interrupt_response=td.get("interrupt_response", True),
            )
        return cls(
            threshold=td.get("threshold", 0.5),
            prefix_padding_ms=td.get("prefix_padding_ms", 300),
            silence_ms=td.get("silence_duration_ms", 500),
            create_response=td.get("create_response", True),
            interrupt_response=td.get("interrupt_response", True),
        )

    @property
    def level(self) -> float:
        """Mean |sample| a voiced frame needs: threshold 0 → -70 dBFS, 0.5 → -40 dBFS, 1 → -10 dBFS."""
        return 32768 * 10 ** ((-70 + 60 * self.threshold) / 20)

    def feed(self, ulaw: bytes) -> list[tuple[str, int]]:
        """Frames in; ("start", audio_start_ms) / ("stop", audio_end_ms) out."""
        out: list[tuple[str, int]] = []
        data = self.partial + ulaw
        whole = len(data) - len(data) % 160
        self.partial = data[whole:]
        for i in range(0, whole, 160):
            frame = data[i : i + 160]
            self.clock_ms += 20
            voiced = sum(map(_MAG.__getitem__, frame)) / 160 >= self.level
            self.run = self.run + 1 if voiced else 0
            if voiced:
                self.last_voice_ms = self.clock_ms
                if self.speaking:
                    self.voiced_ms += 20
            if not self.speaking and self.run >= self.start_frames:
                self.speaking = True
                self.onset_ms = self.clock_ms - 20 * self.run
                self.voiced_ms = 20 * self.run
                out.append(("start", max(0, self.onset_ms - self.prefix_padding_ms)))
            elif self.speaking and self.clock_ms - self.last_voice_ms >= self.silence_ms:
                self.speaking = False
                out.append(("stop", self.clock_ms))
        return out


class FakeConnection:
    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.path = ws.request.path if ws.request else ""
        self.headers = dict(ws.request.headers.raw_items()) if ws.request else {}
        self.query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
        self.received: list[dict[str, Any]] = []  # every client event, in order, with "_at" (monotonic)
        self.invalid: list[str] = []  # schema problems
        self.violations: list[str] = []  # protocol rules broken by the client
        self.active_response: str | None = None
        self.audio_ms: dict[str, int] = {}  # item_id → ms of audio we sent for it
        self.call_ids: set[str] = set()
        self.outputs: dict[str, int] = {}
        self.sent_events = 0
        self.server_invalid: list[str] = []  # events WE sent that are not GA server events (a broken script)
        self.closed = threading.Event()
        self.vad: FakeVad | None = None  # set from session.update once ``use_vad()`` asked for it
        self.vad_wanted = False
        self.turns: queue.Queue[Turn] = queue.Queue()
        self.speech_events: list[dict[str, Any]] = []  # speech_started/stopped we sent, with "_at"
        self.cancelled: set[str] = set()  # responses cancelled (by the client or by interrupt_response)
        self.errors_sent: list[dict[str, Any]] = []
        self.honour_cancel = False  # response.cancel of the active response → response.done cancelled
        self._active_conversation = "auto"
        self._cond = threading.Condition()
        self._cursor: dict[str, int] = {}
        self._send_lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    # ------------------------------------------------------------ client side

    def _read(self) -> None:
        try:
            for raw in self.ws:
                event = json.loads(raw)
                problems = check_client_event(event)
                if problems:
                    self.invalid.extend(problems)
                self._enforce(event)
                event["_at"] = time.monotonic()
                with self._cond:
                    self.received.append(event)
                    self._cond.notify_all()
        except (ConnectionClosed, OSError):
            pass
        finally:
            self.closed.set()
            with self._cond:
                self._cond.notify_all()

    def use_vad(self) -> None:
        """Run turn detection as the gateway configures it (and honour response.cancel); call before the
        handshake."""
        self.vad_wanted = True
        self.honour_cancel = True

    def _on_audio(self, event: dict[str, Any]) -> None:
        vad = self.vad
        if vad is None:
            return
        try:
            audio = base64.b64decode(event.get("audio", ""))
        except ValueError:
            return
        for what, ms in vad.feed(audio):
            with contextlib.suppress(ConnectionClosed, OSError):
                if what == "start":
                    vad.item_id = new_id("item_user")
                    sent = self.send(
                        {"type": "input_audio_buffer.speech_started", "audio_start_ms": ms, "item_id": vad.item_id}
                    )
                    self.speech_events.append({**sent, "_at": time.monotonic()})
                    rid = self.active_response
                    if vad.interrupt_response and rid is not None and self._active_conversation != "none":
                        self._server_cancel(rid, "turn_detected")
                else:
                    sent = self.send(
                        {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": ms, "item_id": vad.item_id}
                    )
                    now = time.monotonic()
                    self.speech_events.append({**sent, "_at": now})
                    self.send(
                        {"type": "input_audio_buffer.committed", "item_id": vad.item_id, "previous_item_id": None}
                    )
                    rid = None
                    if vad.create_response and self.active_response is None:
                        rid = self.response_created(None)  # the server answers the turn by itself
                    self.turns.put(
                        Turn(vad.item_id, max(0, vad.onset_ms - vad.prefix_padding_ms), ms, vad.voiced_ms, now, rid)
                    )

    def _server_cancel(self, rid: str, reason: str) -> None:
        self.cancelled.add(rid)
        self.response_done(rid, status="cancelled", reason=reason)

    @property
    def server_creates(self) -> bool:
        return self.vad is not None and self.vad.create_response

    def next_turn(self, timeout: float = 10.0) -> Turn:
        try:
            return self.turns.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no caller turn within {timeout}s") from None

    def _enforce(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "input_audio_buffer.append":
            self._on_audio(event)
        elif kind == "session.update" and self.vad_wanted:
            audio_in = ((event.get("session") or {}).get("audio") or {}).get("input") or {}
            self.vad = FakeVad.from_session(audio_in.get("turn_detection"))
        elif kind == "response.create":
            conversation = (event.get("response") or {}).get("conversation", "auto")
            if self.active_response is not None:
                self.violations.append(f"response.create while {self.active_response} is active")
                self._error(
                    "invalid_request_error",
                    "conversation_already_has_active_response",
                    f"Conversation already has an active response in progress: {self.active_response}.",
                    event.get("event_id"),
                )
            elif conversation not in ("auto", "none"):
                self.violations.append(f"bad conversation {conversation!r}")
        elif kind == "conversation.item.truncate":
            item, end = event.get("item_id"), event.get("audio_end_ms", 0)
            if item not in self.audio_ms:
                self.violations.append(f"truncate of {item} which has no audio")
                self._error(
                    "invalid_request_error",
                    "unsupported_content_type",
                    "Only model output audio messages can be truncated",
                    event.get("event_id"),
                )
            elif end > self.audio_ms[item]:
                self.violations.append(f"truncate {item} at {end} ms > {self.audio_ms[item]} ms")
                self._error(
                    "invalid_request_error",
                    "invalid_value",
                    f"Audio content of {self.audio_ms[item]}ms is already shorter than {end}ms",
                    event.get("event_id"),
                )
        elif kind == "conversation.item.create":
            item = event.get("item") or {}
            if item.get("type") == "function_call_output":
                cid = item.get("call_id")
                self.outputs[cid] = self.outputs.get(cid, 0) + 1
                if cid not in self.call_ids:
                    self.violations.append(f"function_call_output for unknown call_id {cid}")
                elif self.outputs[cid] > 1:
                    self.violations.append(f"second function_call_output for {cid}")
                added = {"id": new_id("item"), "object": "realtime.item", "status": "completed", **item}
                with contextlib.suppress(ConnectionClosed, OSError):
                    self.send({"type": "conversation.item.added", "previous_item_id": None, "item": added})
        elif kind == "response.cancel" and self.active_response is None:
            self._error(
                "invalid_request_error",
                "response_cancel_not_active",
                "Cancellation failed: no active response found",
                event.get("event_id"),
            )
        elif kind == "response.cancel" and self.honour_cancel:
            with contextlib.suppress(ConnectionClosed, OSError):
                self._server_cancel(self.active_response, "client_cancelled")

    def expect(self, kind: str, timeout: float = 3.0, where: Callable[[dict], bool] | None = None) -> dict[str, Any]:
        """The next not yet consumed client event of ``kind`` (and matching ``where``)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                start = self._cursor.get(kind, 0)
                for i in range(start, len(self.received)):
                    event = self.received[i]
                    if event.get("type") == kind and (where is None or where(event)):
                        self._cursor[kind] = i + 1
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.closed.is_set():
                    seen = [e.get("type") for e in self.received if e.get("type") != "input_audio_buffer.append"]
                    raise AssertionError(f"no client event {kind!r} within {timeout}s; got {seen}")
                self._cond.wait(min(remaining, 0.05))

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        with self._cond:
            return [e for e in self.received if e.get("type") == kind]

    def types(self) -> list[str]:
        with self._cond:
            return [e["type"] for e in self.received if e.get("type") != "input_audio_buffer.append"]

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 3.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.005)

    # ------------------------------------------------------------ server side

    def send(self, event: dict[str, Any]) -> dict[str, Any]:
        event.setdefault("event_id", new_id("event"))
        try:
            _SERVER_MODELS.validate_python(event)
        except ValidationError as exc:
            self.server_invalid.append(f"{event.get('type')}: {exc.errors()[:2]}")
        kind = event["type"]
        with self._send_lock:
            if self.honour_cancel and self._superseded(event):
                return event
            if kind == "response.created":
                self.active_response = event["response"]["id"]
                self._active_conversation = "none" if event["response"].get("conversation_id") is None else "auto"
            elif kind == "response.done":
                self.active_response = None
            elif kind == "error":
                self.errors_sent.append(event)
            self.ws.send(json.dumps(event))
            self.sent_events += 1
        return event

    def _superseded(self, event: dict[str, Any]) -> bool:
        """A script streaming a response the server already cancelled: like the real server, send nothing
        more of it (its audio stops, its response.done was the cancelled one)."""
        kind = event["type"]
        if kind == "response.done":
            rid = event["response"]["id"]
            return rid != self.active_response or (rid in self.cancelled and event["response"]["status"] != "cancelled")
        rid = event.get("response_id")
        return rid is not None and rid in self.cancelled and kind.startswith("response.")

    def is_cancelled(self, rid: str) -> bool:
        return rid in self.cancelled

    def _error(self, etype: str, code: str, message: str, event_id: str | None = None) -> None:
        error = {"type": etype, "code": code, "message": message, "param": None, "event_id": event_id}
        with contextlib.suppress(ConnectionClosed, OSError):
            self.send({"type": "error", "error": error})

    def error(
        self, etype: str = "server_error", code: str | None = None, message: str = "The server had an error"
    ) -> None:
        self._error(etype, code or etype, message)

    def handshake(self, check_headers: bool = True) -> dict[str, Any]:
        """session.created → (client) session.update → session.updated. Returns the session.update."""
        session = {
            "type": "realtime",
            "id": new_id("sess"),
            "object": "realtime.session",
            "model": self.query.get("model"),
        }
        self.send({"type": "session.created", "session": session})
        update = self.expect("session.update")
        self.send({"type": "session.updated", "session": update["session"]})
        return update

    def response_created(self, request: dict[str, Any] | None = None, response_id: str | None = None) -> str:
        rid = response_id or new_id("resp")
        metadata = ((request or {}).get("response") or {}).get("metadata")
        conversation = ((request or {}).get("response") or {}).get("conversation", "auto")
        self.send(
            {
                "type": "response.created",
                "response": {
                    "id": rid,
                    "object": "realtime.response",
                    "status": "in_progress",
                    "output": [],
                    "metadata": metadata,
                    "conversation_id": None if conversation == "none" else "conv_1",
                },
            }
        )
        self.send(
            {
                "type": "rate_limits.updated",
                "rate_limits": [
                    {"name": "requests", "limit": 1000, "remaining": 999, "reset_seconds": 0.06},
                    {"name": "tokens", "limit": 100000, "remaining": 99000, "reset_seconds": 0.6},
                ],
            }
        )
        return rid

    def response_done(
        self, rid: str, status: str = "completed", output: Iterable[dict] = (), reason: str | None = None
    ) -> None:
        response: dict[str, Any] = {
            "id": rid,
            "object": "realtime.response",
            "status": status,
            "output": list(output),
            "usage": {"total_tokens": 10, "input_tokens": 7, "output_tokens": 3},
        }
        if reason:
            response["status_details"] = {"type": status, "reason": reason}
        self.send({"type": "response.done", "response": response})

    def audio_item(
        self,
        rid: str,
        audio: bytes,
        *,
        item_id: str | None = None,
        chunk_ms: int = 100,
        pause: float = 0.0,
        output_index: int = 0,
    ) -> str:
        """An assistant audio item streamed as ``response.output_audio.delta`` (u-law, 8 bytes per ms)."""
        iid = item_id or new_id("item")
        self.send(
            {
                "type": "response.output_item.added",
                "response_id": rid,
                "output_index": output_index,
                "item": {
                    "id": iid,
                    "object": "realtime.item",
                    "type": "message",
                    "role": "assistant",
                    "status": "in_progress",
                    "content": [],
                },
            }
        )
        if iid not in self.audio_ms:
            self.send(
                {
                    "type": "response.content_part.added",
                    "response_id": rid,
                    "item_id": iid,
                    "output_index": output_index,
                    "content_index": 0,
                    "part": {"type": "audio", "transcript": ""},
                }
            )
        step = chunk_ms * 8
        for offset in range(0, len(audio), step):
            part = audio[offset : offset + step]
            self.audio_ms[iid] = self.audio_ms.get(iid, 0) + len(part) // 8
            self.send(
                {
                    "type": "response.output_audio.delta",
                    "response_id": rid,
                    "item_id": iid,
                    "output_index": output_index,
                    "content_index": 0,
                    "delta": base64.b64encode(part).decode("ascii"),
                }
            )
            if pause:
                time.sleep(pause)
        return iid

    def audio_done(self, rid: str, iid: str, output_index: int = 0, transcript: str = "...") -> dict[str, Any]:
        where = {"response_id": rid, "item_id": iid, "output_index": output_index, "content_index": 0}
        self.send({"type": "response.output_audio.done", **where})
        self.send({"type": "response.output_audio_transcript.done", **where, "transcript": transcript})
        self.send({"type": "response.content_part.done", **where, "part": {"type": "audio", "transcript": transcript}})
        item = {
            "id": iid,
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_audio", "transcript": "..."}],
        }
        self.send({"type": "response.output_item.done", "response_id": rid, "output_index": output_index, "item": item})
        return item

    def speak(self, request: dict[str, Any] | None, audio: bytes, **kw: Any) -> tuple[str, str]:
        """A whole spoken response: created, audio item, done. Returns (response_id, item_id)."""
        rid = self.response_created(request)
        iid = self.audio_item(rid, audio, **kw)
        item = self.audio_done(rid, iid)
        self.response_done(rid, output=[item])
        return rid, iid

    def function_calls(
        self,
        request: dict[str, Any] | None,
        calls: list[tuple[str, str, str]],
        *,
        status: str = "completed",
        chunks: int = 3,
        before_done: Callable[[], None] | None = None,
        rid: str | None = None,
    ) -> str:
        """A response calling ``calls`` = [(call_id, name, arguments)], arguments streamed as deltas."""
        rid = rid or self.response_created(request)
        items = []
        for index, (call_id, name, arguments) in enumerate(calls):
            iid = new_id("item")
            self.call_ids.add(call_id)
            item = {
                "id": iid,
                "object": "realtime.item",
                "type": "function_call",
                "status": "in_progress",
                "call_id": call_id,
                "name": name,
                "arguments": "",
            }
            self.send({"type": "response.output_item.added", "response_id": rid, "output_index": index, "item": item})
            size = max(1, -(-len(arguments) // chunks))
            for offset in range(0, len(arguments), size):
                self.send(
                    {
                        "type": "response.function_call_arguments.delta",
                        "response_id": rid,
                        "item_id": iid,
                        "output_index": index,
                        "call_id": call_id,
                        "delta": arguments[offset : offset + size],
                    }
                )
            self.send(
                {
                    "type": "response.function_call_arguments.done",
                    "response_id": rid,
                    "item_id": iid,
                    "output_index": index,
                    "call_id": call_id,
                    "name": name,
                    "arguments": arguments,
                }
            )
            done_item = {**item, "status": "completed", "arguments": arguments}
            self.send(
                {"type": "response.output_item.done", "response_id": rid, "output_index": index, "item": done_item}
            )
            items.append(done_item)
        if before_done is not None:
            before_done()
        self.response_done(rid, status=status, output=items, reason="turn_detected" if status == "cancelled" else None)
        return rid

    def speech_started(self, audio_start_ms: int = 1000) -> str:
        iid = new_id("item_user")
        self.send({"type": "input_audio_buffer.speech_started", "audio_start_ms": audio_start_ms, "item_id": iid})
        return iid

    def speech_stopped(self, iid: str, audio_end_ms: int = 2000) -> None:
        self.send({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": audio_end_ms, "item_id": iid})

    def drop(self) -> None:
        """Kill the TCP connection without a close frame (a network failure)."""
        sock = self.ws.socket
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()

    def close(self, code: int = 1000, reason: str = "") -> None:
        self.ws.close(code, reason)


Script = Callable[[FakeConnection], None]


class FakeRealtimeServer:
    """``with FakeRealtimeServer(script) as server: ... server.url ...``; one script run per connection."""

    def __init__(
        self, script: Script, *, api_key: str = API_KEY, script_timeout: float = 20.0, http_status: int | None = None
    ) -> None:
        """``http_status``: refuse every WebSocket handshake with that HTTP status (e.g. 401, 503)."""
        self.script = script
        self.http_status = http_status
        self.api_key = api_key
        self.script_timeout = script_timeout
        self.connections: list[FakeConnection] = []
        self.failures: queue.Queue[BaseException] = queue.Queue()
        self._done = threading.Event()
        self._finished = 0
        self._finished_cond = threading.Condition()
        self._server = serve(
            self._handle,
            "127.0.0.1",
            0,
            compression=None,
            ping_interval=None,
            max_size=16 * 1024 * 1024,
            process_request=self._refuse,
        )
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/realtime"

    def __enter__(self) -> FakeRealtimeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)

    def _refuse(self, ws: ServerConnection, request: Any) -> Any:
        if self.http_status is None:
            return None
        return ws.respond(self.http_status, '{"error": {"message": "refused by the fake server"}}\n')

    def _handle(self, ws: ServerConnection) -> None:
        conn = FakeConnection(ws)
        self.connections.append(conn)
        auth = conn.headers.get("Authorization", "")
        try:
            if any(k.lower() == "openai-beta" for k in conn.headers):
                conn.error(
                    "invalid_request_error",
                    "beta_api_shape_disabled",
                    "The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API.",
                )
                conn.close(4000, "beta_api_shape_disabled")
            elif auth != f"Bearer {self.api_key}":
                conn.error("invalid_request_error", "invalid_api_key", "Incorrect API key provided.")
                conn.close(1008, "invalid_api_key")
            else:
                self.script(conn)
        except BaseException as exc:  # surfaced by wait()
            self.failures.put(exc)
        finally:
            self._done.set()
            with self._finished_cond:
                self._finished += 1
                self._finished_cond.notify_all()
        conn.closed.wait(self.script_timeout)  # keep the socket open until the client leaves

    def wait(self, timeout: float = 10.0) -> FakeConnection:
        """Wait for the (first) script to end; re-raise its failure. Returns its connection."""
        if not self._done.wait(timeout):
            raise AssertionError(f"fake Realtime script did not finish within {timeout}s")
        if not self.failures.empty():
            raise self.failures.get()
        return self.connections[0]

    def wait_all(self, count: int, timeout: float = 10.0) -> list[FakeConnection]:
        """Wait for ``count`` scripts (one per connection) to end; re-raise the first failure."""
        with self._finished_cond:
            if not self._finished_cond.wait_for(lambda: self._finished >= count, timeout):
                raise AssertionError(f"{self._finished} of {count} fake Realtime scripts finished in {timeout}s")
        if not self.failures.empty():
            raise self.failures.get()
        return list(self.connections)

    def connection(self, timeout: float = 5.0) -> FakeConnection:
        deadline = time.monotonic() + timeout
        while not self.connections:
            if time.monotonic() > deadline:
                raise AssertionError("nobody connected to the fake Realtime server")
            time.sleep(0.005)
        return self.connections[0]
