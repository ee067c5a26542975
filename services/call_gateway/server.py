"""The gateway process: the ARI loop plus HTTP /healthz, /readyz and /metrics (``centralita serve call_gateway``
runs it through ``centralita_suite.compose``, which also mounts the text chat on the same port).

SIGTERM/SIGINT: /readyz turns 503 and new calls are refused at once, active calls get
``GATEWAY_DRAIN_SECONDS`` to finish, then whatever is left is torn down cleanly.
"""

from __future__ import annotations

import gc
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from call_gateway.app import Gateway, GatewaySettings
from centralita.config import ConfigError

log = logging.getLogger("call_gateway.server")


def _nothing() -> None:
    pass


@dataclass(frozen=True)
class HttpRoute:
    """A POST route another part mounts on the gateway's HTTP port (the text chat's ``/v1/chat``).

    The gateway does not know what is mounted: the composition root (``centralita_suite.compose``) builds the
    routes, so ``call_gateway`` never imports ``chat``.
    """

    path: str
    handle: Callable[[BaseHTTPRequestHandler], None]  # serves one request (method and path checked)
    close: Callable[[], None] = _nothing


# Builds a route once the gateway (and its dispatcher) exists; None = not mounted.
RouteFactory = Callable[["Gateway"], HttpRoute | None]


class GatewayCollector:
    """Prometheus view of the gateway's own counters (no global registry: several gateways per test)."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw

    def collect(self):
        gw, st = self.gw, self.gw.media.stats
        yield GaugeMetricFamily("centralita_gateway_calls_active", "Calls in progress", value=gw.active_calls())
        yield GaugeMetricFamily(
            "centralita_gateway_ari_connected", "ARI events socket connected", value=1 if gw.events.connected else 0
        )
        yield GaugeMetricFamily("centralita_gateway_accepting", "Taking new calls", value=1 if gw.accepting else 0)
        yield GaugeMetricFamily("centralita_gateway_rtp_ports_in_use", "RTP ports in use", value=gw.ports.in_use())
        yield GaugeMetricFamily(
            "centralita_gateway_rtp_ports", "RTP ports in the range (RTP_PORT_MIN..RTP_PORT_MAX)", value=gw.ports.size
        )
        yield GaugeMetricFamily(
            "centralita_gateway_barge_in_gate_ms",
            "How long caller sound must last to interrupt the assistant (0 = no gate)",
            value=getattr(gw, "barge_in_gate_ms", 0),
        )
        c = CounterMetricFamily("centralita_gateway_ari_connections", "ARI events connections made")
        c.add_metric([], gw.events.connections)
        yield c
        for name, help_ in (
            ("calls_started", "Calls set up"),
            ("calls_refused", "Calls refused"),
            ("reconciliations", "State reconciliations with Asterisk"),
            ("orphans_removed", "Leftover channels/bridges removed"),
            ("calls_adopted", "Callers adopted after a missed StasisStart"),
        ):
            c = CounterMetricFamily(f"centralita_gateway_{name}", help_)
            c.add_metric([], gw.counters[name])
            yield c
        c = CounterMetricFamily("centralita_gateway_calls_ended", "Calls ended, by outcome", labels=["outcome"])
        for outcome, n in sorted(dict(gw.outcomes).items()):
            c.add_metric([outcome], n)
        yield c
        c = CounterMetricFamily(
            "centralita_gateway_playback_failed",
            "Asterisk playbacks that ended with state failed (the caller heard nothing)",
            labels=["media"],
        )
        for media, n in sorted(dict(gw.playback_failed).items()):
            c.add_metric([media], n)
        yield c
        c = CounterMetricFamily("centralita_gateway_refusals", "Refused calls by reason", labels=["reason"])
        for reason, n in sorted(dict(gw.refusals).items()):
            c.add_metric([reason], n)
        yield c
        for name, value, help_ in (
            ("rtp_packets_sent", st.packets_sent, "RTP packets sent"),
            ("rtp_packets_received", st.packets_received, "RTP packets accepted"),
            ("rtp_send_errors", st.send_errors, "RTP send failures"),
            ("rtp_pacer_ticks", st.ticks, "Pacer ticks"),
            ("rtp_pacer_skipped_ticks", st.skipped_ticks, "Ticks skipped after a stall"),
            ("rtp_pacer_late_ticks", st.late_ticks, "Ticks started > 2 ms late"),
        ):
            c = CounterMetricFamily(f"centralita_gateway_{name}", help_)
            c.add_metric([], value)
            yield c
        c = CounterMetricFamily("centralita_gateway_rtp_packets_dropped", "Inbound RTP dropped", labels=["reason"])
        for reason, n in st.dropped.items():
            c.add_metric([reason], n)
        yield c
        yield GaugeMetricFamily(
            "centralita_gateway_rtp_pacer_max_lateness_ms", "Worst pacer tick lateness", value=st.max_lateness_ms
        )
        yield GaugeMetricFamily(
            "centralita_gateway_rtp_pacer_realtime",
            "Pacer thread runs with SCHED_RR",
            value=1 if getattr(gw.media, "priority_granted", False) else 0,
        )


class ProcessMetrics:
    """The process-wide registry (the ``centralita_gateway_realtime_*`` series, the dispatcher's, Python's own)
    as one collector, so ``/metrics`` serves it next to the gateway's per-instance ``GatewayCollector``."""

    def collect(self):
        yield from REGISTRY.collect()


def start_http(gw: Gateway, host: str, port: int, routes: Sequence[HttpRoute] = ()) -> ThreadingHTTPServer:
    """Health, readiness and metrics; plus the POST ``routes`` mounted by the composition root."""
    posts = {route.path: route.handle for route in routes}
    registry = CollectorRegistry()
    registry.register(GatewayCollector(gw))
    registry.register(ProcessMetrics())

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):
            pass

        def _send(self, status: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                ok = gw.media.alive()
                self._send(200 if ok else 503, b"ok\n" if ok else b"media threads down\n")
            elif path == "/readyz":
                if gw.ready:
                    self._send(200, b"ready\n")
                else:
                    why = (
                        "apology sound unusable"
                        if gw.fatal
                        else "draining"
                        if not gw.accepting
                        else "apology sounds not checked yet"
                        if gw.sounds_pending
                        else "ARI not connected"
                    )
                    self._send(503, f"not ready: {why}\n".encode())
            elif path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            else:
                self._send(404, b"not found\n")

        def do_POST(self):
            handle = posts.get(self.path.split("?", 1)[0])
            if handle is not None:
                handle(self)
            else:
                self._send(404, b"not found\n")

    httpd = ThreadingHTTPServer((host, port), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="gw-http", daemon=True).start()
    return httpd


def build_gateway(settings: GatewaySettings) -> Gateway:
    """The production wiring: profiles file, tool dispatcher, one voice engine per call by profile ``backend``."""
    from call_gateway.factories import check_backends, voice_engine_factory
    from call_gateway.realtime import RealtimeSettings
    from centralita.config import env_list
    from centralita.dispatcher import Dispatcher
    from centralita.profiles import load_profiles

    profiles = load_profiles(settings.profiles_path or None)
    check_backends(profiles)  # before any connection is opened
    dispatcher = Dispatcher.connect(env_list("TOOL_ENDPOINTS", "127.0.0.1:50051,127.0.0.1:50052"))
    rt_settings = RealtimeSettings.from_env()
    gw = Gateway(settings, session_factory=voice_engine_factory(profiles, dispatcher, rt_settings), profiles=profiles)
    gw.dispatcher = dispatcher
    gw.barge_in_gate_ms = rt_settings.barge_in_gate_ms  # declared on /metrics
    return gw


def main(argv: list[str] | None = None, *, mounts: Sequence[RouteFactory] = ()) -> int:
    """Run the gateway; ``mounts`` add POST routes on its HTTP port (see ``centralita_suite.compose``)."""
    from centralita.config import setup_logging

    setup_logging("call_gateway")
    from centralita import memdebug
    from centralita.config import env_float

    memdebug.install("call_gateway")  # CENTRALITA_TRACEMALLOC: off unless an operator asks

    # a thread woken by network input (e.g. a barge-in event) waits at most this long for the GIL
    sys.setswitchinterval(env_float("GATEWAY_SWITCH_INTERVAL", 0.005))
    settings = GatewaySettings.from_env()
    if not settings.ari_username or not settings.ari_password:
        log.warning("ASTERISK_USERNAME/ASTERISK_PASSWORD not set: ARI will refuse us (401)")
    from centralita.config import env_str

    if not env_str("OPENAI_API_KEY", ""):
        log.warning("OPENAI_API_KEY is not set: every call will fail to start its Realtime session")
    gw = build_gateway(settings)
    routes = [route for route in (mount(gw) for mount in mounts) if route is not None]
    httpd = start_http(gw, settings.http_host, settings.http_port, routes)
    stop = threading.Event()

    def on_signal(signum, frame):
        log.info("signal %d: draining", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # Everything imported and built so far lives for the whole process: keep it out of the cyclic GC,
    # whose full collections over the grpc/openai/pydantic object graph would stall the pacer.
    gc.collect()
    gc.freeze()
    try:
        gw.start()
    except ConfigError as exc:
        log.error("refusing to start: %s", exc)
        _close(gw, httpd, routes)
        raise
    log.info(
        "call gateway up: ARI %s app %s, HTTP :%d, RTP %s:%d-%d",
        settings.ari_url,
        settings.ari_app,
        httpd.server_address[1],
        settings.rtp_bind_host,
        settings.rtp_port_min,
        settings.rtp_port_max,
    )
    while not stop.wait(0.5):
        if gw.fatal:  # a fallback found unplayable once ARI answered: refuse to run
            break
    gw.shutdown(grace=0 if gw.fatal else None)
    _close(gw, httpd, routes)
    if gw.fatal:
        raise ConfigError(gw.fatal)
    return 0


def _close(gw: Gateway, httpd: ThreadingHTTPServer, routes: Sequence[HttpRoute]) -> None:
    httpd.shutdown()
    httpd.server_close()
    for route in routes:
        route.close()
    dispatcher = getattr(gw, "dispatcher", None)
    if dispatcher is not None:
        dispatcher.close()


if __name__ == "__main__":
    sys.exit(main())
