"""Harness: a RealtimeEngine wired to the fake Realtime server, a fake sink and a fake dispatcher."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from call_gateway.realtime import RealtimeEngine
from centralita.profiles import Profile
from centralita_fixtures.fake_realtime import FakeConnection, FakeRealtimeServer
from centralita_fixtures.realtime_fakes import Behaviour, FakeDispatcher, FakeSink
from centralita_fixtures.realtime_rig import PROFILE, SPECS, settings_for


@dataclass
class Call:
    server: FakeRealtimeServer
    engine: RealtimeEngine
    sink: FakeSink
    dispatcher: FakeDispatcher
    ends: list[str] = field(default_factory=list)
    ended: threading.Event = field(default_factory=threading.Event)

    def on_end(self, reason: str) -> None:
        self.ends.append(reason)
        self.ended.set()

    @property
    def conn(self) -> FakeConnection:
        return self.server.connection()

    def settle(self, timeout: float = 3.0) -> FakeConnection:
        """Wait for the script to end and the gateway to have handled every event the server sent."""
        conn = self.server.wait(timeout)
        conn.wait_until(
            lambda: self.engine.core.events_received >= conn.sent_events,
            timeout,
            "the gateway to handle every server event",
        )
        return conn


@pytest.fixture
def make_call() -> Iterator[Callable[..., Call]]:
    made: list[Call] = []

    def make(
        script,
        *,
        behaviours: dict[str, Behaviour] | None = None,
        profile: Profile = PROFILE,
        sink: FakeSink | None = None,
        start: bool = True,
        **overrides: float,
    ) -> Call:
        server = FakeRealtimeServer(script).__enter__()
        dispatcher = FakeDispatcher(list(SPECS), behaviours or {})
        sink = sink or FakeSink()
        holder: list[Call] = []
        engine = RealtimeEngine(
            profile=profile,
            dispatcher=dispatcher,
            sink=sink,
            settings=settings_for(server, **overrides),
            on_end=lambda reason: holder[0].on_end(reason),
            call_id="test-call",
        )
        call = Call(server, engine, sink, dispatcher)
        holder.append(call)
        made.append(call)
        if start:
            engine.start()
        return call

    yield make
    for call in made:
        call.engine.close()
        call.server.stop()
        call.dispatcher.close()
        for conn in call.server.connections:
            assert conn.invalid == [], conn.invalid
            assert conn.server_invalid == [], conn.server_invalid
