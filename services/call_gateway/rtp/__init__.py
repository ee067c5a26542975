"""RTP for the externalMedia leg: sans-IO codec, per-call endpoint, shared pacer/receiver engine.

Names are imported on first use (PEP 562), so importing the sans-IO codec (``rtp.packet``) does not
drag in the socket and process machinery.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    **dict.fromkeys(("PortAllocator", "PortsExhausted", "RtpEndpoint"), "call_gateway.rtp.endpoint"),
    **dict.fromkeys(("MediaEngine", "MediaStats"), "call_gateway.rtp.engine"),
    **dict.fromkeys(("MediaProcess", "RemoteEndpoint"), "call_gateway.rtp.media_process"),
    **dict.fromkeys(
        ("FRAME_BYTES", "PT_PCMU", "InboundFilter", "MalformedPacket", "OutboundStream", "RtpPacket", "build", "parse"),
        "call_gateway.rtp.packet",
    ),
    "PlayoutQueue": "call_gateway.rtp.playout",
    "RtpTransport": "call_gateway.rtp.transport",
}

__all__ = [
    "FRAME_BYTES",
    "PT_PCMU",
    "InboundFilter",
    "MalformedPacket",
    "MediaEngine",
    "MediaProcess",
    "MediaStats",
    "OutboundStream",
    "PlayoutQueue",
    "PortAllocator",
    "PortsExhausted",
    "RemoteEndpoint",
    "RtpEndpoint",
    "RtpPacket",
    "RtpTransport",
    "build",
    "parse",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
