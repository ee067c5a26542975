"""Sans-IO RTP (RFC 3550) for the externalMedia leg: parse, build, and the per-call stream rules.

Nothing here touches a socket or reads a clock: the endpoint and the pacer feed it bytes and tick
numbers. G.711 u-law at 8 kHz, payload type 0, 160 bytes per 20 ms packet.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

PT_PCMU = 0
FRAME_BYTES = 160  # 20 ms of 8 kHz u-law
FRAME_MS = 20
SAMPLES_PER_FRAME = 160
HEADER_LEN = 12
ULAW_SILENCE = 0xFF
_HEADER = struct.Struct("!BBHII")


class MalformedPacket(ValueError):
    """The bytes are not an RTP packet we can read (remote's fault: count and drop)."""


@dataclass(frozen=True, slots=True)
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    marker: bool
    payload: bytes


def parse(data: bytes) -> RtpPacket:
    """Parse one datagram; raises ``MalformedPacket`` for anything that is not RTP version 2."""
    if len(data) < HEADER_LEN:
        raise MalformedPacket(f"short datagram ({len(data)} bytes)")
    b0, b1, seq, ts, ssrc = _HEADER.unpack_from(data)
    if b0 >> 6 != 2:
        raise MalformedPacket(f"RTP version {b0 >> 6}")
    offset = HEADER_LEN + 4 * (b0 & 0x0F)
    if b0 & 0x10:  # header extension: 16-bit profile, 16-bit length in 32-bit words
        if len(data) < offset + 4:
            raise MalformedPacket("truncated header extension")
        (ext_words,) = struct.unpack_from("!H", data, offset + 2)
        offset += 4 + 4 * ext_words
    end = len(data)
    if b0 & 0x20:  # padding: last byte says how many bytes to drop
        if end <= offset:
            raise MalformedPacket("padding without payload")
        end -= data[-1]
    if offset > end or offset > len(data):
        raise MalformedPacket("header longer than datagram")
    return RtpPacket(b1 & 0x7F, seq, ts, ssrc, bool(b1 & 0x80), bytes(data[offset:end]))


def build(
    payload: bytes, *, sequence: int, timestamp: int, ssrc: int, marker: bool, payload_type: int = PT_PCMU
) -> bytes:
    """One RTP packet: version 2, no padding, no extension, no CSRC."""
    b1 = (0x80 if marker else 0) | (payload_type & 0x7F)
    return _HEADER.pack(0x80, b1, sequence & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc & 0xFFFFFFFF) + payload


class OutboundStream:
    """Sequence, timestamp and marker for what we send on one call.

    The timestamp follows the pacer's global tick (sampling clock = wall time), so a silent gap
    advances it by 160 per skipped tick while the sequence stays contiguous; the first packet after a
    gap (a new talk spurt) carries the marker bit.
    """

    def __init__(self, ssrc: int, first_sequence: int, first_timestamp: int) -> None:
        self.ssrc = ssrc & 0xFFFFFFFF
        self._next_seq = first_sequence & 0xFFFF
        self._ts_base = first_timestamp & 0xFFFFFFFF
        self._base_tick: int | None = None
        self._last_tick: int | None = None
        self.packets = 0

    def packet(self, payload: bytes, tick: int) -> bytes:
        if self._base_tick is None:
            self._base_tick = tick
        marker = self._last_tick is None or tick != self._last_tick + 1
        self._last_tick = tick
        ts = self._ts_base + SAMPLES_PER_FRAME * (tick - self._base_tick)
        data = build(payload, sequence=self._next_seq, timestamp=ts, ssrc=self.ssrc, marker=marker)
        self._next_seq = (self._next_seq + 1) & 0xFFFF
        self.packets += 1
        return data

    def end_spurt(self) -> None:
        """Force a marker on the next packet (after barge-in the next audio is a new talk spurt)."""
        self._last_tick = None


# Why an inbound datagram was dropped (metric label values).
DROP_MALFORMED = "malformed"
DROP_PAYLOAD_TYPE = "payload_type"
DROP_SSRC = "foreign_ssrc"
DROP_SOURCE = "foreign_source"
DROP_REASONS = (DROP_MALFORMED, DROP_PAYLOAD_TYPE, DROP_SSRC, DROP_SOURCE)


class InboundFilter:
    """Decides which datagrams are the caller's audio.

    The remote address is either known in advance (``UNICASTRTP_LOCAL_ADDRESS/PORT`` from
    Asterisk) or latched from the first valid packet, as is the SSRC. A different SSRC from the
    latched address is dropped, unless it persists for ``relatch_after`` packets in a row (Asterisk
    changes the SSRC when the bridge changes source), in which case it becomes the new one.

    The address may become known only after packets were read (``expect``): a latch made on another
    address (a stranger who got there before Asterisk) is then forgotten, SSRC included.
    """

    def __init__(self, expected_source: tuple[str, int] | None = None, relatch_after: int = 25) -> None:
        self.source = expected_source
        self.ssrc: int | None = None
        self._relatch_after = relatch_after
        self._candidate: int | None = None
        self._candidate_count = 0

    def expect(self, source: tuple[str, int]) -> bool:
        """From now on only ``source`` is accepted. True if a latch made on another address was dropped
        (its SSRC is not Asterisk's: the next valid packet from ``source`` latches afresh)."""
        foreign = self.ssrc is not None and self.source != source
        if foreign:
            self.ssrc, self._candidate, self._candidate_count = None, None, 0
        self.source = source
        return foreign

    def accept(self, data: bytes, source: tuple[str, int]) -> tuple[RtpPacket | None, str | None]:
        """Returns (packet, None) to accept or (None, reason) to drop."""
        try:
            pkt = parse(data)
        except MalformedPacket:
            return None, DROP_MALFORMED
        if self.source is not None and source != self.source:
            return None, DROP_SOURCE
        if pkt.payload_type != PT_PCMU:
            return None, DROP_PAYLOAD_TYPE
        if not pkt.payload:
            return None, DROP_MALFORMED
        if self.ssrc is None:
            self.ssrc = pkt.ssrc
            self.source = source
        elif pkt.ssrc != self.ssrc:
            if pkt.ssrc == self._candidate:
                self._candidate_count += 1
            else:
                self._candidate, self._candidate_count = pkt.ssrc, 1
            if self._candidate_count < self._relatch_after:
                return None, DROP_SSRC
            self.ssrc, self._candidate, self._candidate_count = pkt.ssrc, None, 0
        else:
            self._candidate, self._candidate_count = None, 0
        return pkt, None
