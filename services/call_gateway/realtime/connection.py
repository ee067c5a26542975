"""The websocket side of one call's Realtime conversation: connect and handshake, one receiver thread per
socket, one sender thread (outbound queue → ``ws.send``; it also wakes the host for the core's timers).

It knows frames, not the conversation: what a frame means, and what the core makes of it, is its host's
(``RealtimeEngine``'s) business. A renewal opens a second socket and ``switch``es to it; frames of an older
socket (an older ``gen``) are ignored.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
from collections.abc import Callable
from typing import Any, Protocol

import websocket

from call_gateway.realtime import server_events
from call_gateway.realtime.protocol import Action, RealtimeProtocol, Send
from call_gateway.realtime.settings import RealtimeSettings
from centralita.config import redact

_STOP = object()
_VOICE = object()  # sender: hand the meter's verdict to an open barge-in gate
_MAX_WAIT = 0.25  # the sender wakes at least this often to check the core's timers


class RealtimeError(RuntimeError):
    """The conversation could not be started (connection, handshake or configuration refused)."""


class ConnectionHost(Protocol):
    """What the connection's threads call back into; each returns False when its thread should stop."""

    def on_event(self, event: dict[str, Any], gen: int, now: float) -> bool: ...

    def on_voice(self) -> bool: ...

    def on_timers(self) -> bool: ...

    def next_deadline(self) -> float | None: ...

    def on_rejected(self, rejected: server_events.Rejected) -> None: ...

    def on_sent(self, call_id: str, now: float) -> None: ...

    def lost(self, exc: BaseException | None, gen: int) -> None: ...


class RealtimeConnection:
    """The sockets and I/O threads of one call (see the module docstring)."""

    def __init__(
        self, settings: RealtimeSettings, host: ConnectionHost, *, call_id: str, clock: Callable[[], float]
    ) -> None:
        self.settings = settings
        self.host = host
        self.call_id = call_id
        self._clock = clock
        self.ws: websocket.WebSocket | None = None
        self.gen = 0  # bumped when a renewed socket takes over
        self.running = False
        self.threads: list[threading.Thread] = []
        self._outq: queue.Queue[Any] = queue.Queue()
        self._send_lock = threading.Lock()  # one writer on the socket at a time (sender thread or a tool's thread)

    # ------------------------------------------------------------ opening

    def open(self, core: RealtimeProtocol, execute: Callable[[Action], None]) -> websocket.WebSocket:
        """Connect and run the handshake until ``core`` is ready; the socket is closed again if it fails.

        Client events of the handshake are written directly; other actions go to ``execute``."""
        ws = websocket.create_connection(
            self.settings.endpoint(),
            header=[f"Authorization: Bearer {self.settings.api_key}"],
            timeout=self.settings.connect_timeout,
            suppress_origin=True,
            enable_multithread=True,
        )
        try:
            self._handshake(ws, core, execute)
            ws.settimeout(None)
        except BaseException:
            close_socket(ws)
            raise
        return ws

    def _handshake(self, ws: websocket.WebSocket, core: RealtimeProtocol, execute: Callable[[Action], None]) -> None:
        deadline = self._clock() + self.settings.connect_timeout
        while core.state != "ready":
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise RealtimeError("Realtime handshake timed out (no session.created/session.updated)")
            ws.settimeout(remaining)
            raw = ws.recv()
            if not raw and not ws.connected:
                raise RealtimeError("Realtime closed the connection during the handshake")
            event = json.loads(raw)
            if event.get("type") == "error":
                err = event.get("error") or {}
                detail = redact(str(err.get("message")))
                raise RealtimeError(f"Realtime refused the session: {err.get('code')}: {detail}")
            checked = server_events.validate(event) if isinstance(event, dict) else server_events.Rejected("json")
            if isinstance(checked, server_events.Rejected):
                self.host.on_rejected(checked)
                continue
            for action in core.receive(event, self._clock()):
                if isinstance(action, Send):
                    ws.send(json.dumps(action.event))
                else:
                    execute(action)

    def run(self, ws: websocket.WebSocket) -> None:
        """Start the receiver and sender threads on the first socket."""
        self.ws = ws
        self.running = True
        self.threads = [
            self._receiver(ws, self.gen),
            threading.Thread(target=self._send_loop, name=f"rt-send-{self.call_id}", daemon=True),
        ]
        for t in self.threads:
            t.start()

    def switch(self, ws: websocket.WebSocket) -> websocket.WebSocket | None:
        """Take a renewed socket into use (under the host's lock); returns the old one, for the caller to close."""
        old = self.ws
        self.gen += 1
        self.ws = ws
        t = self._receiver(ws, self.gen)
        self.threads.append(t)
        t.start()
        return old

    def _receiver(self, ws: websocket.WebSocket, gen: int) -> threading.Thread:
        return threading.Thread(target=self._recv_loop, args=(ws, gen), name=f"rt-recv-{self.call_id}", daemon=True)

    # ------------------------------------------------------------ sending

    def enqueue(self, event: dict[str, Any], call_id: str | None = None) -> None:
        """A client event for the sender thread (``call_id``: a tool's output, timed for ``Timings``)."""
        self._outq.put((json.dumps(event), call_id))

    def enqueue_voice(self) -> None:
        """Ask the sender thread to pass the meter's verdict to the core (never the audio thread: it may be
        the media link's reader, which an ``Interrupt``'s ``sink.clear()`` waits on)."""
        self._outq.put(_VOICE)

    def send_direct(self, sends: list[Send]) -> None:
        """Write a tool's output (and the follow-up) from the calling thread, saving the hop to the sender
        (the tool overhead ``bench/realtime.py`` measures). Only when nothing is queued, so the order of
        client events is kept; never under the core lock (unless a tool resolved synchronously inside
        ``submit``), so a slow socket cannot stall the conversation."""
        if not sends:
            return
        failure: BaseException | None = None
        with self._send_lock:
            ws, gen = self.ws, self.gen
            if not (self.running and ws is not None and self._outq.unfinished_tasks == 0):
                for action in sends:
                    self.enqueue(action.event, action.call_id)
                return
            try:
                for action in sends:
                    ws.send(json.dumps(action.event))
                    if action.call_id is not None:
                        self.host.on_sent(action.call_id, self._clock())
            except Exception as exc:
                failure = exc
        if failure is not None:  # outside the send lock: lost() takes the core lock
            self.host.lost(failure, gen)

    # ------------------------------------------------------------ threads

    def _recv_loop(self, ws: websocket.WebSocket, gen: int) -> None:
        while self.running and gen == self.gen:
            try:
                raw = ws.recv()
            except Exception as exc:
                self.host.lost(exc, gen)
                return
            now = self._clock()
            if not raw:
                if not ws.connected:
                    self.host.lost(None, gen)
                    return
                continue
            event = server_events.parse(raw)
            if isinstance(event, server_events.Rejected):
                self.host.on_rejected(event)
                continue
            if not self.host.on_event(event, gen, now):
                return

    def _send_loop(self) -> None:
        while True:
            deadline = self.host.next_deadline()
            wait = _MAX_WAIT if deadline is None else min(_MAX_WAIT, max(0.0, deadline - self._clock()))
            try:
                item = self._outq.get(timeout=wait)
            except queue.Empty:
                item = None
            if item is _STOP:
                return
            if item is _VOICE:
                self._outq.task_done()
                if not self.host.on_voice():
                    return
                item = None
            if item is not None and not self._write(item):
                return
            deadline = self.host.next_deadline()
            if deadline is not None and self._clock() >= deadline and not self.host.on_timers():
                return

    def _write(self, item: tuple[str, str | None]) -> bool:
        """One queued client event; False when the socket is lost (the sender stops)."""
        text, call_id = item
        ws, gen = self.ws, self.gen
        assert ws is not None
        try:
            with self._send_lock:
                ws.send(text)
        except Exception as exc:
            if gen == self.gen:
                self.host.lost(exc, gen)
                return False
            return True  # the old socket of a renewed conversation
        finally:
            self._outq.task_done()
        if call_id is not None:
            self.host.on_sent(call_id, self._clock())
        return True

    # ------------------------------------------------------------ closing

    def stop(self) -> None:
        """Stop the threads and close the socket (idempotent)."""
        self.running = False
        self._outq.put(_STOP)
        if self.ws is not None:
            close_socket(self.ws)

    def join(self) -> None:
        me = threading.current_thread()
        for t in list(self.threads):
            if t is not me and t.ident is not None:
                t.join(timeout=5)


def close_socket(ws: websocket.WebSocket) -> None:
    """Send a close frame if we still can, then tear the socket down so a blocked ``recv`` wakes up."""
    for step in (lambda: ws.send_close(websocket.STATUS_NORMAL), ws.abort, ws.shutdown):
        with contextlib.suppress(Exception):
            step()
