"""A real HTTP server that behaves like the ISP's MikroTik API, for tests, benches and ``make run``.

``GET /health`` and ``POST /query`` as in the seed, answering the seed's example conversations.
Latency and faults can be set at start and changed at runtime, from Python (``configure``) or over
HTTP (``POST /_sim/config``); counters are kept on the server side so tests can count what really
reached it: requests served and TCP connections accepted.

Faults: ``down`` (connection dropped before any answer), ``hang`` (never answers), ``slow``
(answers after ``slow_seconds``), ``500``/``503``/``404`` (HTTP error), ``garbage`` (200 with a body
that is not JSON), ``badshape`` (JSON without the expected fields), ``reset`` (headers and half a
body, then a TCP reset), ``trickle`` (body one byte at a time), ``fail`` (``success: false``),
``302`` (a redirect to a login page).
With ``match`` set, a fault only hits questions whose normalised text contains it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import socket
import struct
import sys
import threading
from collections import deque
from dataclasses import asdict, dataclass, fields, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mikrotik_tool.normalize import normalize_question

log = logging.getLogger(__name__)

FAULTS = (
    "none",
    "down",
    "hang",
    "slow",
    "500",
    "503",
    "404",
    "302",
    "garbage",
    "badshape",
    "reset",
    "trickle",
    "fail",
)
HEALTH = {"status": "ok", "service": "MikroTik API", "version": "1.0"}

ROUTERS = (("FIBRA OPTICA", "192.168.26.1"), ("ROUTER 2", "192.168.146.1"), ("ROUTER 3", "192.168.150.1"))
# The seed fixes 221 on router-146 ("FIBRA OPTICA", the main router) and 450 in total; the split of
# the other 229 between ROUTER 2 and ROUTER 3 is the simulator's own invention.
ACTIVE_CLIENTS = {"FIBRA OPTICA": 221, "ROUTER 2": 137, "ROUTER 3": 92}
TOTAL_CLIENTS = 450


def answer_question(question: str) -> tuple[bool, str]:
    """(success, response) for a question, following the seed's example conversations."""
    q = normalize_question(question)
    words = set(q.split())
    if not q:
        return False, "La pregunta está vacía."
    if "trafico" in words or "wan" in words or "mbps" in words or "ancho" in words:
        if "lan" in words:
            return True, ("El tráfico actual de la interfaz LAN es de 38.1 Mbps de bajada y 9.4 Mbps de subida.")
        return True, "El tráfico actual de la interfaz WAN es de 45.3 Mbps de bajada y 12.7 Mbps de subida."
    if words & {"cliente", "clientes", "conectados", "conectado", "usuarios", "activos"}:
        if words & {"146", "principal", "fibra", "26"}:
            return True, f"En el router FIBRA OPTICA hay {ACTIVE_CLIENTS['FIBRA OPTICA']} clientes activos."
        if "router 2" in q or "router2" in words:
            return True, f"En el router ROUTER 2 hay {ACTIVE_CLIENTS['ROUTER 2']} clientes activos."
        if "router 3" in q or "router3" in words or "150" in words:
            return True, f"En el router ROUTER 3 hay {ACTIVE_CLIENTS['ROUTER 3']} clientes activos."
        if words & {"todos", "todas", "completo", "detalle"}:
            detail = ", ".join(f"{n} con {c}" for n, c in ACTIVE_CLIENTS.items())
            return True, f"Hay {TOTAL_CLIENTS} clientes activos en total: {detail}."
        return True, f"Actualmente hay {TOTAL_CLIENTS} clientes conectados en total."
    if words & {"interfaz", "interfaces"}:
        return True, ("El router FIBRA OPTICA tiene activas las interfaces ether1-WAN, ether2-LAN y sfp1-FIBRA.")
    if words & {"gateway", "gateways", "enlace"}:
        return True, "Los tres routers usan como gateway 192.168.26.254 y responden correctamente."
    if words & {"router", "routers", "equipos", "configurados"}:
        named = [f"{name} en {ip}" for name, ip in ROUTERS]
        listing = ", ".join(named[:-1]) + f" y {named[-1]}"
        return True, f"Hay {len(ROUTERS)} routers configurados: {listing}."
    return False, (
        "No pude interpretar la pregunta. Puedo informar sobre clientes, routers, tráfico, interfaces y gateways."
    )


@dataclass(frozen=True)
class SimConfig:
    """Behaviour of the simulator; every field can change at runtime."""

    latency: float = 0.0  # seconds added to every /query
    fault: str = "none"
    match: str = ""  # normalised substring a question must contain to get the fault ("" = every request)
    slow_seconds: float = 5.0
    hang_seconds: float = 120.0  # a hung request gives up (closes) after this, or when the simulator stops

    def validated(self) -> SimConfig:
        if self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; one of {', '.join(FAULTS)}")
        if self.latency < 0 or self.slow_seconds < 0 or self.hang_seconds < 0:
            raise ValueError("latency, slow_seconds and hang_seconds must be >= 0")
        return replace(self, match=normalize_question(self.match))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # bursts of 100+ new connections (the seed's client) must not be refused

    def __init__(self, address: tuple[str, int], sim: MikrotikSimulator) -> None:
        self.sim = sim
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-answer is normal here (timeouts, faults): no traceback."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            log.debug("client %s went away: %s", client_address, type(exc).__name__)
            return
        super().handle_error(request, client_address)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        # Headers and body are written separately: without NODELAY, Nagle + delayed ACK add 40 ms.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sim._on_connection(conn)
        return conn, addr


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.sim._on_close(self.connection)

    # -- routing ------------------------------------------------------------------------------

    def do_GET(self) -> None:
        sim = self.server.sim
        if self.path == "/_sim/stats":
            self._json(200, sim.stats())
            return
        if self.path != "/health":
            self._json(404, {"success": False, "response": "Ruta desconocida."})
            return
        cfg = sim.config
        sim._count("health")
        if cfg.match or not self._apply_fault(cfg):
            self._json(200, HEALTH)

    def do_POST(self) -> None:
        sim = self.server.sim
        body = self._read_body()
        if self.path.startswith("/_sim/"):
            self._control(body)
            return
        if self.path != "/query":
            self._json(404, {"success": False, "response": "Ruta desconocida."})
            return
        sim._count("query")
        try:
            data = json.loads(body.decode("utf-8") or "{}")
            question = data.get("question", "")
            timeout = data.get("timeout")
            if not isinstance(question, str):
                raise ValueError("question must be a string")
        except (ValueError, AttributeError):
            self._json(400, {"success": False, "response": "Cuerpo de la petición inválido."})
            return
        sim._record(question, timeout)
        sim._enter()
        try:
            self._answer_query(question)
        finally:
            sim._leave()

    def _answer_query(self, question: str) -> None:
        sim = self.server.sim
        cfg = sim.config
        if cfg.latency and not sim._sleep(cfg.latency):
            return
        hit = cfg.fault != "none" and (not cfg.match or cfg.match in normalize_question(question))
        if hit and self._apply_fault(cfg, question):
            return
        ok, text = answer_question(question)
        self._json(200 if ok or question.strip() else 400, {"success": ok, "response": text})

    def _control(self, body: bytes) -> None:
        sim = self.server.sim
        try:
            changes = json.loads(body.decode("utf-8") or "{}")
            if self.path == "/_sim/config":
                sim.configure(**changes)
            elif self.path == "/_sim/reset":
                sim.reset()
            else:
                self._json(404, {"error": "unknown control path"})
                return
        except (ValueError, TypeError) as exc:
            self._json(400, {"error": str(exc)})
            return
        self._json(200, {"config": asdict(sim.config), "stats": sim.stats()})

    # -- faults -------------------------------------------------------------------------------

    def _apply_fault(self, cfg: SimConfig, question: str = "") -> bool:
        """Misbehave as configured; True when the request has been dealt with."""
        sim = self.server.sim
        fault = cfg.fault
        if fault == "none":
            return False
        sim._count("faults")
        if fault == "down":
            self._reset_connection()
        elif fault == "hang":
            sim._sleep(cfg.hang_seconds)
            self.close_connection = True
        elif fault == "slow":
            if not sim._sleep(cfg.slow_seconds):
                self.close_connection = True
                return True
            return False
        elif fault in ("500", "503", "404"):
            self._json(int(fault), {"success": False, "error": f"HTTP {fault} simulado"})
        elif fault == "302":
            self.send_response(302)
            self.send_header("Location", "/login")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif fault == "garbage":
            self._raw(200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
        elif fault == "badshape":
            self._json(200, {"result": "sin campos esperados"})
        elif fault == "fail":
            self._json(200, {"success": False, "response": "No se pudo conectar con el router ROUTER 3."})
        elif fault == "reset":
            body = json.dumps({"success": True, "response": answer_question(question)[1]}).encode()
            self._headers(200, "application/json", len(body))
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self._reset_connection()
        elif fault == "trickle":
            body = json.dumps({"success": True, "response": answer_question(question)[1]}).encode()
            self._headers(200, "application/json", len(body))
            for i in range(len(body)):
                self.wfile.write(body[i : i + 1])
                self.wfile.flush()
                if not sim._sleep(0.2):
                    break
            self.close_connection = True
        return True

    def _reset_connection(self) -> None:
        """Abort the TCP connection (RST) so the client sees a reset, not a clean close."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    # -- plumbing -----------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _headers(self, status: int, content_type: str, length: int) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def _raw(self, status: int, body: bytes, content_type: str) -> None:
        self._headers(status, content_type, len(body))
        self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        body = json.dumps(data, ensure_ascii=False).encode("utf-8")
        self._raw(status, body, "application/json; charset=utf-8")


class MikrotikSimulator:
    """Start with ``start()`` (port 0 = a free port), read ``url``, stop with ``stop()``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **config: Any) -> None:
        self.host = host
        self._requested_port = port
        self._config = SimConfig(**config).validated()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._counters = {"query": 0, "health": 0, "faults": 0, "connections": 0}
        self._open: set[socket.socket] = set()
        self._peak_open = 0
        self._in_flight = 0  # /query requests being answered right now
        self._peak_in_flight = 0
        self.questions: deque[tuple[str, Any]] = deque(maxlen=2000)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> MikrotikSimulator:
        self._stop.clear()
        self._server = _Server((self.host, self._requested_port), self)
        self._requested_port = self._server.server_address[1]  # a restart comes back on the same port
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="mikrotik-sim", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            conns = list(self._open)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> MikrotikSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port; kept after ``stop`` (then nothing listens there: connection refused)."""
        if self._requested_port == 0:
            raise RuntimeError("simulator not started")
        return self._requested_port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- behaviour ----------------------------------------------------------------------------

    @property
    def config(self) -> SimConfig:
        return self._config

    def configure(self, **changes: Any) -> SimConfig:
        """Change latency/fault/match/... at runtime; unknown names raise ``TypeError``."""
        known = {f.name for f in fields(SimConfig)}
        unknown = set(changes) - known
        if unknown:
            raise TypeError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        with self._lock:
            self._config = replace(self._config, **changes).validated()
            return self._config

    def reset(self) -> None:
        """Back to normal behaviour and zero counters (open connections stay counted as open)."""
        with self._lock:
            self._config = SimConfig()
            for key in self._counters:
                self._counters[key] = 0
            self._peak_open = len(self._open)
            self._peak_in_flight = self._in_flight
            self.questions.clear()

    # -- counters -----------------------------------------------------------------------------

    @property
    def requests_served(self) -> int:
        """Requests to /query and /health (control requests are not counted)."""
        with self._lock:
            return self._counters["query"] + self._counters["health"]

    @property
    def queries(self) -> int:
        with self._lock:
            return self._counters["query"]

    @property
    def connections_accepted(self) -> int:
        with self._lock:
            return self._counters["connections"]

    @property
    def peak_in_flight(self) -> int:
        """Most /query requests being answered at the same time since start or ``reset``."""
        with self._lock:
            return self._peak_in_flight

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "requests": self._counters["query"] + self._counters["health"],
                "queries": self._counters["query"],
                "health": self._counters["health"],
                "faults": self._counters["faults"],
                "connections": self._counters["connections"],
                "open_connections": len(self._open),
                "peak_open_connections": self._peak_open,
                "in_flight_queries": self._in_flight,
                "peak_in_flight_queries": self._peak_in_flight,
            }

    def _count(self, name: str) -> None:
        with self._lock:
            self._counters[name] += 1

    def _record(self, question: str, timeout: Any) -> None:
        with self._lock:
            self.questions.append((question, timeout))

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _on_connection(self, conn: socket.socket) -> None:
        with self._lock:
            self._counters["connections"] += 1
            self._open.add(conn)
            self._peak_open = max(self._peak_open, len(self._open))

    def _on_close(self, conn: socket.socket) -> None:
        with self._lock:
            self._open.discard(conn)

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless the simulator stops meanwhile; False when interrupted by ``stop``."""
        return not self._stop.wait(seconds)


def run_forever(sim: MikrotikSimulator) -> None:
    """Serve until SIGINT or SIGTERM (used by the CLI; the suite supervisor stops children with SIGTERM)."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("received %s: stopping the simulator", signal.Signals(signum).name)
        stop.set()

    # Handlers first: a signal arriving while the server starts must still stop it cleanly.
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        sim.start()
        log.warning("MikroTik API SIMULATOR listening on %s (config %s)", sim.url, asdict(sim.config))
        while not stop.wait(1.0):
            pass
    finally:
        sim.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
