"""Asterisk REST Interface: REST client and events WebSocket.

Names are imported on first use (PEP 562), so the sans-IO ``ari.connection`` can be imported without
the WebSocket and HTTP clients.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "AriEventStream": "call_gateway.ari.events",
    "Backoff": "call_gateway.ari.connection",
    "events_url": "call_gateway.ari.connection",
    "AriError": "call_gateway.ari.rest",
    "AriRest": "call_gateway.ari.rest",
}

__all__ = ["AriError", "AriEventStream", "AriRest", "Backoff", "events_url"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
