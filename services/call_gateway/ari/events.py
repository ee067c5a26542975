"""The ARI events WebSocket: connect with HTTP basic auth, ping from our side (Asterisk never pings),
reconnect with capped exponential backoff, and say when we (re)connected so the owner can reconcile.

One thread runs the loop; ``on_event`` is called on that thread with each parsed event and must not
block for long (the gateway just routes the event to the call's own queue).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable

import websocket

from .connection import Backoff, events_url

log = logging.getLogger(__name__)


class AriEventStream:
    def __init__(
        self,
        base_url: str,
        app: str,
        username: str,
        password: str,
        *,
        on_event: Callable[[dict], None],
        on_connected: Callable[[bool], None] | None = None,
        on_disconnected: Callable[[str], None] | None = None,
        ping_interval: float = 10.0,
        ping_timeout: float = 5.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.url = events_url(base_url, app)
        self.app = app
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        self._headers = [f"Authorization: Basic {token}"]
        self._on_event = on_event
        self._on_connected = on_connected or (lambda first: None)
        self._on_disconnected = on_disconnected or (lambda why: None)
        self.ping_interval, self.ping_timeout = ping_interval, ping_timeout
        self.backoff = backoff or Backoff()
        self._stop = threading.Event()
        self._ws: websocket.WebSocket | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"ari-events-{app}", daemon=True)
        self.connected = False
        self.connections = 0
        self.replaced = False
        self.events_received = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                ws.close(timeout=0.5)
        self._thread.join(timeout=3.0)

    def wait_connected(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.connected:
                return True
            time.sleep(0.01)
        return self.connected

    # -- loop ------------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            why = self._session()
            if self._stop.is_set():
                break
            if self.replaced:
                log.error(
                    "ARI app %r was taken over by another connection: not reconnecting "
                    "(each gateway replica needs its own ARI_APP)",
                    self.app,
                )
                break
            delay = self.backoff.next()
            log.warning("ARI events socket down (%s); reconnecting in %.1f s", why, delay)
            self._stop.wait(delay)

    def _session(self) -> str:
        try:
            ws = websocket.create_connection(
                self.url, header=self._headers, timeout=self.ping_timeout, enable_multithread=True
            )
        except websocket.WebSocketBadStatusException as exc:
            return f"handshake refused: HTTP {exc.status_code}"
        except (OSError, websocket.WebSocketException) as exc:
            return f"connect failed: {type(exc).__name__}"
        with self._lock:
            self._ws = ws
        first = self.connections == 0
        self.connections += 1
        self.connected = True
        self.backoff.reset()
        log.info("ARI events connected (app %s)", self.app)
        try:
            self._on_connected(first)
        except Exception:
            log.exception("ARI on_connected handler failed")
        try:
            return self._read(ws)
        finally:
            self.connected = False
            with self._lock:
                self._ws = None
            with contextlib.suppress(Exception):
                ws.close(timeout=0.2)
            try:
                self._on_disconnected("closed")
            except Exception:
                log.exception("ARI on_disconnected handler failed")

    def _read(self, ws: websocket.WebSocket) -> str:
        ws.settimeout(min(1.0, self.ping_interval))
        last_rx = last_ping = time.monotonic()
        awaiting_pong = False
        while not self._stop.is_set():
            now = time.monotonic()
            if awaiting_pong and now - last_ping > self.ping_timeout:
                return "no pong within ping timeout"
            if not awaiting_pong and now - last_rx >= self.ping_interval:
                try:
                    ws.ping(b"centralita")
                except (OSError, websocket.WebSocketException):
                    return "ping failed"
                last_ping, awaiting_pong = now, True
            try:
                opcode, data = ws.recv_data(control_frame=True)
            except websocket.WebSocketTimeoutException:
                continue
            except (OSError, websocket.WebSocketException) as exc:
                return f"receive failed: {type(exc).__name__}"
            last_rx = time.monotonic()
            if opcode == websocket.ABNF.OPCODE_PONG:
                awaiting_pong = False
                continue
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return "closed by Asterisk"
            if opcode == websocket.ABNF.OPCODE_PING:
                continue
            if opcode != websocket.ABNF.OPCODE_TEXT:
                continue
            awaiting_pong = False
            try:
                event = json.loads(data)
            except ValueError:
                log.warning("ARI sent a non-JSON event (%d bytes)", len(data))
                continue
            self.events_received += 1
            if event.get("type") == "ApplicationReplaced":
                self.replaced = True
                return "application replaced"
            try:
                self._on_event(event)
            except Exception:
                log.exception("ARI event handler failed on %s", event.get("type"))
        return "stopped"
