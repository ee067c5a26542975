"""A fake Asterisk for the gateway tests: a real HTTP + WebSocket server on loopback implementing the
ARI subset the gateway uses, every request checked against Asterisk's published API docs, plus a real
UDP RTP peer per externalMedia channel.

Driving it (from a test): ``new_call(exten)`` puts a caller channel into Stasis (StasisStart),
``caller_hangup(id)`` hangs it up, ``drop_event_sockets(refuse_for)`` kills the events WebSocket,
``freeze_event_sockets()`` stops answering pings. ``violations`` lists every request that broke the
spec; ``leftovers(prefix)`` lists channels/bridges still alive. ``plays`` records every play request;
each playback sends PlaybackStarted, then PlaybackFinished after ``playback_duration`` seconds (None:
never), at once if its channel goes away (unless ``playback_finished_on_hangup`` is false: the event is
lost), with state ``failed`` for a media URI in ``missing_media`` or a ``sound:`` that is not in
``sounds`` in any language (what a real Asterisk 22 did for ``sound:an-error-has-occurred``: Asterisk
falls back to English or no language, so only a sound missing everywhere fails). ``sounds`` (id →
{language: [formats]}) starts as a few ids of the stock core sound packs and is served by
``GET /sounds/{soundId}``; ``request_times`` has (monotonic time, method, path) of every request.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import socket
import struct
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

from centralita_fixtures.ari_spec import AriSpec, SpecViolation
from centralita_fixtures.rtp_peer import MediaLeg, RtpPeer

_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# A few ids of Asterisk's stock core sound packs (English and Spanish); ``an-error-has-occurred`` is in
# neither, as measured on Asterisk 22 with Debian's asterisk-core-sounds-en/-es.
STOCK_SOUNDS: dict[str, dict[str, list[str]]] = {
    "vm-goodbye": {"en": ["gsm", "ulaw"], "es": ["gsm", "ulaw"]},
    "hello-world": {"en": ["gsm", "ulaw"]},
    "demo-congrats": {"en": ["gsm"], "es": ["gsm"]},
    "tt-somethingwrong": {"en": ["gsm", "ulaw"], "es": ["gsm"]},
    "beep": {"en": ["gsm"]},
}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


class _Unchecked:
    """Routes requests by path like AriSpec, without the docs (only for the benchmark)."""

    ROUTES = (
        ("GET", r"/channels", "channels", "list"),
        ("GET", r"/channels/[^/]+", "channels", "get"),
        ("POST", r"/channels/externalMedia", "channels", "externalMedia"),
        ("POST", r"/channels/[^/]+/answer", "channels", "answer"),
        ("POST", r"/channels/[^/]+/continue", "channels", "continueInDialplan"),
        ("POST", r"/channels/[^/]+/variable", "channels", "setChannelVar"),
        ("POST", r"/channels/[^/]+/play", "channels", "play"),
        ("DELETE", r"/channels/[^/]+", "channels", "hangup"),
        ("GET", r"/bridges", "bridges", "list"),
        ("POST", r"/bridges", "bridges", "create"),
        ("DELETE", r"/bridges/[^/]+", "bridges", "destroy"),
        ("POST", r"/bridges/[^/]+/addChannel", "bridges", "addChannel"),
        ("GET", r"/events", "events", "ws"),
        ("GET", r"/sounds/[^/]+", "sounds", "get"),
    )

    def check(self, method, path, query, body):
        import re
        from types import SimpleNamespace

        rel = path[len("/ari") :]
        for m, pattern, resource, nick in self.ROUTES:
            if m == method and re.fullmatch(pattern, rel):
                parts = rel.split("/")
                pp = {"channelId": parts[2]} if resource == "channels" and len(parts) > 2 else {}
                if resource == "bridges" and len(parts) > 2:
                    pp = {"bridgeId": parts[2]}
                if resource == "sounds":
                    pp = {"soundId": parts[2]}
                return SimpleNamespace(path=f"/{resource}", nickname=nick), pp
        raise SpecViolation(404, f"no route {method} {rel}")


_NO_SPEC = _Unchecked()


class AriHttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class EventSocket:
    """Server side of one events WebSocket (RFC 6455 framing, text frames out, pings answered)."""

    def __init__(self, sock: socket.socket, apps: list[str]) -> None:
        self.sock = sock
        self.apps = apps
        self.frozen = False
        self.open = True
        self.pings = 0
        self._wlock = threading.Lock()

    def send_text(self, text: str) -> None:
        self._send(0x1, text.encode())

    def _send(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", 0x80 | opcode, n)
        elif n < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 126, n)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 127, n)
        with self._wlock:
            if not self.open:
                return
            try:
                self.sock.sendall(header + payload)
            except OSError:
                self.open = False

    def _read_exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf

    def serve(self) -> None:
        try:
            while self.open:
                b0, b1 = self._read_exact(2)
                opcode, n = b0 & 0x0F, b1 & 0x7F
                if n == 126:
                    (n,) = struct.unpack("!H", self._read_exact(2))
                elif n == 127:
                    (n,) = struct.unpack("!Q", self._read_exact(8))
                mask = self._read_exact(4) if b1 & 0x80 else b"\0\0\0\0"
                payload = bytes(c ^ mask[i % 4] for i, c in enumerate(self._read_exact(n)))
                if opcode == 0x9:
                    self.pings += 1
                    if not self.frozen:
                        self._send(0xA, payload)
                elif opcode == 0x8:
                    self._send(0x8, payload[:2])
                    break
        except (OSError, ConnectionError, ValueError):
            pass
        finally:
            self.kill()

    def kill(self) -> None:
        self.open = False
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()


class FakeAsterisk:
    def __init__(
        self,
        docs_dir,
        *,
        username: str = "ariuser",
        password: str = "s3cret-ari-pw",
        media_stasis_delay: float = 0.05,
        kernel_timestamps: bool = False,
        playback_duration: float | None = 0.3,
    ) -> None:
        self.spec = AriSpec(docs_dir) if docs_dir is not None else None  # None: no checking (bench only)
        self.username, self.password = username, password
        self.media_stasis_delay = media_stasis_delay
        self.playback_duration = playback_duration
        self.missing_media: set[str] = set()
        self.sounds: dict[str, dict[str, list[str]]] = {
            k: {lang: list(f) for lang, f in v.items()} for k, v in STOCK_SOUNDS.items()
        }
        self.request_times: list[tuple[float, str, str]] = []
        self.playback_finished_on_hangup = True
        self.plays: list[dict] = []  # every play request: channel, args, bridge it was in
        self.playbacks: dict[str, dict] = {}  # playing now: id -> {"json": Playback, "channel", "timers"}
        self.lock = threading.RLock()
        self.channels: dict[str, dict] = {}
        self.bridges: dict[str, dict] = {}
        self.departed: list[dict] = []  # channels that left Stasis via continue
        self.hung_up: dict[str, str] = {}  # channel id -> who ("caller" or "ari")
        self.variables: dict[str, dict] = {}
        self.violations: list[str] = []
        self.requests: list[tuple[str, str, dict]] = []
        self.sockets: list[EventSocket] = []
        self.event_log: list[dict] = []
        self.refuse_until = 0.0
        self.fail_next: dict[tuple[str, str], int] = {}  # (method, operation nickname) -> HTTP status, once
        self.ws_attempts = 0
        self.rtp = RtpPeer(kernel_timestamps)
        self.media: dict[str, MediaLeg] = {}
        self._ids = itertools.count(1)
        self._timers: list[threading.Timer] = []
        fake = self

        class Handler(_Handler):
            owner = fake

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-asterisk-http", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        for t in self._timers:
            t.cancel()
        for s in list(self.sockets):
            s.kill()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.rtp.stop()

    # -- test driver ------------------------------------------------------------------------------
    def connected_apps(self) -> set[str]:
        with self.lock:
            return {a for s in self.sockets if s.open for a in s.apps}

    def wait_connected(self, app: str, timeout: float = 5.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if app in self.connected_apps():
                return True
            time.sleep(0.01)
        return False

    def new_call(
        self, exten: str = "100", *, app: str = "centralita", caller: str = "1155550000", args: list[str] | None = None
    ) -> str:
        n = next(self._ids)
        cid = f"{int(time.time())}.{n}"
        chan = {
            "id": cid,
            "name": f"PJSIP/trunk-{n:08x}",
            "state": "Ring",
            "protocol_id": f"sip-{n}@fake",
            "caller": {"name": "", "number": caller},
            "connected": {"name": "", "number": ""},
            "accountcode": "",
            "dialplan": {"context": "from-pstn", "exten": exten, "priority": 2, "app_name": "Stasis", "app_data": app},
            "creationtime": _now(),
            "language": "es",
        }
        with self.lock:
            if app not in self.connected_apps():
                raise RuntimeError(f"Stasis({app}) failed: app not registered")
            self.channels[cid] = {"json": chan, "app": app, "stasis": True, "bridge": None}
            self._emit(app, {"type": "StasisStart", "args": args or [], "channel": chan})
        return cid

    def caller_hangup(self, channel_id: str, cause: int = 16) -> None:
        with self.lock:
            ch = self.channels.get(channel_id)
            if ch is None:
                return
            self._emit(ch["app"], {"type": "ChannelHangupRequest", "cause": cause, "channel": ch["json"]})
            self._destroy_channel(channel_id, cause, "Normal Clearing", by="caller")

    def drop_event_sockets(self, refuse_for: float = 0.0) -> None:
        """Kill every events socket at once (as a restart or a network cut would)."""
        with self.lock:
            self.refuse_until = time.monotonic() + refuse_for
            for s in self.sockets:
                s.kill()

    def freeze_event_sockets(self) -> None:
        """The socket stays open but nothing comes back (a dead peer behind a NAT)."""
        with self.lock:
            for s in self.sockets:
                s.frozen = True

    def leg_for_caller(self, caller_id: str) -> MediaLeg | None:
        with self.lock:
            ch = self.channels.get(caller_id)
            bridge = self.bridges.get(ch["bridge"]) if ch and ch["bridge"] else None
            if bridge is None:
                return None
            for other in bridge["channels"]:
                if other in self.media:
                    return self.media[other]
        return None

    def leftovers(self, prefix: str = "") -> dict[str, list[str]]:
        with self.lock:
            return {
                "channels": [c for c in self.channels if c.startswith(prefix)],
                "bridges": [b for b in self.bridges if b.startswith(prefix)],
            }

    # -- events -----------------------------------------------------------------------------------
    def _emit(self, app: str, event: dict) -> None:
        event = {**event, "application": app, "timestamp": _now(), "asterisk_id": "fa:ke:00:00:00:01"}
        self.event_log.append(event)
        text = json.dumps(event)
        for s in list(self.sockets):
            if s.open and app in s.apps:
                s.send_text(text)  # no subscriber: the event is lost, as in Asterisk

    def _channel_json(self, cid: str) -> dict:
        return self.channels[cid]["json"]

    def _destroy_channel(self, cid: str, cause: int, cause_txt: str, by: str) -> None:
        ch = self.channels.get(cid)
        if ch is None:
            return
        self._stop_playbacks(cid)
        self._leave_bridge(cid)
        if ch["stasis"]:
            self._emit(ch["app"], {"type": "StasisEnd", "channel": ch["json"]})
        self._emit(
            ch["app"], {"type": "ChannelDestroyed", "cause": cause, "cause_txt": cause_txt, "channel": ch["json"]}
        )
        del self.channels[cid]
        self.hung_up[cid] = by
        if cid in self.media:
            self.rtp.close_leg(cid)

    def _leave_bridge(self, cid: str) -> None:
        ch = self.channels[cid]
        bid = ch["bridge"]
        if bid and bid in self.bridges:
            b = self.bridges[bid]
            b["channels"].remove(cid)
            self._emit(
                ch["app"], {"type": "ChannelLeftBridge", "bridge": self._bridge_json(bid), "channel": ch["json"]}
            )
        ch["bridge"] = None
        self._update_media()

    def _bridge_json(self, bid: str) -> dict:
        b = self.bridges[bid]
        return {
            "id": bid,
            "technology": "simple_bridge",
            "bridge_type": "mixing",
            "bridge_class": "stasis",
            "creator": "Stasis",
            "name": b["name"],
            "channels": list(b["channels"]),
            "creationtime": b["creationtime"],
            "video_mode": "talker",
        }

    def _update_media(self) -> None:
        """A media leg streams caller audio while it shares a bridge with a caller channel."""
        for mid, leg in self.media.items():
            ch = self.channels.get(mid)
            b = self.bridges.get(ch["bridge"]) if ch and ch["bridge"] else None
            leg.sending = bool(b and any(c not in self.media for c in b["channels"]))

    # -- REST -------------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict, body: dict | None) -> tuple[int, object]:
        self.requests.append((method, path, query))
        self.request_times.append((time.monotonic(), method, path))
        op, pp = (self.spec or _NO_SPEC).check(method, path, query, body)
        args = {**(body or {}), **query}
        with self.lock:
            status = self.fail_next.pop((method, op.nickname), None)
            if status is not None:
                raise AriHttpError(status, "injected failure")
            resource = op.path.split("/")[1]
            return getattr(self, f"_op_{resource}_{op.nickname}", self._op_unimplemented)(pp, args)

    def _op_unimplemented(self, pp, args):
        raise AriHttpError(501, "not implemented by the fake")

    def _op_sounds_get(self, pp, args):
        sid = unquote(pp["soundId"])
        langs = self.sounds.get(sid)
        if not langs:
            raise AriHttpError(404, "Sound not found")
        return 200, {
            "id": sid,
            "text": "",
            "formats": [{"language": lang, "format": f} for lang, fmts in langs.items() for f in fmts],
        }

    def _op_channels_list(self, pp, args):
        return 200, [c["json"] for c in self.channels.values()]

    def _op_bridges_list(self, pp, args):
        return 200, [self._bridge_json(b) for b in self.bridges]

    def _op_channels_get(self, pp, args):
        cid = pp["channelId"]
        if cid not in self.channels:
            raise AriHttpError(404, "Channel not found")
        return 200, self._channel_json(cid)

    def _require_stasis(self, cid: str) -> dict:
        ch = self.channels.get(cid)
        if ch is None:
            raise AriHttpError(404, "Channel not found")
        if not ch["stasis"]:
            raise AriHttpError(409, "Channel not in Stasis application")
        return ch

    def _op_channels_answer(self, pp, args):
        ch = self._require_stasis(pp["channelId"])
        if ch["json"]["state"] != "Up":
            ch["json"]["state"] = "Up"
            self._emit(ch["app"], {"type": "ChannelStateChange", "channel": ch["json"]})
        return 204, None

    def _op_channels_hangup(self, pp, args):
        cid = pp["channelId"]
        if cid not in self.channels:
            raise AriHttpError(404, "Channel not found")
        if "reason" in args and "reason_code" in args:
            raise AriHttpError(400, "Only one of reason and reason_code may be specified")
        ch = self.channels[cid]
        self._emit(ch["app"], {"type": "ChannelHangupRequest", "cause": 16, "soft": True, "channel": ch["json"]})
        self._destroy_channel(cid, 16, "Normal Clearing", by="ari")
        return 204, None

    def _op_channels_continueInDialplan(self, pp, args):
        ch = self._require_stasis(pp["channelId"])
        self._stop_playbacks(pp["channelId"])
        self._leave_bridge(pp["channelId"])
        ch["stasis"] = False
        self._emit(ch["app"], {"type": "StasisEnd", "channel": ch["json"]})
        self.departed.append({**ch["json"], "variables": self.variables.get(pp["channelId"], {})})
        del self.channels[pp["channelId"]]
        return 204, None

    def _op_channels_setChannelVar(self, pp, args):
        self._require_stasis(pp["channelId"])
        self.variables.setdefault(pp["channelId"], {})[args["variable"]] = args.get("value", "")
        return 204, None

    def _op_channels_play(self, pp, args):
        cid = pp["channelId"]
        ch = self._require_stasis(cid)
        uris = args["media"].split(",")
        pid = args.get("playbackId") or f"playback-{next(self._ids)}"
        pb = {
            "id": pid,
            "media_uri": uris[0],
            "target_uri": f"channel:{cid}",
            "language": args.get("lang") or ch["json"]["language"],
            "state": "queued",
        }
        if len(uris) > 1:
            pb["next_media_uri"] = uris[1]
        self.plays.append({"channel": cid, "args": dict(args), "bridge": ch["bridge"], "at": time.monotonic()})
        entry = {"json": pb, "channel": cid, "app": ch["app"], "timers": []}
        self.playbacks[pid] = entry
        failed = uris[0] in self.missing_media or (
            uris[0].startswith("sound:") and not self.sounds.get(uris[0][len("sound:") :])
        )
        self._later(entry, 0.01, lambda: self._playback_started(pid, fail=failed))
        if self.playback_duration is not None and not failed:
            self._later(entry, self.playback_duration, lambda: self._playback_finished(pid, "done"))
        return 200, dict(pb)

    def _later(self, entry: dict, delay: float, fn) -> None:
        def run():
            with self.lock:
                fn()

        t = threading.Timer(delay, run)
        t.daemon = True
        entry["timers"].append(t)
        self._timers.append(t)
        t.start()

    def _playback_started(self, pid: str, *, fail: bool) -> None:
        entry = self.playbacks.get(pid)
        if entry is None:
            return
        entry["json"]["state"] = "playing"
        self._emit(entry["app"], {"type": "PlaybackStarted", "playback": dict(entry["json"])})
        if fail:
            self._playback_finished(pid, "failed")

    def _playback_finished(self, pid: str, state: str) -> None:
        entry = self.playbacks.pop(pid, None)
        if entry is None:
            return
        for t in entry["timers"]:
            t.cancel()
        entry["json"]["state"] = state
        self._emit(entry["app"], {"type": "PlaybackFinished", "playback": dict(entry["json"])})

    def _stop_playbacks(self, cid: str) -> None:
        """The channel hangs up or leaves Stasis: its playbacks end at once (state done)."""
        for pid in [p for p, e in self.playbacks.items() if e["channel"] == cid]:
            if self.playback_finished_on_hangup:
                self._playback_finished(pid, "done")
            else:
                for t in self.playbacks.pop(pid)["timers"]:
                    t.cancel()

    def _op_channels_externalMedia(self, pp, args):
        if args.get("transport", "udp") != "udp" or args.get("encapsulation", "rtp") != "rtp":
            raise AriHttpError(501, "the fake only does rtp over udp")
        host = args.get("external_host", "")
        if ":" not in host:
            raise AriHttpError(400, "external_host is required (host:port)")
        h, p = host.rsplit(":", 1)
        cid = args.get("channelId") or f"media-{next(self._ids)}"
        if cid in self.channels:
            raise AriHttpError(409, "Channel with this id already exists")
        if args.get("format") != "ulaw":
            raise AriHttpError(400, "the fake only does ulaw")
        leg = self.rtp.open_leg(cid, (h, int(p)))
        la, lp = leg.local
        chan = {
            "id": cid,
            "name": f"UnicastRTP/{host}-0x{id(leg):x}",
            "state": "Down",
            "caller": {"name": "", "number": ""},
            "connected": {"name": "", "number": ""},
            "accountcode": "",
            "dialplan": {
                "context": "default",
                "exten": "s",
                "priority": 1,
                "app_name": "AppDial2",
                "app_data": "(Outgoing Line)",
            },
            "creationtime": _now(),
            "language": "en",
            "channelvars": {"UNICASTRTP_LOCAL_ADDRESS": la, "UNICASTRTP_LOCAL_PORT": str(lp)},
        }
        app = args["app"]
        self.channels[cid] = {"json": chan, "app": app, "stasis": False, "bridge": None}
        self.media[cid] = leg
        data = args.get("data")

        def enter_stasis():
            with self.lock:
                ch = self.channels.get(cid)
                if ch is None:
                    return
                ch["stasis"] = True
                ch["json"]["state"] = "Up"
                self._emit(app, {"type": "StasisStart", "args": [data] if data else [], "channel": ch["json"]})

        t = threading.Timer(self.media_stasis_delay, enter_stasis)
        t.daemon = True
        self._timers.append(t)
        t.start()
        return 200, chan

    def _op_bridges_create(self, pp, args):
        bid = args.get("bridgeId") or f"bridge-{next(self._ids)}"
        for t in args.get("type", "mixing").split(","):
            if t not in ("mixing", "holding", "dtmf_events", "proxy_media", "video_sfu", "video_single", "sdp_label"):
                raise AriHttpError(400, f"invalid bridge type {t}")
        if bid in self.bridges:
            raise AriHttpError(409, "Bridge with this id already exists")
        self.bridges[bid] = {"name": args.get("name", ""), "channels": [], "creationtime": _now()}
        return 200, self._bridge_json(bid)

    def _op_bridges_destroy(self, pp, args):
        bid = pp["bridgeId"]
        if bid not in self.bridges:
            raise AriHttpError(404, "Bridge not found")
        for cid in list(self.bridges[bid]["channels"]):
            self._leave_bridge(cid)
        app = self.bridges[bid].get("app")
        if app:
            self._emit(app, {"type": "BridgeDestroyed", "bridge": self._bridge_json(bid)})
        del self.bridges[bid]
        return 204, None

    def _op_bridges_addChannel(self, pp, args):
        bid = pp["bridgeId"]
        if bid not in self.bridges:
            raise AriHttpError(404, "Bridge not found")
        ids = args["channel"].split(",")
        for cid in ids:
            if cid not in self.channels:
                raise AriHttpError(400, "Channel not found")
            if not self.channels[cid]["stasis"]:
                raise AriHttpError(422, "Channel not in Stasis application")
            if self.channels[cid]["bridge"] not in (None, bid):
                raise AriHttpError(409, "Channel is already bridged")
        for cid in ids:
            ch = self.channels[cid]
            if ch["bridge"] == bid:
                continue
            ch["bridge"] = bid
            self.bridges[bid]["channels"].append(cid)
            self.bridges[bid]["app"] = ch["app"]
            self._emit(
                ch["app"], {"type": "ChannelEnteredBridge", "bridge": self._bridge_json(bid), "channel": ch["json"]}
            )
        self._update_media()
        return 204, None


class _Handler(BaseHTTPRequestHandler):
    owner: FakeAsterisk
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def _reply(self, status: int, payload=None, headers: dict | None = None) -> None:
        body = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _authorized(self) -> bool:
        expected = base64.b64encode(f"{self.owner.username}:{self.owner.password}".encode()).decode()
        return self.headers.get("Authorization", "") == f"Basic {expected}"

    def _dispatch(self, method: str) -> None:
        fake = self.owner
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                self._reply(400, {"message": "body is not JSON"})
                return
        if parts.path == "/ari/events":
            fake.ws_attempts += 1
        if not self._authorized():
            self._reply(
                401,
                {"message": "Authentication required"},
                {"WWW-Authenticate": 'Basic realm="Asterisk REST Interface"'},
            )
            return
        if method == "GET" and parts.path == "/ari/events":
            self._websocket(query)
            return
        try:
            status, payload = fake.handle(method, parts.path, query, body)
        except SpecViolation as exc:
            fake.violations.append(f"{method} {parts.path}?{parts.query}: {exc}")
            status, payload = exc.status, {"message": str(exc)}
        except AriHttpError as exc:
            status, payload = exc.status, {"message": str(exc)}
        self._reply(status, payload)

    def _websocket(self, query: dict) -> None:
        fake = self.owner
        try:
            (fake.spec or _NO_SPEC).check("GET", "/ari/events", query, None)
        except SpecViolation as exc:
            fake.violations.append(f"GET /ari/events: {exc}")
            self._reply(exc.status, {"message": str(exc)})
            return
        if time.monotonic() < fake.refuse_until:
            self._reply(503, {"message": "Service Unavailable"})
            return
        key = self.headers.get("Sec-WebSocket-Key")
        if self.headers.get("Upgrade", "").lower() != "websocket" or not key:
            self._reply(400, {"message": "not a websocket upgrade"})
            return
        accept = base64.b64encode(hashlib.sha1((key + _WS_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        apps = query["app"].split(",")
        es = EventSocket(self.connection, apps)
        with fake.lock:
            for old in fake.sockets:
                if old.open and set(old.apps) & set(apps):
                    old.send_text(
                        json.dumps({"type": "ApplicationReplaced", "application": apps[0], "timestamp": _now()})
                    )
                    old.kill()
            fake.sockets = [s for s in fake.sockets if s.open] + [es]
        es.serve()
        self.close_connection = True

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PUT(self):
        self._dispatch("PUT")
