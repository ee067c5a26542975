"""A gateway wired to the fake Asterisk on loopback, with leak checks for after every scenario."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import replace

from call_gateway.app import Gateway, GatewaySettings
from centralita.profiles import Profile, ProfileBook
from tests.helpers import udp_port_range


def wait_for(pred, timeout=5.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.01)
    if not pred():
        raise AssertionError(f"timed out waiting for {what}")


def profile_book() -> ProfileBook:
    isp = Profile(
        name="soporte_isp",
        instructions="Soporte técnico.",
        tools=("consultar_mikrotik",),
        greeting="Hola, soporte técnico.",
    )
    legal = Profile(
        name="informacion_legal",
        instructions="Información legal.",
        tools=("search_content", "query_metadata_sql", "get_database_stats"),
        greeting="Hola, información legal.",
    )
    return ProfileBook(
        profiles={"soporte_isp": isp, "informacion_legal": legal},
        numbers={"100": "soporte_isp", "200": "informacion_legal"},
        default="soporte_isp",
    )


GATEWAY_THREAD_PREFIXES = ("gw-worker", "rtp-", "ari-events", "rt-")


def gateway_threads() -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t.name.startswith(GATEWAY_THREAD_PREFIXES))


def make_gateway(fake, session_factory, *, ports: int = 8, profiles: ProfileBook | None = None, **overrides) -> Gateway:
    lo, hi = udp_port_range(ports)
    settings = GatewaySettings(
        ari_url=fake.url,
        ari_app="centralita",
        ari_username=fake.username,
        ari_password=fake.password,
        external_media_host="127.0.0.1",
        rtp_bind_host="127.0.0.1",
        rtp_port_min=lo,
        rtp_port_max=hi,
        http_port=0,
        http_host="127.0.0.1",
        drain_seconds=1.0,
        ari_ping_interval=0.5,
        ari_ping_timeout=1.0,
        media_ready_timeout=3.0,
        drain_audio_timeout=1.0,
        workers=8,
    )
    settings = replace(settings, **overrides)
    gw = Gateway(settings, session_factory=session_factory, profiles=profiles or profile_book())
    gw.start()
    assert fake.wait_connected(settings.ari_app), "gateway never connected to the fake ARI"
    wait_for(lambda: gw.counters["reconciliations"] >= 1, what="first reconciliation")
    return gw


def assert_call_left_nothing(fake, gw: Gateway, call_ids=()) -> None:
    """The fake Asterisk holds no channel/bridge of ours; the gateway no socket/thread of the call."""
    prefix = gw.settings.ari_app + "-"
    wait_for(lambda: fake.leftovers(prefix) == {"channels": [], "bridges": []}, 5, "our channels/bridges gone")
    # no caller left in our Stasis app either: each one hung up, was hung up, or went back to the dialplan
    wait_for(lambda: not [c for c, ch in fake.channels.items() if ch["app"] == gw.settings.ari_app], 5, "callers gone")
    wait_for(lambda: gw.active_calls() == 0, 5, "calls forgotten")
    wait_for(lambda: gw.ports.in_use() == 0 and gw.media.endpoints() == 0, 5, "RTP sockets closed")
    for cid in call_ids:
        wait_for(lambda cid=cid: not [t for t in threading.enumerate() if cid in t.name], 5, f"threads of {cid} gone")
    wait_for(lambda: not [n for n in gateway_threads() if n.startswith("rt-")], 5, "Realtime threads gone")
    # the ports are really free again: bind each one
    for port in range(gw.settings.rtp_port_min, gw.settings.rtp_port_max + 1):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            raise AssertionError(f"RTP port {port} still bound: {exc}") from None
        finally:
            s.close()
