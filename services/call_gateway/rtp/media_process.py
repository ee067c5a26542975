"""The media engine in its own process, so that the pacer never waits for the gateway's GIL.

With 100 calls the gateway runs ~200 Realtime threads; a pacer thread sharing their interpreter
misses its 20 ms deadlines by 10-100 ms (measured by bench/calls.py). Here the pacer and the receiver
live in a small child process (only ``call_gateway.rtp`` imported) that holds the RTP sockets.

* The gateway still allocates each call's UDP socket (port range, clean refusal) and hands the very
  socket to the child over a Unix socket (SCM_RIGHTS): the advertised socket is the one that sends.
* ``RemoteEndpoint`` (gateway side) implements ``AudioSink``: ``play`` forwards audio, ``clear`` waits
  for the child's answer (frames dropped + exact ms played per item at that instant), ``played_ms`` and
  ``pending_ms`` read a mirror the child refreshes every 250 ms and on every clear (the Realtime
  session asks ``played_ms`` right after ``clear``, when the mirror is exact).
* ``pause``/``resume`` (barge-in gate) are one-way messages: the child holds or releases the frames.
* ``set_remote`` waits for the child to apply it: from then on only Asterisk's address is accepted, and
  the caller audio the child read before it (a stranger's, say) is never handed to ``on_caller_audio``.
* The child exits when the control socket closes (the gateway died or stopped).

Messages: ``media_link.py`` (named opcodes, one SOCK_SEQPACKET datagram each).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from .engine import MediaStats
from .media_child import child_main
from .media_link import MAX_CHUNK, Op, message, split
from .packet import DROP_REASONS

log = logging.getLogger(__name__)


# ============================================================================ gateway side
class RemoteEndpoint:
    """One call's RTP endpoint living in the media process; an ``AudioSink`` for the Realtime session."""

    def __init__(
        self, proc: MediaProcess, key: int, port: int, call_id: str, release: Callable[[int], None] | None
    ) -> None:
        self._proc = proc
        self.key = key
        self.port = port
        self.call_id = call_id
        self._release = release
        self.on_caller_audio: Callable[[bytes], None] | None = None
        self.remote: tuple[str, int] | None = None
        self._played: dict[str, int] = {}
        self._queued_bytes = 0
        self._pending_reported = 0
        self._queued_at_report = 0
        self.dropped = dict.fromkeys(DROP_REASONS, 0)
        self.received = 0
        self.sent = 0
        self._lock = threading.Lock()
        self._closed = False
        # a REMOTE was sent and the child has not confirmed it: its caller audio may be a stranger's
        self.awaiting_remote = False

    # -- AudioSink ---------------------------------------------------------------------------------
    def play(self, ulaw: bytes, tag: str) -> None:
        if self._closed or not ulaw:
            return
        raw = tag.encode()
        for i in range(0, len(ulaw), MAX_CHUNK):
            part = ulaw[i : i + MAX_CHUNK]
            with self._lock:
                self._queued_bytes += len(part)
            self._proc.send(message(Op.PLAY, self.key, struct.pack("!H", len(raw)) + raw + part))

    def clear(self) -> int:
        if self._closed:
            return 0
        reply = self._proc.request(Op.CLEAR, self.key)
        if reply is None:
            return 0
        dropped, snap = struct.unpack_from("!I", reply)[0], json.loads(reply[4:] or b"{}")
        self._apply(snap)
        return dropped

    def pause(self) -> None:
        """Fire and forget: the child holds the frames from its next tick (``clear`` reports exact played ms)."""
        if not self._closed:
            self._proc.send(message(Op.PAUSE, self.key))

    def resume(self) -> None:
        if not self._closed:
            self._proc.send(message(Op.RESUME, self.key))

    def played_ms(self, tag: str) -> int:
        with self._lock:
            return self._played.get(tag, 0)

    def pending_ms(self) -> int:
        with self._lock:
            # what the child last reported, plus what was queued since that report
            return self._pending_reported + (self._queued_bytes - self._queued_at_report) // 8

    # -- wiring -------------------------------------------------------------------------------------
    def set_remote(self, host: str, port: int) -> None:
        """Returns once the child applied it (or after the link's timeout; its caller audio is held
        back until the child confirms, however late)."""
        self.remote = (host, port)
        self.awaiting_remote = True
        if self._proc.request(Op.REMOTE, self.key, struct.pack("!H", port) + host.encode()) is None:
            log.warning("call %s: the media process has not confirmed the remote address yet", self.call_id)

    @property
    def closed(self) -> bool:
        return self._closed

    def _apply(self, snap: dict) -> None:
        if not snap:
            return
        with self._lock:
            for tag, ms in snap.get("played", {}).items():
                self._played[tag] = max(ms, self._played.get(tag, 0))
            self._pending_reported = snap.get("pending", 0)
            self._queued_at_report = self._queued_bytes
            self.dropped.update(snap.get("dropped", {}))
            self.received = snap.get("received", self.received)
            self.sent = snap.get("sent", self.sent)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.on_caller_audio = None
        self._proc.request(Op.CLOSE, self.key)
        self._proc.forget(self)
        if self._release is not None:
            self._release(self.port)


class MediaProcess:
    """Same surface as ``MediaEngine`` for the gateway: ``open_endpoint``, ``stats``, ``alive``…"""

    def __init__(self, *, request_timeout: float = 2.0, realtime_priority: int = 0) -> None:
        self._timeout = request_timeout
        self._priority = realtime_priority
        self.priority_granted = False
        self._ctl: socket.socket | None = None
        self._child: subprocess.Popen | None = None
        self._endpoints: dict[int, RemoteEndpoint] = {}
        self._waiters: dict[int, list] = {}
        self._lock = threading.Lock()
        self._next_key = 1
        self._next_req = 1
        self._reader: threading.Thread | None = None
        self._stats_cache: tuple[float, MediaStats] | None = None
        self._down = threading.Event()  # the link to the child is gone: answer nothing, fast

    def start(self) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        for s in (parent, child):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        code = (
            "import sys; from call_gateway.rtp.media_child import child_main; "
            "child_main(int(sys.argv[1]), int(sys.argv[2]))"
        )
        self._child = subprocess.Popen(
            [sys.executable, "-c", code, str(child.fileno()), str(self._priority)],
            pass_fds=[child.fileno()],
            close_fds=True,
        )
        child.close()
        self._ctl = parent
        self._reader = threading.Thread(target=self._read, name="rtp-media-link", daemon=True)
        self._reader.start()

    def stop(self) -> None:
        if self._ctl is not None:
            with contextlib.suppress(OSError):
                self._ctl.shutdown(socket.SHUT_RDWR)
            self._ctl.close()
        if self._child is not None:
            try:
                self._child.wait(3)
            except subprocess.TimeoutExpired:
                self._child.kill()
                self._child.wait(2)
        if self._reader is not None:
            self._reader.join(2)

    def alive(self) -> bool:
        return (
            self._child is not None
            and self._child.poll() is None
            and self._reader is not None
            and self._reader.is_alive()
        )

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child else None

    def endpoints(self) -> int:
        with self._lock:
            return len(self._endpoints)

    # -- endpoints --------------------------------------------------------------------------------
    def open_endpoint(
        self,
        sock: socket.socket,
        *,
        call_id: str = "",
        batch_frames: int = 2,
        release: Callable[[int], None] | None = None,
    ) -> RemoteEndpoint:
        port = sock.getsockname()[1]
        with self._lock:
            key = self._next_key
            self._next_key += 1
            ep = RemoteEndpoint(self, key, port, call_id, release)
            self._endpoints[key] = ep
        try:
            socket.send_fds(self._ctl, [message(Op.ADD, key, bytes([max(1, min(255, batch_frames))]))], [sock.fileno()])
        finally:
            sock.close()  # the child holds its own copy of the very same socket
        return ep

    def forget(self, ep: RemoteEndpoint) -> None:
        with self._lock:
            self._endpoints.pop(ep.key, None)

    # -- link ---------------------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        if self._ctl is None:
            return
        try:
            self._ctl.send(data)
        except OSError as exc:
            log.warning("media process link: %s", exc)

    def request(self, op: bytes, key: int, body: bytes = b"") -> bytes | None:
        if self._down.is_set():
            return None
        with self._lock:
            req = self._next_req
            self._next_req += 1
            slot = [threading.Event(), None]
            self._waiters[req] = slot
        self.send(message(op, key, struct.pack("!I", req) + body))
        if not slot[0].wait(self._timeout):
            with self._lock:
                self._waiters.pop(req, None)
            log.warning("media process did not answer %r in time", op)
            return None
        return slot[1]

    def _resolve(self, req: int, body: bytes) -> None:
        with self._lock:
            slot = self._waiters.pop(req, None)
        if slot is not None:
            slot[1] = body
            slot[0].set()

    def _read(self) -> None:
        ctl = self._ctl
        while True:
            try:
                data = ctl.recv(MAX_CHUNK + 64)
            except OSError:
                break
            if not data:
                break
            op, key, body = split(data)
            with self._lock:
                ep = self._endpoints.get(key)
            try:
                if op == Op.CALLER_AUDIO:
                    target = ep.on_caller_audio if ep is not None and not ep.awaiting_remote else None
                    if target is not None:
                        target(body)
                elif op == Op.UPDATE and ep is not None:
                    ep._apply(json.loads(body))
                elif op == Op.REMOTE_SET:
                    if ep is not None:
                        ep.awaiting_remote = False
                    (req,) = struct.unpack_from("!I", body)
                    self._resolve(req, body[4:])
                elif op in (Op.CLEARED, Op.CLOSED):
                    (req,) = struct.unpack_from("!I", body)
                    self._resolve(req, body[4:])
                elif op == Op.STATS_REPLY:
                    self._resolve(-key, body)
            except Exception:
                log.exception("media process link: bad message %r", op)
            ep = None  # not kept alive by this thread until the next message
        self._down.set()
        if self._child is not None and self._child.poll() is not None:
            log.error("media process exited (code %s): RTP is down", self._child.returncode)
        with self._lock:
            waiters, self._waiters = self._waiters, {}
        for slot in waiters.values():
            slot[0].set()

    @property
    def stats(self) -> MediaStats:
        now = time.monotonic()
        if self._down.is_set():
            return self._stats_cache[1] if self._stats_cache else MediaStats()
        if self._stats_cache and now - self._stats_cache[0] < 0.5:
            return self._stats_cache[1]
        with self._lock:
            req = self._next_req
            self._next_req += 1
            slot = [threading.Event(), None]
            self._waiters[-req] = slot
        self.send(message(Op.STATS, req))
        st = MediaStats()
        if slot[0].wait(self._timeout) and slot[1]:
            data = json.loads(slot[1])
            data.pop("endpoints", None)
            self.priority_granted = bool(data.pop("priority_granted", False))
            st = MediaStats(**data)
        else:
            with self._lock:
                self._waiters.pop(-req, None)
        self._stats_cache = (now, st)
        return st


__all__ = ["MediaProcess", "RemoteEndpoint", "child_main"]
