"""The OpenAI Realtime (GA) voice session of a call: sans-IO core plus a websocket-client driver."""

from call_gateway.realtime.metrics import CallMetrics
from call_gateway.realtime.protocol import RealtimeProtocol, ResponseTurn
from call_gateway.realtime.session import RealtimeError, RealtimeSession, RealtimeSettings

__all__ = ["CallMetrics", "RealtimeError", "RealtimeProtocol", "RealtimeSession", "RealtimeSettings", "ResponseTurn"]
