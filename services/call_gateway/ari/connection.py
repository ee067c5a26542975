"""The sans-IO parts of the ARI events connection: its URL and the reconnection backoff.

``events.py`` is the driver that opens the WebSocket and runs the loop; what it decides without I/O
lives here and is tested without a socket.
"""

from __future__ import annotations

import random
from urllib.parse import quote, urlsplit, urlunsplit


def events_url(base_url: str, app: str) -> str:
    parts = urlsplit(base_url.rstrip("/"))
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    query = f"app={quote(app)}&subscribeAll=false"
    return urlunsplit((scheme, netloc, parts.path + "/ari/events", query, ""))


class Backoff:
    """0.5 s, 1 s, 2 s … up to ``cap``, with ±20 % jitter; ``reset()`` after a good connection."""

    def __init__(self, first: float = 0.5, cap: float = 10.0, rng: random.Random | None = None) -> None:
        self.first, self.cap = first, cap
        self._attempt = 0
        self._rng = rng or random.Random()

    def next(self) -> float:
        delay = min(self.cap, self.first * 2**self._attempt)
        self._attempt += 1
        return delay * self._rng.uniform(0.8, 1.2)

    def reset(self) -> None:
        self._attempt = 0
