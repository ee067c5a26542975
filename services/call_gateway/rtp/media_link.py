"""The wire format between the gateway and its media process (sans-IO: bytes in, bytes out).

One message per SOCK_SEQPACKET datagram: a 1-byte opcode, a 4-byte endpoint key (big-endian), then a
body whose layout depends on the opcode. Upper case: gateway → media process; lower case (and
``UPDATE``): media process → gateway. Requests that wait for an answer carry a 4-byte request id.
"""

from __future__ import annotations

import struct

KEY = struct.Struct("!I")
MAX_CHUNK = 60000  # audio bytes per PLAY message (a datagram stays well under the socket buffers)
HEADER_BYTES = 1 + KEY.size


class Op:
    """Opcodes, one byte each (kept one letter: they are on the hot path of every played chunk)."""

    ADD = b"A"  # new endpoint; its UDP socket rides along (SCM_RIGHTS); body: batch frames (1 byte)
    PLAY = b"P"  # body: tag length (!H), tag (utf-8), u-law audio
    PAUSE = b"H"  # hold the queued frames (barge-in gate)
    RESUME = b"G"  # release them
    REMOTE = b"R"  # request (body: request id !I, port !H, host utf-8); answered by REMOTE_SET once applied
    CLEAR = b"C"  # request (body: request id !I); answered by CLEARED
    CLOSE = b"X"  # request (body: request id !I); answered by UPDATE (last snapshot) then CLOSED
    STATS = b"S"  # request: the key field carries the request id; answered by STATS_REPLY
    CALLER_AUDIO = b"a"  # body: a batch of the caller's u-law audio
    UPDATE = b"U"  # body: JSON snapshot of the endpoint (sent, played per tag, pending, …)
    CLEARED = b"c"  # body: request id (!I), frames dropped (!I), JSON snapshot
    CLOSED = b"x"  # body: request id (!I)
    REMOTE_SET = b"r"  # body: request id (!I); every CALLER_AUDIO before it was read before the REMOTE
    STATS_REPLY = b"s"  # body: JSON of the engine's MediaStats


def message(op: bytes, key: int, body: bytes = b"") -> bytes:
    return op + KEY.pack(key) + body


def split(data: bytes) -> tuple[bytes, int, bytes]:
    """(opcode, key, body) of one message."""
    return data[:1], KEY.unpack_from(data, 1)[0], data[HEADER_BYTES:]
