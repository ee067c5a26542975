"""RTP for the externalMedia leg: sans-IO codec, per-call endpoint, shared pacer/receiver engine."""

from .endpoint import PortAllocator, PortsExhausted, RtpEndpoint
from .engine import MediaEngine, MediaStats
from .media_process import MediaProcess, RemoteEndpoint
from .packet import (
    FRAME_BYTES,
    PT_PCMU,
    InboundFilter,
    MalformedPacket,
    OutboundStream,
    RtpPacket,
    build,
    parse,
)
from .playout import PlayoutQueue
from .transport import RtpTransport

__all__ = [
    "FRAME_BYTES", "PT_PCMU", "InboundFilter", "MalformedPacket", "MediaEngine", "MediaProcess", "MediaStats",
    "OutboundStream", "PlayoutQueue", "PortAllocator", "PortsExhausted", "RemoteEndpoint", "RtpEndpoint", "RtpPacket",
    "RtpTransport",
    "build", "parse",
]
