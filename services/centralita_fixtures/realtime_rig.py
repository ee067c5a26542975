"""The Realtime session's test rig: a tool-using profile, the tools the fake dispatcher serves, and the
session settings that point at a fake Realtime server (tests/gateway/realtime and bench/realtime.py).
"""

from __future__ import annotations

from call_gateway.realtime import RealtimeSettings
from centralita.profiles import Profile, TurnDetection
from centralita_fixtures.fake_realtime import API_KEY, FakeRealtimeServer
from centralita_fixtures.realtime_fakes import spec

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
