"""The media process itself: it owns the RTP sockets, runs the engine and answers the gateway's link.

Started by ``media_process.MediaProcess.start`` as ``child_main(fd, priority)``; it imports only
``call_gateway.rtp`` so it stays small. The messages are those of ``media_link.py``.
"""

from __future__ import annotations

import array
import contextlib
import gc
import json
import logging
import os
import socket
import struct
import sys
import threading
import time

from .endpoint import RtpEndpoint
from .engine import MediaEngine
from .media_link import MAX_CHUNK, Op, message, split

log = logging.getLogger("call_gateway.rtp.media_process")
_UPDATE_S = 0.25
_FDS = array.array("i")


class _Child:
    def __init__(self, ctl: socket.socket, priority: int) -> None:
        self.ctl = ctl
        self.engine = MediaEngine(realtime_priority=priority)
        self.endpoints: dict[int, RtpEndpoint] = {}
        self.tags: dict[int, list[str]] = {}
        self.last: dict[int, tuple] = {}
        self.lock = threading.Lock()
        self.unread: list[RtpEndpoint] = []  # added, their socket not yet given to the receiver

    def send(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            self.ctl.send(data)

    def run(self) -> None:
        self.engine.start()
        threading.Thread(target=self._updates, name="media-updates", daemon=True).start()
        try:
            while self._handle_batch():
                pass
        except OSError:
            pass
        finally:
            for ep in list(self.endpoints.values()):
                ep.close()
            self.engine.stop()

    def _handle_batch(self) -> bool:
        """Every message already waiting (at least one), then the new endpoints' sockets to the receiver.

        A REMOTE queued behind its ADD (the child was late: starting, or descheduled) is thus applied
        before the first datagram of that endpoint is read. False when the gateway closed the link."""
        flags = 0
        try:
            for _ in range(256):
                try:
                    data, fds = self._recv(flags)
                except BlockingIOError:
                    break
                if not data:
                    return False
                flags = socket.MSG_DONTWAIT
                self.engine.quiet.wait(0.05)  # never between two of the pacer's sends
                self._handle(data, fds)
        finally:
            self._start_reading()
        return True

    def _recv(self, flags: int) -> tuple[bytes, list[int]]:
        """One message and the descriptors riding along (``socket.recv_fds`` of 3.11 ignores ``flags``)."""
        data, anc, _flags, _addr = self.ctl.recvmsg(MAX_CHUNK + 64, socket.CMSG_SPACE(_FDS.itemsize * 4), flags)
        fds = array.array("i")
        for level, kind, cdata in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(cdata[: len(cdata) - len(cdata) % fds.itemsize])
        return data, list(fds)

    def _start_reading(self) -> None:
        adding, self.unread = self.unread, []
        for ep in adding:
            if not ep.closed:
                self.engine.add(ep)

    def _snapshot(self, key: int, ep: RtpEndpoint) -> dict:
        return {
            "played": {t: ep.queue.played_ms(t) for t in self.tags.get(key, [])},
            "pending": ep.pending_ms(),
            "dropped": ep.dropped,
            "received": ep.received,
            "sent": ep.sent,
        }

    def _handle(self, data: bytes, fds: list[int]) -> None:
        op, key, body = split(data)
        if op == Op.ADD:
            sock = socket.socket(fileno=fds[0])
            sock.setblocking(False)
            ep = RtpEndpoint(sock, call_id=str(key), batch_frames=body[0])
            ep.on_caller_audio = lambda chunk, key=key: self.send(message(Op.CALLER_AUDIO, key, chunk))
            with self.lock:
                self.endpoints[key] = ep
                self.tags[key] = []
            self.unread.append(ep)  # read from once the messages already queued are handled
            return
        for fd in fds:
            os.close(fd)
        if op == Op.STATS:
            st = self.engine.stats
            payload = {
                **st.__dict__,
                "endpoints": self.engine.endpoints(),
                "priority_granted": self.engine.priority_granted,
            }
            self.send(message(Op.STATS_REPLY, key, json.dumps(payload).encode()))
            return
        ep = self.endpoints.get(key)
        if op == Op.PLAY and ep is not None:
            (n,) = struct.unpack_from("!H", body)
            tag = body[2 : 2 + n].decode()
            tags = self.tags[key]
            if tag not in tags:
                tags.append(tag)
                del tags[:-32]
            ep.play(body[2 + n :], tag)
        elif op == Op.PAUSE and ep is not None:
            ep.pause()
        elif op == Op.RESUME and ep is not None:
            ep.resume()
        elif op == Op.REMOTE:
            req, port = struct.unpack_from("!IH", body)
            if ep is not None:
                ep.set_remote(body[6:].decode(), port)  # returns after any caller audio read before it is sent
            self.send(message(Op.REMOTE_SET, key, struct.pack("!I", req)))
        elif op == Op.CLEAR:
            (req,) = struct.unpack_from("!I", body)
            dropped = ep.clear() if ep is not None else 0
            snap = self._snapshot(key, ep) if ep is not None else {}
            self.send(message(Op.CLEARED, key, struct.pack("!II", req, dropped) + json.dumps(snap).encode()))
        elif op == Op.CLOSE:
            (req,) = struct.unpack_from("!I", body)
            with self.lock:
                self.endpoints.pop(key, None)
                self.tags.pop(key, None)
                self.last.pop(key, None)
            if ep is not None:
                snap = self._snapshot(key, ep)
                ep.close()
                self.send(message(Op.UPDATE, key, json.dumps(snap).encode()))
            self.send(message(Op.CLOSED, key, struct.pack("!I", req)))

    def _updates(self) -> None:
        while True:
            time.sleep(_UPDATE_S)
            with self.lock:
                items = list(self.endpoints.items())
            for key, ep in items:
                self.engine.quiet.wait(0.05)
                mark = (ep.sent, ep.received, sum(ep.dropped.values()), len(self.tags.get(key, ())))
                with self.lock:
                    # closed meanwhile (its close popped it): writing its mark back would keep it forever
                    if key not in self.endpoints or self.last.get(key) == mark:
                        continue
                    self.last[key] = mark
                self.send(message(Op.UPDATE, key, json.dumps(self._snapshot(key, ep)).encode()))


def child_main(fd: int, priority: int = 0) -> None:
    sys.setswitchinterval(0.0005)  # the pacer gets the GIL back within ~0.5 ms of its deadline
    if priority > 1:
        # every thread of this small process one step below the pacer: whoever holds the GIL when the
        # pacer's deadline comes is never preempted by the busy gateway (no priority inversion)
        with contextlib.suppress(OSError, AttributeError):
            os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(priority - 1))
    # what exists now lives as long as the process; little of what follows forms cycles: keep the
    # cyclic collector rare so that it does not pause the pacer
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    ctl = socket.socket(fileno=fd)
    _Child(ctl, priority).run()
