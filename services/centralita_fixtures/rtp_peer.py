"""Asterisk's side of externalMedia legs: real UDP sockets on loopback. One sender thread sends every
bridged leg's caller audio at 20 ms (monotonic deadlines); one receiver thread records what arrives."""

from __future__ import annotations

import contextlib
import os
import random
import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

SILENCE = b"\xff" * 160
SO_TIMESTAMPNS = 35  # Linux: kernel receive time of each datagram (CLOCK_REALTIME), as SCM_TIMESTAMPNS


@dataclass
class Received:
    t: float
    seq: int
    ts: int
    ssrc: int
    marker: bool
    pt: int
    payload: bytes
    src: tuple
    kt: float = 0.0  # kernel receive time (wall clock) when kernel timestamps are on


@dataclass
class MediaLeg:
    channel_id: str
    sock: socket.socket
    remote: tuple[str, int]
    ssrc: int = field(default_factory=lambda: random.Random(os.urandom(4)).getrandbits(32))
    seq: int = 0
    ts: int = 0
    sending: bool = False
    audio: bytearray = field(default_factory=bytearray)
    received: list[Received] = field(default_factory=list)
    sent: int = 0
    closed: bool = False

    @property
    def local(self) -> tuple[str, int]:
        return self.sock.getsockname()

    def say(self, ulaw: bytes) -> None:
        """Caller speech: sent in 20 ms frames ahead of the silence the phone sends otherwise."""
        self.audio += ulaw

    def send_raw(self, data: bytes) -> None:
        self.sock.sendto(data, self.remote)

    def payload_bytes(self) -> bytes:
        return b"".join(r.payload for r in self.received)


class RtpPeer:
    def __init__(self, kernel_timestamps: bool = False) -> None:
        self.kernel_timestamps = kernel_timestamps
        self.legs: dict[str, MediaLeg] = {}
        self._lock = threading.Lock()
        self._sel = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._send_loop, name="fake-rtp-send", daemon=True),
            threading.Thread(target=self._recv_loop, name="fake-rtp-recv", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def open_leg(self, channel_id: str, remote: tuple[str, int]) -> MediaLeg:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        if self.kernel_timestamps:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        leg = MediaLeg(channel_id, sock, remote)
        with self._lock:
            self.legs[channel_id] = leg
            self._sel.register(sock, selectors.EVENT_READ, leg)
        return leg

    def close_leg(self, channel_id: str) -> None:
        with self._lock:
            leg = self.legs.get(channel_id)
            if leg is None or leg.closed:
                return
            leg.closed = True
            leg.sending = False
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(leg.sock)
            leg.sock.close()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=2)
        for cid in list(self.legs):
            self.close_leg(cid)
        self._sel.close()

    def _send_loop(self) -> None:
        t0 = time.monotonic()
        k = 0
        while not self._stop.is_set():
            k += 1
            delay = t0 + k * 0.020 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            with self._lock:
                legs = [leg for leg in self.legs.values() if leg.sending and not leg.closed]
            for leg in legs:
                frame = bytes(leg.audio[:160]) if leg.audio else SILENCE
                del leg.audio[:160]
                frame = frame.ljust(160, b"\xff")
                hdr = struct.pack(
                    "!BBHII", 0x80, 0x80 if leg.sent == 0 else 0, leg.seq & 0xFFFF, leg.ts & 0xFFFFFFFF, leg.ssrc
                )
                try:
                    leg.sock.sendto(hdr + frame, leg.remote)
                    leg.sent += 1
                except OSError:
                    pass
                leg.seq += 1
                leg.ts += 160

    def _recv_loop(self) -> None:
        while not self._stop.is_set():
            try:
                with self._lock:
                    has = bool(self._sel.get_map())
                if not has:
                    time.sleep(0.005)
                    continue
                ready = self._sel.select(timeout=0.05)
            except (OSError, ValueError, RuntimeError):
                time.sleep(0.005)
                continue
            now = time.monotonic()
            for key, _ in ready:
                leg: MediaLeg = key.data
                while not leg.closed:
                    kt = 0.0
                    try:
                        if self.kernel_timestamps:
                            data, anc, _flags, src = leg.sock.recvmsg(2048, socket.CMSG_SPACE(16))
                            for level, kind, cdata in anc:
                                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(cdata) >= 16:
                                    sec, nsec = struct.unpack("qq", cdata[:16])
                                    kt = sec + nsec / 1e9
                        else:
                            data, src = leg.sock.recvfrom(2048)
                    except (BlockingIOError, OSError):
                        break
                    if len(data) < 12:
                        continue
                    _b0, b1, seq, ts, ssrc = struct.unpack_from("!BBHII", data)
                    leg.received.append(Received(now, seq, ts, ssrc, bool(b1 & 0x80), b1 & 0x7F, data[12:], src, kt))
