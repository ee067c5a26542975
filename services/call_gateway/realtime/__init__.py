"""The OpenAI Realtime (GA) voice session of a call: sans-IO core plus a websocket-client driver.

Names are imported on first use (PEP 562), so importing the sans-IO core (``realtime.protocol``) does
not drag in the driver and its websocket and grpc imports.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CallMetrics": "call_gateway.realtime.metrics",
    "RealtimeProtocol": "call_gateway.realtime.protocol",
    "ResponseTurn": "call_gateway.realtime.protocol",
    "RealtimeError": "call_gateway.realtime.engine",
    "RealtimeEngine": "call_gateway.realtime.engine",
    "RealtimeSettings": "call_gateway.realtime.settings",
}

__all__ = ["CallMetrics", "RealtimeEngine", "RealtimeError", "RealtimeProtocol", "RealtimeSettings", "ResponseTurn"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
