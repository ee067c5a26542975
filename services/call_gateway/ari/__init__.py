"""Asterisk REST Interface: REST client and events WebSocket."""

from .events import AriEventStream, Backoff, events_url
from .rest import AriError, AriRest

__all__ = ["AriError", "AriEventStream", "AriRest", "Backoff", "events_url"]
