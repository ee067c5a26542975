"""The media engine: ONE pacer thread sends every call's frames, ONE receiver thread reads every
call's socket. Two threads whatever the number of calls.

Pacing: tick k is due at ``t0 + k * 20 ms`` on the monotonic clock; at each tick every endpoint sends
at most one packet. Deadlines never accumulate error (no drift). If the process stalls past a whole
tick, the missed ticks are skipped, not caught up (no bursts): the audio is late, never compressed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field

from .endpoint import RtpEndpoint
from .packet import DROP_REASONS

log = logging.getLogger(__name__)
TICK_S = 0.020


@dataclass
class MediaStats:
    packets_sent: int = 0
    packets_received: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DROP_REASONS, 0))
    send_errors: int = 0
    ticks: int = 0
    skipped_ticks: int = 0
    late_ticks: int = 0  # started more than 2 ms after the deadline
    max_lateness_ms: float = 0.0


class MediaEngine:
    def __init__(
        self,
        *,
        tick_s: float = TICK_S,
        late_threshold_s: float = 0.002,
        realtime_priority: int = 0,
        lead_s: float = 0.003,
    ) -> None:
        self.tick_s = tick_s
        self.lead_s = lead_s
        self.realtime_priority = realtime_priority
        self.priority_granted = False
        self._late_threshold = late_threshold_s
        self.stats = MediaStats()
        self._endpoints: tuple[RtpEndpoint, ...] = ()
        self._ep_lock = threading.Lock()
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._stop = threading.Event()
        self._pacer = threading.Thread(target=self._run_pacer, name="rtp-pacer", daemon=True)
        self._receiver = threading.Thread(target=self._run_receiver, name="rtp-receiver", daemon=True)
        self._started = False
        self._tick_lock = threading.Lock()
        # Cleared while the pacer hands a tick's datagrams to the kernel. Each sendto releases the GIL;
        # the other media threads wait on this instead of grabbing it between two sends.
        self.quiet = threading.Event()
        self.quiet.set()

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        if not self._started:
            self._started = True
            self._pacer.start()
            self._receiver.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake()
        for t in (self._pacer, self._receiver):
            if t.is_alive():
                t.join(timeout=2.0)
        self._wake_r.close()
        self._wake_w.close()

    def alive(self) -> bool:
        return self._pacer.is_alive() and self._receiver.is_alive()

    def endpoints(self) -> int:
        return len(self._endpoints)

    # -- registration ----------------------------------------------------------------------------
    def open_endpoint(
        self, sock: socket.socket, *, call_id: str = "", batch_frames: int = 2, release=None
    ) -> RtpEndpoint:
        ep = RtpEndpoint(sock, call_id=call_id, batch_frames=batch_frames, release=release)
        self.add(ep)
        return ep

    def add(self, ep: RtpEndpoint) -> None:
        ep.engine = self
        done = threading.Event()
        self._commands.put(("add", ep, done))
        self._wake()
        if self._started and not done.wait(2.0):
            log.warning("rtp receiver did not pick up port %d in time", ep.port)
        with self._ep_lock:
            self._endpoints = (*self._endpoints, ep)

    def remove(self, ep: RtpEndpoint) -> None:
        with self._ep_lock:
            self._endpoints = tuple(e for e in self._endpoints if e is not ep)
        done = threading.Event()
        self._commands.put(("remove", ep, done))
        self._wake()
        if self._receiver.is_alive() and not done.wait(2.0):
            log.warning("rtp receiver did not release port %d in time", ep.port)
        # the pacer may be inside a tick holding the old tuple: wait for that tick to end
        with self._tick_lock:
            pass

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"\0")

    # -- pacer -------------------------------------------------------------------------------------
    def _raise_priority(self) -> None:
        """SCHED_RR for the pacer thread only, when allowed (CAP_SYS_NICE); otherwise normal priority."""
        if self.realtime_priority <= 0:
            return
        try:
            os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(self.realtime_priority))
            self.priority_granted = True
        except (OSError, AttributeError) as exc:
            log.info("rtp pacer: real-time priority not granted (%s); running at normal priority", exc)

    def _run_pacer(self) -> None:
        """Packets of tick k are built ``lead_s`` before its deadline, so that at the deadline the thread
        only has to hand ready datagrams to the kernel (less time holding the GIL at the critical moment)."""
        self._raise_priority()
        stats = self.stats
        lead = min(self.lead_s, self.tick_s / 2)
        t0 = time.monotonic()
        k = 0
        while not self._stop.is_set():
            deadline = t0 + k * self.tick_s
            now = time.monotonic()
            if now < deadline - lead:
                time.sleep(deadline - lead - now)
                now = time.monotonic()
            lateness = now - deadline
            if lateness >= self.tick_s:  # stalled past a whole tick: skip, never burst
                missed = int(lateness // self.tick_s)
                stats.skipped_ticks += missed
                k += missed
                deadline = t0 + k * self.tick_s
            with self._tick_lock:
                batch = []
                for ep in self._endpoints:
                    try:
                        data = ep.next_packet(k)
                    except Exception:
                        log.exception("rtp pacer: endpoint %d failed", ep.port)
                        continue
                    if data is not None:
                        batch.append((ep, data))
                # from here to the last send the other media threads stand aside, so that the GIL is
                # free the moment the deadline comes (they wait at most lead + the sends, ~4 ms a tick)
                self.quiet.clear()
                now = time.monotonic()
                if now < deadline:
                    time.sleep(deadline - now)
                    now = time.monotonic()
                lateness = now - deadline
                if lateness > self._late_threshold:
                    stats.late_ticks += 1
                if lateness * 1000 > stats.max_lateness_ms:
                    stats.max_lateness_ms = lateness * 1000
                try:
                    for ep, data in batch:
                        try:
                            ep.sock.sendto(data, ep.remote)
                            ep.sent += 1
                            stats.packets_sent += 1
                        except OSError as exc:
                            stats.send_errors += 1
                            log.debug("rtp send on port %d failed: %s", ep.port, exc)
                finally:
                    self.quiet.set()
            stats.ticks += 1
            k += 1

    # -- receiver ----------------------------------------------------------------------------------
    def _run_receiver(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._wake_r, selectors.EVENT_READ, None)
        stats = self.stats
        try:
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=0.5):
                    self.quiet.wait(0.05)
                    ep = key.data
                    if ep is None:
                        self._drain_wake()
                        continue
                    for _ in range(64):
                        if not self.quiet.is_set():
                            self.quiet.wait(0.05)
                        try:
                            data, source = ep.sock.recvfrom(2048)
                        except (BlockingIOError, InterruptedError):
                            break
                        except OSError:
                            break
                        reason = ep.on_datagram(data, source)
                        if reason is None:
                            stats.packets_received += 1
                        else:
                            stats.dropped[reason] += 1
                self._apply_commands(sel)
        finally:
            self._apply_commands(sel)
            sel.close()

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(512):
                pass
        except (BlockingIOError, OSError):
            pass

    def _apply_commands(self, sel: selectors.BaseSelector) -> None:
        while True:
            try:
                op, ep, done = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                if op == "add" and not ep.closed:
                    sel.register(ep.sock, selectors.EVENT_READ, ep)
                elif op == "remove":
                    with contextlib.suppress(KeyError, ValueError):
                        sel.unregister(ep.sock)
            finally:
                done.set()
