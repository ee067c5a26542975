"""One call's RTP endpoint: its UDP socket (the one advertised as ``external_host``), its outbound
stream and playout queue, and its inbound filter. It implements ``AudioSink``.

It does no I/O of its own: the shared ``MediaEngine`` reads its socket and paces its frames.
"""

from __future__ import annotations

import errno
import logging
import os
import random
import socket
import threading
from collections.abc import Callable

from .packet import DROP_REASONS, InboundFilter, OutboundStream
from .playout import PlayoutQueue

log = logging.getLogger(__name__)


class PortsExhausted(RuntimeError):
    """Every port of RTP_PORT_MIN..RTP_PORT_MAX is in use: refuse the call."""


class PortAllocator:
    """Hands out UDP sockets bound to ports of a fixed range; thread-safe."""

    def __init__(self, host: str, port_min: int, port_max: int) -> None:
        if not 0 < port_min <= port_max <= 65535:
            raise ValueError(f"bad RTP port range {port_min}..{port_max}")
        self.host = host
        self.port_min, self.port_max = port_min, port_max
        self._lock = threading.Lock()
        self._in_use: set[int] = set()
        self._next = port_min

    @property
    def size(self) -> int:
        return self.port_max - self.port_min + 1

    def in_use(self) -> int:
        with self._lock:
            return len(self._in_use)

    def allocate(self) -> socket.socket:
        with self._lock:
            for _ in range(self.size):
                port = self._next
                self._next = port + 1 if port < self.port_max else self.port_min
                if port in self._in_use:
                    continue
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    sock.bind((self.host, port))
                except OSError as exc:
                    sock.close()
                    if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                        continue  # taken by another process: try the next one
                    raise
                sock.setblocking(False)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
                self._in_use.add(port)
                return sock
        raise PortsExhausted(f"no free RTP port in {self.port_min}..{self.port_max}")

    def release(self, port: int) -> None:
        with self._lock:
            self._in_use.discard(port)


class RtpEndpoint:
    """AudioSink for the Realtime session; caller audio goes to ``on_caller_audio`` in batches."""

    def __init__(
        self,
        sock: socket.socket,
        *,
        call_id: str = "",
        batch_frames: int = 2,
        release: Callable[[int], None] | None = None,
    ) -> None:
        self.sock = sock
        self.port: int = sock.getsockname()[1]
        self.call_id = call_id
        self.queue = PlayoutQueue()
        rnd = random.Random(os.urandom(8))
        self.stream = OutboundStream(rnd.getrandbits(32), rnd.getrandbits(16), rnd.getrandbits(32))
        self.inbound = InboundFilter()
        self.remote: tuple[str, int] | None = None
        self.on_caller_audio: Callable[[bytes], None] | None = None
        self._batch = bytearray()
        self._batch_bytes = 160 * max(1, batch_frames)
        self._release = release
        self._closed = False
        self.received = 0
        self.sent = 0
        self.dropped = dict.fromkeys(DROP_REASONS, 0)
        self.engine = None  # set by MediaEngine.add
        # the receiver's filter + batch + delivery against ``set_remote`` (another thread): what was read
        # before the real remote was learnt is either delivered before it returns or never
        self._rx_lock = threading.Lock()

    # -- AudioSink -------------------------------------------------------------------------------
    def play(self, ulaw: bytes, tag: str) -> None:
        if not self._closed:
            self.queue.play(ulaw, tag)

    def clear(self) -> int:
        dropped = self.queue.clear()
        self.stream.end_spurt()
        return dropped

    def pause(self) -> None:
        self.queue.pause()
        self.stream.end_spurt()  # the first frame after the pause starts a new talkspurt (marker bit)

    def resume(self) -> None:
        self.queue.resume()

    def played_ms(self, tag: str) -> int:
        return self.queue.played_ms(tag)

    def pending_ms(self) -> int:
        return self.queue.pending_ms()

    # -- wiring ------------------------------------------------------------------------------------
    def set_remote(self, host: str, port: int) -> None:
        """Asterisk's side of the leg (UNICASTRTP_LOCAL_ADDRESS/PORT): where we send, and the only
        source we accept. A stranger latched before it (SSRC included) is forgotten, and the audio of
        theirs not yet delivered is dropped: nothing of theirs reaches the caller audio after this."""
        with self._rx_lock:
            self.remote = (host, port)
            if self.inbound.expect((host, port)):
                log.warning(
                    "call %s: inbound RTP latched on a stranger before Asterisk's address was known", self.call_id
                )
                self._batch.clear()

    @property
    def closed(self) -> bool:
        return self._closed

    # -- called by the engine's receiver thread ---------------------------------------------------
    def on_datagram(self, data: bytes, source: tuple[str, int]) -> str | None:
        with self._rx_lock:
            pkt, reason = self.inbound.accept(data, source)
            if pkt is None:
                self.dropped[reason] += 1
                return reason
            self.received += 1
            if self.remote is None:
                self.remote = source
            self._batch += pkt.payload
            if len(self._batch) >= self._batch_bytes:
                chunk = bytes(self._batch)
                self._batch.clear()
                target = self.on_caller_audio
                if target is not None:
                    try:
                        target(chunk)
                    except Exception:
                        log.exception("call %s: caller audio consumer failed", self.call_id)
            return None

    # -- called by the engine's pacer thread ------------------------------------------------------
    def next_packet(self, tick: int) -> bytes | None:
        if self.remote is None or self._closed:
            return None  # keep the audio queued until we know where Asterisk listens
        frame = self.queue.next_frame()
        if frame is None:
            return None
        return self.stream.packet(frame, tick)

    def close(self) -> None:
        """Leave the engine (waits for its threads to let go of the socket), close, free the port."""
        if self._closed:
            return
        self._closed = True
        self.on_caller_audio = None
        if self.engine is not None:
            self.engine.remove(self)
        self.queue.clear()
        self.sock.close()
        if self._release is not None:
            self._release(self.port)
