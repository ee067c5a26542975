"""The media engine in its own process: same behaviour through the process boundary."""

import itertools
import socket
import time

import pytest

from call_gateway.rtp import MediaProcess, PortAllocator, build, parse
from tests.gateway.rtp.test_engine import Peer, _range


@pytest.fixture
def proc():
    mp = MediaProcess()
    mp.start()
    yield mp
    mp.stop()


def wait_for(pred, timeout=3.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end and not pred():
        time.sleep(0.01)
    return pred()


def test_paced_audio_clear_played_ms_and_caller_audio_through_the_child(proc):
    alloc = PortAllocator("127.0.0.1", *_range(2))
    peer = Peer()
    chunks = []
    ep = proc.open_endpoint(alloc.allocate(), call_id="c1", batch_frames=2, release=alloc.release)
    ep.on_caller_audio = chunks.append
    try:
        ep.set_remote(*peer.addr)
        ep.play(b"\x11" * 160 * 500, "item")  # 10 s at once: must be paced, not burst
        got = peer.collect(0.6)
        assert len(got) <= 31, len(got)  # paced, not a burst
        got = peer.collect(10.0, stop_after=20)  # a loaded machine may start late: wait for 20
        span = (got[-1][0] - got[0][0]) / (len(got) - 1)
        assert 0.0185 < span < 0.025  # one packet per 20 ms (load may delay a few)
        assert {src for _, _, src in got} == {("127.0.0.1", ep.port)}  # the very socket we allocated
        pkts = [parse(d) for _, d, _ in got]
        assert all((b.sequence - a.sequence) % 65536 == 1 for a, b in itertools.pairwise(pkts))
        assert ep.pending_ms() > 9000, ep.pending_ms()
        dropped = ep.clear()
        assert dropped > 400
        played = ep.played_ms("item")  # exact at the clear, not a stale mirror
        time.sleep(0.1)
        peer.collect(0.1)  # what left before the clear, still buffered
        n = len(peer.got)
        peer.collect(0.2)
        assert len(peer.got) - n <= 1  # nothing more after the clear
        assert abs(played - 20 * len(peer.got)) <= 20
        assert wait_for(lambda: ep.pending_ms() == 0)
        for i in range(4):
            peer.sock.sendto(
                build(bytes([i + 1]) * 160, sequence=i, timestamp=160 * i, ssrc=3, marker=False), ("127.0.0.1", ep.port)
            )
        peer.sock.sendto(b"junk", ("127.0.0.1", ep.port))
        assert wait_for(lambda: len(chunks) == 2)
        assert chunks[0] == b"\x01" * 160 + b"\x02" * 160
        assert wait_for(lambda: ep.dropped["malformed"] == 1)
        assert proc.stats.packets_sent >= len(peer.got) - 1
    finally:
        ep.close()
        peer.close()
    assert alloc.in_use() == 0 and proc.endpoints() == 0
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", ep.port))  # the child closed its copy: the port is free
    s.close()


def test_a_dead_child_shows_in_alive_and_calls_fail_fast(proc):
    alloc = PortAllocator("127.0.0.1", *_range(1))
    ep = proc.open_endpoint(alloc.allocate(), call_id="c2", release=alloc.release)
    assert proc.alive()
    proc._child.kill()
    proc._child.wait(3)
    assert wait_for(lambda: not proc.alive())  # /healthz turns 503
    started = time.monotonic()
    assert ep.clear() == 0
    ep.close()
    assert time.monotonic() - started < 1.0
    assert alloc.in_use() == 0


def test_stop_ends_the_child(proc):
    child = proc._child
    proc.stop()
    assert child.poll() is not None


def test_pause_and_resume_through_the_child_hold_the_frames_without_losing_any(proc):
    alloc = PortAllocator("127.0.0.1", *_range(2))
    peer = Peer()
    ep = proc.open_endpoint(alloc.allocate(), call_id="c2", batch_frames=2, release=alloc.release)
    try:
        ep.set_remote(*peer.addr)
        audio = bytes(range(1, 161)) * 40  # 800 ms
        ep.play(audio, "item")
        peer.collect(2, stop_after=5)
        assert len(peer.got) == 5
        ep.pause()
        peer.collect(0.3)  # the pause reaches the child within a tick or two
        held_at = len(peer.got)
        assert held_at <= 8
        peer.collect(0.3)
        assert len(peer.got) == held_at  # nothing more while paused
        ep.resume()
        peer.collect(3, stop_after=40)
        assert len(peer.got) == 40  # every frame played, none dropped
        pkts = [parse(d) for _, d, _ in peer.got]
        assert b"".join(p.payload for p in pkts) == audio
        assert sum(p.marker for p in pkts) == 2  # the frame after the pause starts a new talkspurt
    finally:
        ep.close()
        peer.close()


def test_child_status_updates_never_bring_back_a_closed_endpoint(monkeypatch):
    """The updates loop snapshots the endpoints, then the gateway closes one ("X"): its status mark
    must not be written back after the close (one entry leaked per such call, forever)."""
    import struct
    import types

    from call_gateway.rtp import media_child as mc
    from call_gateway.rtp.media_link import Op, message

    ctl, other = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    child = mc._Child(ctl, 0)
    try:
        child._handle(message(Op.ADD, 7, bytes([3])), [udp.detach()])
        assert set(child.endpoints) == {7}
        closed = []

        def close_while_listed(timeout=None):  # the gateway's "X" lands mid-loop
            if not closed:
                closed.append(7)
                child._handle(message(Op.CLOSE, 7, struct.pack("!I", 1)), [])
            return True

        class Stop(Exception):
            pass

        passes = iter([None])

        def sleep(_seconds: float) -> None:  # one pass of the loop, then out
            if next(passes, "end") == "end":
                raise Stop

        monkeypatch.setattr(child.engine.quiet, "wait", close_while_listed)
        monkeypatch.setattr(mc, "time", types.SimpleNamespace(sleep=sleep))
        with pytest.raises(Stop):
            child._updates()
        assert closed and child.endpoints == {} and child.last == {} and child.tags == {}
    finally:
        ctl.close()
        other.close()


def test_a_late_child_applies_a_queued_remote_before_reading_the_socket():
    """The child started late (as under load): ADD and REMOTE wait in the link while a stranger's
    packets wait in the UDP socket. The REMOTE is applied before the first datagram is read: every
    stranger packet is a foreign_source drop, none is caller audio, and the REMOTE is confirmed."""
    import struct
    import threading

    from call_gateway.rtp import media_child as mc
    from call_gateway.rtp.media_link import Op, message, split

    gw_side, child_side = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    port = udp.getsockname()[1]
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    child = mc._Child(child_side, 0)
    try:
        socket.send_fds(gw_side, [message(Op.ADD, 7, bytes([2]))], [udp.fileno()])
        gw_side.send(message(Op.REMOTE, 7, struct.pack("!IH", 1, 9) + b"127.0.0.1"))  # Asterisk: port 9
        for i in range(6):
            stranger.sendto(build(b"\x01" * 160, sequence=i, timestamp=0, ssrc=1, marker=False), ("127.0.0.1", port))
        udp.close()  # the child holds its own copy
        runner = threading.Thread(target=child.run, daemon=True)
        runner.start()
        replies = []
        gw_side.settimeout(3)
        while not any(op == Op.REMOTE_SET for op, _, _ in replies):
            replies.append(split(gw_side.recv(70000)))
        assert wait_for(lambda: child.endpoints[7].dropped["foreign_source"] == 6)
        ep = child.endpoints[7]
        assert ep.received == 0 and ep.inbound.ssrc is None
        time.sleep(0.1)
        gw_side.setblocking(False)
        try:
            while True:
                replies.append(split(gw_side.recv(70000)))
        except BlockingIOError:
            pass
        assert not [r for r in replies if r[0] == Op.CALLER_AUDIO]
    finally:
        stranger.close()
        gw_side.close()  # the child's loop ends, closing its endpoints
        runner.join(3)


def test_caller_audio_read_before_the_child_confirmed_the_remote_never_reaches_the_gateway():
    """Gateway side: ``set_remote`` waits for the child's REMOTE_SET; caller audio the child sent
    before it (read before Asterisk's address was known: maybe a stranger's) is not delivered."""
    import struct
    import threading

    from call_gateway.rtp.media_link import Op, message, split

    mp = MediaProcess()
    gw_side, fake_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    mp._ctl = gw_side
    mp._reader = threading.Thread(target=mp._read, daemon=True)
    mp._reader.start()
    alloc = PortAllocator("127.0.0.1", *_range(2))
    got = []
    try:
        ep = mp.open_endpoint(alloc.allocate(), call_id="c1", release=alloc.release)
        ep.on_caller_audio = got.append  # the worst case: a consumer already listening
        fake_child.recv(100)  # the ADD
        done = threading.Event()
        threading.Thread(target=lambda: (ep.set_remote("127.0.0.1", 9), done.set()), daemon=True).start()
        op, key, body = split(fake_child.recv(100))
        assert op == Op.REMOTE and key == ep.key
        (req,) = struct.unpack_from("!I", body)
        fake_child.send(message(Op.CALLER_AUDIO, ep.key, b"\x01" * 320))  # read before the REMOTE
        time.sleep(0.1)
        assert not done.is_set()  # still waiting for the child
        fake_child.send(message(Op.REMOTE_SET, ep.key, struct.pack("!I", req)))
        assert done.wait(2)
        fake_child.send(message(Op.CALLER_AUDIO, ep.key, b"\x02" * 320))
        assert wait_for(lambda: got)
        assert got == [b"\x02" * 320]
    finally:
        fake_child.close()
        mp._reader.join(2)
        gw_side.close()
