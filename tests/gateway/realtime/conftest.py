"""Harness: a RealtimeEngine wired to the fake Realtime server, a fake sink and a fake dispatcher."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repo root, for tests.fakes

from call_gateway.realtime import RealtimeEngine, RealtimeSettings
from centralita.profiles import Profile, TurnDetection
from tests.fakes.fake_realtime import API_KEY, FakeConnection, FakeRealtimeServer
from tests.gateway.realtime.fakes import Behaviour, FakeDispatcher, FakeSink, spec

PROFILE = Profile(
    name="pruebas",
    instructions="Eres un asistente de pruebas. Responde breve.",
    voice="verse",
    tools=("consultar_mikrotik", "lento", "otra", "terminar_llamada"),
    greeting="Hola, ¿en qué puedo ayudarte?",
    holding_phrase="Un momento, estoy consultando.",
    tool_apology="Lo siento, la consulta tardó demasiado.",
    end_apology="Lo siento, debo finalizar la llamada.",
    # the gateway itself cancels what the caller interrupts (the server-side cancel has its own tests)
    turn_detection=TurnDetection(type="server_vad", silence_duration_ms=500, interrupt_response=False),
)
SPECS = [
    spec("consultar_mikrotik", timeout_ms=2000, holding_phrase="Un momento, consulto los equipos."),
    spec("lento", timeout_ms=800),
    spec("otra", required=("query",)),
    spec("terminar_llamada", kind="action", required=()),
    spec("no_permitida"),  # served, but not in the profile's allow-list
]


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


def settings_for(server: FakeRealtimeServer, **overrides: float) -> RealtimeSettings:
    values = {
        "url": server.url,
        "model": "gpt-realtime-test",
        "api_key": API_KEY,
        "connect_timeout": 3.0,
        "holding_delay": 0.3,
        "tool_timeout": 2.0,
        "ending_grace": 2.0,
        "drain_timeout": 1.0,
        "barge_in_gate_ms": 0,
        **overrides,
    }  # the gated barge-in has its own tests (test_barge_in_gate.py)
    return RealtimeSettings(**values)


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
