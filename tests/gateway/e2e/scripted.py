"""An in-process stand-in for ``RealtimeEngine`` (the CONTRACT interface) for call lifecycle tests."""

from __future__ import annotations

import threading
from typing import ClassVar

# imported here, not in start(): a first import of the Realtime package (openai SDK types) takes seconds
# on a loaded machine, and the tests time the hang-up after a refused start, not an import
from call_gateway.realtime import RealtimeError

GREETING = bytes(range(1, 161)) * 25  # 500 ms of recognisable "audio"


class ScriptedSession:
    instances: ClassVar[list[ScriptedSession]] = []

    def __init__(self, *, profile, sink, on_end, call_id, fail_start=False):
        self.profile, self.sink, self.on_end, self.call_id = profile, sink, on_end, call_id
        self.fail_start = fail_start
        self.caller_audio = bytearray()
        self.closed_reason: str | None = None
        self.started = threading.Event()
        ScriptedSession.instances.append(self)

    def start(self):
        if self.fail_start:
            raise RealtimeError("refused by the test")
        self.sink.play(GREETING, "greeting")
        self.started.set()

    def send_caller_audio(self, ulaw):
        self.caller_audio += ulaw

    def close(self, reason="hangup"):
        self.closed_reason = reason

    def drop(self, reason="socket_closed"):
        self.on_end(reason)


def factory(**options):
    def make(**kw):
        return ScriptedSession(**kw, **options)

    return make
