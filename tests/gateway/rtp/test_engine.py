"""The endpoint and the shared pacer/receiver over real UDP sockets on loopback."""

import itertools
import socket
import statistics
import struct
import threading
import time

import pytest

from call_gateway.rtp import MediaEngine, PortAllocator, PortsExhausted, RtpEndpoint, build, parse
from tests.helpers import free_port


@pytest.fixture
def engine():
    eng = MediaEngine()
    eng.start()
    yield eng
    eng.stop()


SO_TIMESTAMPNS = 35


def _kernel_time(anc) -> float:
    """Receive time from SCM_TIMESTAMPNS, on the monotonic clock's scale (offset taken now)."""
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            sec, nsec = struct.unpack("qq", data[:16])
            return sec + nsec / 1e9 - time.time() + time.monotonic()
    return time.monotonic()


class Peer:
    """Plays Asterisk's side: one UDP socket, records arrivals."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)  # arrival time from the kernel
        self.sock.settimeout(0.05)
        self.addr = self.sock.getsockname()
        self.got: list[tuple[float, bytes, tuple]] = []

    def collect(self, seconds, stop_after=None):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                data, anc, _flags, src = self.sock.recvmsg(2048, socket.CMSG_SPACE(16))
            except TimeoutError:
                continue
            self.got.append((_kernel_time(anc), data, src))
            if stop_after and len(self.got) >= stop_after:
                break
        return self.got

    def close(self):
        self.sock.close()


def make_endpoint(engine, alloc=None, **kw):
    alloc = alloc or PortAllocator("127.0.0.1", *_range(4))
    ep = RtpEndpoint(alloc.allocate(), release=alloc.release, **kw)
    engine.add(ep)
    return ep, alloc


def _range(n):
    base = free_port(socket.SOCK_DGRAM)
    return base, min(base + n - 1, 65535)


def test_port_allocator_exhaustion_is_a_clean_error_and_release_reuses():
    lo, _ = _range(1)
    alloc = PortAllocator("127.0.0.1", lo, lo + 1)
    socks = []
    try:
        # one of the two ports may be taken by someone else: then only one is handed out
        for _ in range(2):
            try:
                socks.append(alloc.allocate())
            except PortsExhausted:
                break
        with pytest.raises(PortsExhausted):
            alloc.allocate()
        port = socks[0].getsockname()[1]
        socks.pop(0).close()
        alloc.release(port)
        again = alloc.allocate()
        assert again.getsockname()[1] == port
        socks.append(again)
    finally:
        for s in socks:
            s.close()


def test_port_allocator_skips_a_port_bound_by_another_process():
    lo, _ = _range(1)
    squatter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        try:
            squatter.bind(("127.0.0.1", lo))
        except OSError:
            pytest.skip("port raced")
        alloc = PortAllocator("127.0.0.1", lo, lo)
        with pytest.raises(PortsExhausted):
            alloc.allocate()
    finally:
        squatter.close()


def test_paced_20ms_no_burst_constant_ssrc_seq_ts_marker(engine):
    peer = Peer()
    ep, _ = make_endpoint(engine)
    try:
        ep.set_remote(*peer.addr)
        ep.play(b"\x11" * 160 * 2000, "item1")  # 40 s queued at once: must not burst
        got = peer.collect(0.62)
        assert len(got) <= 33, len(got)  # ~31 packets in 0.62 s, not 2000
        got = peer.collect(10.0, stop_after=28)  # a loaded machine may start late: wait for 28
        pkts = [parse(d) for _, d, _ in got]
        assert {p.ssrc for p in pkts} == {ep.stream.ssrc}
        assert all(p.payload_type == 0 and len(p.payload) == 160 for p in pkts)
        assert all((b.sequence - a.sequence) % 65536 == 1 for a, b in itertools.pairwise(pkts))
        assert all((b.timestamp - a.timestamp) % 2**32 == 160 for a, b in itertools.pairwise(pkts))
        assert pkts[0].marker and not any(p.marker for p in pkts[1:])
        assert {src for _, _, src in got} == {("127.0.0.1", ep.port)}  # sent from the advertised socket
        gaps = [(b[0] - a[0]) * 1000 for a, b in itertools.pairwise(got)]
        assert 19.0 < statistics.mean(gaps) < 21.0
        assert max(gaps) < 45
        # no drift: the n-th packet leaves at n * 20 ms after the first, within a few ms
        assert abs((got[-1][0] - got[0][0]) - 0.020 * (len(got) - 1)) < 0.010
        assert ep.played_ms("item1") == pytest.approx(20 * len(got), abs=40)
    finally:
        ep.close()
        peer.close()


def test_clear_stops_audio_within_a_tick_and_next_spurt_has_marker(engine):
    peer = Peer()
    ep, _ = make_endpoint(engine)
    try:
        ep.set_remote(*peer.addr)
        ep.play(b"\x11" * 160 * 500, "a")
        peer.collect(0.2)
        dropped = ep.clear()
        t_clear = time.monotonic()
        assert dropped > 400
        played = ep.played_ms("a")
        peer.got.clear()
        peer.collect(0.15)
        late = [t for t, _, _ in peer.got if t - t_clear > 0.025]
        assert late == []  # nothing after the tick in flight
        assert ep.played_ms("a") <= played + 20
        ep.play(b"\x22" * 320, "b")
        peer.got.clear()
        got = peer.collect(0.3, stop_after=2)
        assert parse(got[0][1]).marker and parse(got[0][1]).payload == b"\x22" * 160
    finally:
        ep.close()
        peer.close()


def test_audio_waits_for_remote_address_then_follows_first_inbound_packet(engine):
    peer = Peer()
    ep, _ = make_endpoint(engine)
    try:
        ep.play(b"\x11" * 160 * 5, "a")
        time.sleep(0.1)
        assert ep.played_ms("a") == 0  # nowhere to send yet: keep it queued
        peer.sock.sendto(build(b"\xff" * 160, sequence=1, timestamp=0, ssrc=9, marker=True), ("127.0.0.1", ep.port))
        got = peer.collect(0.5, stop_after=5)
        assert len(got) == 5 and ep.played_ms("a") == 100
    finally:
        ep.close()
        peer.close()


def test_inbound_batches_and_drops_garbage(engine):
    peer = Peer()
    chunks = []
    ep, _ = make_endpoint(engine, batch_frames=2)
    ep.on_caller_audio = chunks.append
    try:
        dst = ("127.0.0.1", ep.port)
        for i in range(4):
            pkt = build(bytes([i]) * 160, sequence=i, timestamp=160 * i, ssrc=7, marker=i == 0)
            peer.sock.sendto(pkt, dst)
        peer.sock.sendto(b"\x00garbage", dst)
        peer.sock.sendto(build(b"\x05" * 160, sequence=9, timestamp=0, ssrc=7, marker=False, payload_type=8), dst)
        peer.sock.sendto(build(b"\x06" * 160, sequence=9, timestamp=0, ssrc=8, marker=False), dst)
        other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        other.sendto(build(b"\x07" * 160, sequence=9, timestamp=0, ssrc=7, marker=False), dst)
        other.close()
        deadline = time.monotonic() + 2
        while sum(ep.dropped.values()) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert chunks == [b"\x00" * 160 + b"\x01" * 160, b"\x02" * 160 + b"\x03" * 160]
        assert ep.dropped == {"malformed": 1, "payload_type": 1, "foreign_ssrc": 1, "foreign_source": 1}
        assert engine.stats.dropped["malformed"] >= 1
    finally:
        ep.close()
        peer.close()


def test_close_releases_port_socket_and_engine_slot(engine):
    alloc = PortAllocator("127.0.0.1", *_range(2))
    threads_before = threading.active_count()
    ep, _ = make_endpoint(engine, alloc)
    assert alloc.in_use() == 1 and engine.endpoints() == 1
    ep.close()
    ep.close()  # idempotent
    assert alloc.in_use() == 0 and engine.endpoints() == 0
    assert ep.sock.fileno() == -1
    assert threading.active_count() == threads_before  # no thread per call
    ep.play(b"\x01" * 160, "x")  # late audio after close is ignored
    assert ep.pending_ms() == 0


def test_forty_streams_share_one_pacer_without_bursts(engine):
    peers = [Peer() for _ in range(40)]
    alloc = PortAllocator("127.0.0.1", *_range(60))
    eps = []
    try:
        for p in peers:
            ep, _ = make_endpoint(engine, alloc)
            ep.set_remote(*p.addr)
            eps.append(ep)
        # No thread per stream: the engine's own threads are its pacer and its receiver, whatever
        # other tests of the run left behind (counting every thread of the process would be flaky).
        media = [t.name for t in threading.enumerate() if t.name.startswith("rtp-")]
        assert sorted(media) == ["rtp-pacer", "rtp-receiver"]
        for ep in eps:
            ep.play(b"\x11" * 160 * 100, "a")
        time.sleep(0.5)
        for p in peers:
            p.sock.setblocking(False)
            n = 0
            while True:
                try:
                    p.sock.recvfrom(2048)
                    n += 1
                except BlockingIOError:
                    break
            assert 15 <= n <= 32, n  # ~25 in 0.5 s (fewer under load), never a burst of 100
    finally:
        for ep in eps:
            ep.close()
        for p in peers:
            p.close()


def test_set_remote_after_a_stranger_latched_delivers_nothing_of_theirs_and_asterisk_at_once():
    """The race: a stranger's valid RTP reaches the port before the gateway learnt Asterisk's address
    (UNICASTRTP_LOCAL_*). Once ``set_remote`` returns, nothing of the stranger is delivered (not even
    the half batch already read), Asterisk's packets are accepted at once and the stranger's are
    dropped as foreign_source (sans I/O: datagrams handed to the endpoint as the receiver would)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    ep = RtpEndpoint(sock, batch_frames=2)
    chunks = []
    ep.on_caller_audio = chunks.append
    stranger, asterisk = ("127.0.0.1", 5000), ("127.0.0.1", 6000)
    try:
        for i in range(3):  # a batch and a half of the stranger's audio
            assert ep.on_datagram(build(b"\x01" * 160, sequence=i, timestamp=0, ssrc=1, marker=False), stranger) is None
        assert ep.remote == stranger  # the latch would even send our audio there
        before = len(chunks)
        ep.set_remote(*asterisk)
        assert ep.remote == asterisk
        for i in range(4):
            assert (
                ep.on_datagram(build(b"\x02" * 160, sequence=i, timestamp=0, ssrc=77, marker=False), asterisk) is None
            )
            assert ep.on_datagram(build(b"\x01" * 160, sequence=9, timestamp=0, ssrc=1, marker=False), stranger) == (
                "foreign_source"
            )
        assert chunks[before:] == [b"\x02" * 320, b"\x02" * 320]  # Asterisk's only, from its first packet
        assert ep.dropped == {"malformed": 0, "payload_type": 0, "foreign_ssrc": 0, "foreign_source": 4}
    finally:
        ep.close()
