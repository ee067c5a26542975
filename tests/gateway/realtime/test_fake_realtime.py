"""The fake server's client-event check must reject what the real GA server rejects (or silently ignores)."""

from __future__ import annotations

import pytest

from call_gateway.realtime import events as ev
from centralita.profiles import Profile
from centralita_fixtures.fake_realtime import check_client_event

PROFILE = Profile(name="p", instructions="x", transcription_model="gpt-4o-mini-transcribe")


@pytest.mark.parametrize(
    "event",
    [
        ev.session_update(
            PROFILE,
            [{"type": "function", "name": "t", "description": "d", "parameters": {"type": "object", "properties": {}}}],
            "e1",
        ),
        ev.audio_append(b"\x00" * 160),
        ev.function_call_output("call_1", "{}", "e2"),
        ev.response_create("e3", "holding", instructions=ev.say_exactly("Un momento."), out_of_band=True),
        ev.response_create("e4", "tools"),
        ev.response_cancel("e5", "resp_1"),
        ev.response_cancel("e6"),
        ev.truncate("item_1", 640, "e7"),
    ],
)
def test_every_event_the_gateway_builds_passes(event) -> None:
    assert check_client_event(event) == []


def _session(**extra):
    event = ev.session_update(PROFILE, [], "e1")
    event["session"].update(extra)
    return event


@pytest.mark.parametrize(
    ("event", "why"),
    [
        (_session(voice="alloy"), "beta: voice at the session top level"),
        (_session(modalities=["audio", "text"]), "beta: modalities"),
        (_session(input_audio_format="g711_ulaw"), "beta: input_audio_format"),
        (_session(turn_detection={"type": "server_vad"}), "beta: turn_detection at the top level"),
        (_session(temperature=0.8), "beta: temperature is gone in GA"),
        ({"type": "session.update", "session": {"instructions": "x"}}, "GA: session.type is required"),
        (
            {"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"format": "g711_ulaw"}}}},
            "GA: formats are objects",
        ),
        (
            {"type": "conversation.item.create", "item": {"type": "function_call_output", "output": "{}"}},
            "function_call_output without call_id",
        ),
        ({"type": "conversation.item.truncate", "item_id": "i", "audio_end_ms": 10}, "truncate without content_index"),
        ({"type": "response.create", "response": {"modalities": ["audio"]}}, "beta: modalities in response.create"),
        ({"type": "input_audio_buffer.append", "audio": "AAAA", "extra": 1}, "stray key"),
        ({"type": "response.audio.delta"}, "not a client event"),
    ],
)
def test_beta_and_stray_shapes_are_rejected(event, why) -> None:
    assert check_client_event(event) != [], why


def _voice(ms: int) -> bytes:
    return bytes([0x20, 0xA0]) * (4 * ms)


def _quiet(ms: int) -> bytes:
    return b"\xff" * (8 * ms)


def test_fake_vad_honours_server_vad_silence_and_prefix_padding() -> None:
    from centralita_fixtures.fake_realtime import FakeVad

    vad = FakeVad.from_session(
        {
            "type": "server_vad",
            "threshold": 0.5,
            "prefix_padding_ms": 300,
            "silence_duration_ms": 500,
            "create_response": False,
            "interrupt_response": False,
        }
    )
    assert vad is not None and not vad.create_response and not vad.interrupt_response
    events = vad.feed(_quiet(1000) + _voice(400) + _quiet(400) + _voice(300) + _quiet(600))
    # one turn: the 400 ms pause is shorter than the silence; start = onset - prefix padding
    assert events == [("start", 700), ("stop", 2600)]
    short = FakeVad.from_session(
        {"type": "server_vad", "threshold": 0.2, "prefix_padding_ms": 300, "silence_duration_ms": 100}
    )
    assert [e for e, _ in short.feed(_voice(400) + _quiet(400) + _voice(300) + _quiet(200))] == [
        "start",
        "stop",
        "start",
        "stop",
    ]  # seed 000's values cut at every pause


@pytest.mark.parametrize(("eagerness", "turns"), [("high", 2), ("auto", 1), ("low", 1)])
def test_fake_semantic_vad_waits_longer_when_less_eager(eagerness, turns) -> None:
    from centralita_fixtures.fake_realtime import FakeVad

    vad = FakeVad.from_session({"type": "semantic_vad", "eagerness": eagerness})
    events = vad.feed(_voice(500) + _quiet(600) + _voice(500) + _quiet(1500))
    assert [e for e, _ in events].count("start") == turns


def test_fake_vad_ignores_silence_and_one_click() -> None:
    from centralita_fixtures.fake_realtime import FakeVad

    vad = FakeVad.from_session({"type": "semantic_vad"})
    assert vad.feed(_quiet(2000) + _voice(20) + _quiet(2000)) == []  # one 20 ms click is not speech
    assert FakeVad.from_session(None) is None
