import struct

import pytest

from call_gateway.rtp.packet import (
    DROP_MALFORMED,
    DROP_PAYLOAD_TYPE,
    DROP_SOURCE,
    DROP_SSRC,
    InboundFilter,
    MalformedPacket,
    OutboundStream,
    build,
    parse,
)

SRC = ("127.0.0.1", 4000)


def test_build_parse_roundtrip_fields():
    data = build(b"\x01" * 160, sequence=65535, timestamp=2**32 - 1, ssrc=0xDEADBEEF, marker=True)
    assert len(data) == 172
    assert data[0] == 0x80 and data[1] == 0x80  # V=2, marker, PT 0
    pkt = parse(data)
    assert (pkt.payload_type, pkt.sequence, pkt.timestamp, pkt.ssrc, pkt.marker) == (
        0,
        65535,
        2**32 - 1,
        0xDEADBEEF,
        True,
    )
    assert pkt.payload == b"\x01" * 160


def test_parse_skips_csrc_extension_and_padding():
    header = struct.pack("!BBHII", 0x80 | 0x20 | 0x10 | 2, 0, 7, 8, 9)
    csrcs = b"\0" * 8
    ext = struct.pack("!HH", 0xBEDE, 1) + b"\0" * 4
    payload = b"abc"
    padding = b"\0\0\3"
    pkt = parse(header + csrcs + ext + payload + padding)
    assert pkt.payload == b"abc" and pkt.sequence == 7


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x80\x00\x00",  # short
        struct.pack("!BBHII", 0x40, 0, 1, 1, 1) + b"x",  # version 1
        struct.pack("!BBHII", 0x90, 0, 1, 1, 1) + b"\xbe",  # extension bit, truncated extension
        struct.pack("!BBHII", 0x8F, 0, 1, 1, 1),  # 15 CSRCs announced, none present
    ],
)
def test_malformed_raises(data):
    with pytest.raises(MalformedPacket):
        parse(data)


def test_outbound_stream_seq_ts_marker_and_gaps():
    s = OutboundStream(ssrc=42, first_sequence=65534, first_timestamp=1000)
    pkts = [parse(s.packet(b"\0" * 160, tick)) for tick in (10, 11, 12, 20, 21)]
    assert [p.sequence for p in pkts] == [65534, 65535, 0, 1, 2]  # +1, wraps, contiguous over gaps
    assert [p.timestamp for p in pkts] == [1000, 1160, 1320, 2600, 2760]  # +160 per tick, gap advances it
    assert [p.marker for p in pkts] == [True, False, False, True, False]  # marker at each talk spurt start
    assert {p.ssrc for p in pkts} == {42}
    s.end_spurt()
    assert parse(s.packet(b"\0" * 160, 22)).marker is True


def test_inbound_filter_latches_and_drops():
    f = InboundFilter(relatch_after=3)
    ok = build(b"\0" * 160, sequence=1, timestamp=0, ssrc=5, marker=False)
    assert f.accept(ok, SRC)[0] is not None
    assert f.accept(b"garbage", SRC) == (None, DROP_MALFORMED)
    wrong_pt = build(b"\0" * 160, sequence=2, timestamp=0, ssrc=5, marker=False, payload_type=8)
    assert f.accept(wrong_pt, SRC) == (None, DROP_PAYLOAD_TYPE)
    foreign = build(b"\0" * 160, sequence=3, timestamp=0, ssrc=6, marker=False)
    assert f.accept(foreign, SRC) == (None, DROP_SSRC)
    assert f.accept(ok, ("127.0.0.1", 4001)) == (None, DROP_SOURCE)
    assert f.accept(build(b"", sequence=1, timestamp=0, ssrc=5, marker=False), SRC) == (None, DROP_MALFORMED)


def test_inbound_filter_relatches_only_on_a_persistent_new_ssrc():
    f = InboundFilter(relatch_after=3)
    mk = lambda ssrc: build(b"\0" * 160, sequence=1, timestamp=0, ssrc=ssrc, marker=False)  # noqa: E731
    assert f.accept(mk(1), SRC)[0]
    assert f.accept(mk(2), SRC)[1] == DROP_SSRC
    assert f.accept(mk(1), SRC)[0]  # interleaved: the candidate resets
    assert f.accept(mk(2), SRC)[1] == DROP_SSRC
    assert f.accept(mk(2), SRC)[1] == DROP_SSRC
    assert f.accept(mk(2), SRC)[0] is not None  # third in a row: new source accepted
    assert f.accept(mk(1), SRC)[1] == DROP_SSRC


def test_inbound_filter_expected_source_enforced_from_the_start():
    f = InboundFilter(expected_source=("127.0.0.1", 9))
    ok = build(b"\0" * 160, sequence=1, timestamp=0, ssrc=5, marker=False)
    assert f.accept(ok, SRC) == (None, DROP_SOURCE)
    assert f.accept(ok, ("127.0.0.1", 9))[0] is not None


def test_inbound_filter_forgets_a_stranger_latched_before_the_real_remote_is_known():
    """A stranger's valid RTP came first (latched: its address and SSRC); then externalMedia told us
    Asterisk's address. Asterisk's packets (another SSRC) are accepted at once, not after a relatch."""
    f = InboundFilter(relatch_after=3)
    stranger, asterisk = ("127.0.0.1", 5000), ("127.0.0.1", 6000)
    mk = lambda ssrc: build(b"\0" * 160, sequence=1, timestamp=0, ssrc=ssrc, marker=False)  # noqa: E731
    assert f.accept(mk(1), stranger)[0] is not None
    assert f.expect(asterisk) is True  # the stranger's latch is dropped
    assert f.accept(mk(77), asterisk)[0] is not None  # at once
    assert f.accept(mk(1), stranger) == (None, DROP_SOURCE)
    assert f.accept(mk(78), asterisk) == (None, DROP_SSRC)  # latched on Asterisk's SSRC now
    assert f.expect(asterisk) is False  # the same address again: the latch stays
    assert f.accept(mk(77), asterisk)[0] is not None


def test_inbound_filter_keeps_the_latch_when_it_was_asterisk_all_along():
    f = InboundFilter(relatch_after=3)
    asterisk = ("127.0.0.1", 6000)
    assert f.accept(build(b"\0" * 160, sequence=1, timestamp=0, ssrc=9, marker=False), asterisk)[0] is not None
    assert f.expect(asterisk) is False
    assert f.ssrc == 9
