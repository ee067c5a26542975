"""Prometheus metrics and the small HTTP endpoint (/metrics, /healthz) every process exposes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

log = logging.getLogger(__name__)

GRPC_HANDLED = Counter(
    "centralita_grpc_server_handled_total", "gRPC calls finished, by method and status code", ["method", "code"]
)
GRPC_IN_PROGRESS = Gauge(
    "centralita_grpc_server_in_progress",
    "gRPC calls being handled now, by method (async handlers count while they wait on I/O)",
    ["method"],
)
GRPC_LATENCY = Histogram(
    "centralita_grpc_server_handling_seconds",
    "gRPC call handling time",
    ["method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


class MetricsServer:
    """Serves ``/metrics`` (Prometheus text) and ``/healthz`` (200 while ``healthy()`` is true)."""

    def __init__(self, host: str, port: int, healthy: Callable[[], bool] = lambda: True) -> None:
        healthy_fn = healthy

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, generate_latest(), CONTENT_TYPE_LATEST)
                elif path in ("/healthz", "/readyz"):
                    ok = healthy_fn()
                    self._send(200 if ok else 503, b"ok\n" if ok else b"draining\n", "text/plain")
                else:
                    self._send(404, b"not found\n", "text/plain")

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:  # scrapes every few seconds: not worth a line
                return

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="metrics-http", daemon=True)

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
