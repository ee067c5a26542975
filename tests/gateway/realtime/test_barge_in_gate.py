"""Barge-in gating and turn-taking in the sans-IO core (issue 14), one branch per test; plus the meter."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from call_gateway.realtime.protocol import Interrupt, Pause, RealtimeProtocol, ResponseTurn, Resume, RunTool
from call_gateway.realtime.voice import VoiceMeter, frame_level_dbfs
from centralita.dispatcher import ToolResult
from centralita.profiles import TurnDetection
from centralita_fixtures.realtime_rig import PROFILE
from tests.gateway.realtime.test_protocol import TOOLS, args_done, audio, created, done, of, sends

GATE_MS = 250
STARTED = {"type": "input_audio_buffer.speech_started", "audio_start_ms": 1000, "item_id": "u1"}
STOPPED = {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 2000, "item_id": "u1"}


def gated(profile=PROFILE, **kw) -> RealtimeProtocol:
    core = RealtimeProtocol(profile, TOOLS, [], holding_delay=1.5, barge_in_gate_ms=GATE_MS, **kw)
    [update] = sends(core.receive({"type": "session.created", "session": {}}, 0.0))
    td = update["session"]["audio"]["input"]["turn_detection"]
    assert td["create_response"] is False and td["interrupt_response"] is False
    greeting = sends(core.receive({"type": "session.updated", "session": {}}, 0.1))
    created(core, "r_greet", greeting[0])
    done(core, "r_greet")
    return core


def answering(core: RealtimeProtocol, rid: str = "r1", ms: int = 3000) -> None:
    created(core, rid, {"response": {"metadata": None}})
    audio(core, rid, "it1", 8 * ms)


def test_speech_started_pauses_and_a_noise_that_ends_resumes_with_no_truncate_cancel_or_answer() -> None:
    core = gated()
    answering(core)
    assert of(core.receive(STARTED, 1.0), Pause)
    assert core.caller_voice("sounding", 1.0, heard=True, audio_pending_ms=2000) == []  # a burst, undecided
    assert isinstance(core.caller_voice("quiet", 1.2)[0], Resume)  # it ended: play on
    assert core.caller_voice("quiet", 1.3) == []  # resumed once
    actions = core.receive(STOPPED, 1.8)
    assert sends(actions) == [] and of(actions, Interrupt) == []
    assert core.metrics.noises_ignored == 1 and core.metrics.truncates == 0 and core.metrics.barge_ins == 0
    done(core, "r1", now=2.0)
    assert sends(core.tick(2.1)) == []  # a cough is not a question: no response.create


def test_speech_that_lasts_interrupts_truncates_at_what_was_played_and_cancels_the_active_response() -> None:
    core = gated()
    answering(core)
    core.receive(STARTED, 1.0)
    core.caller_voice("sounding", 1.0, heard=True, audio_pending_ms=2000)
    [interrupt] = core.caller_voice("speech", 1.25)
    assert isinstance(interrupt, Interrupt) and interrupt.item_ids == ("it1",)
    events = sends(core.interrupted({"it1": 740}, 1.26))
    assert [(e["type"], e.get("audio_end_ms"), e.get("response_id")) for e in events] == [
        ("conversation.item.truncate", 740, None),
        ("response.cancel", None, "r1"),
    ]
    assert core.caller_voice("speech", 1.3) == []  # decided once
    assert sends(core.receive(STOPPED, 2.5)) == []  # the cancelled response is still in flight
    [request] = sends(done(core, "r1", status="cancelled", now=2.6))
    assert request["type"] == "response.create" and request["response"]["metadata"] == {"centralita": "turn"}


def test_speech_after_the_response_is_done_truncates_but_never_cancels_a_finished_response() -> None:
    core = gated()
    answering(core)
    done(core, "r1", now=0.5)  # generated; still playing at the phone
    core.receive(STARTED, 1.0)
    core.caller_voice("sounding", 1.0, heard=True, audio_pending_ms=2000)
    core.caller_voice("speech", 1.25)
    events = sends(core.interrupted({"it1": 900}, 1.26))
    assert [e["type"] for e in events] == ["conversation.item.truncate"]


def test_undecided_at_the_window_end_it_waits_for_the_audio_up_to_the_cap_then_sound_interrupts() -> None:
    core = gated()
    answering(core)
    core.receive(STARTED, 1.0)
    core.caller_voice("sounding", 1.0, heard=True, audio_pending_ms=2000)
    assert core.next_deadline() == pytest.approx(1.25)
    assert core.tick(1.2, caller_voice="sounding") == []
    assert core.tick(1.25, caller_voice="sounding") == []  # the caller's audio may lag: look again shortly
    assert core.next_deadline() == pytest.approx(1.29)
    assert core.tick(1.3, caller_voice="unsure") == []
    assert of(core.tick(1.4, caller_voice="sounding"), Interrupt)  # a sound still going at the 400 ms cap

    core = gated()
    answering(core)
    core.receive(STARTED, 1.0)
    core.caller_voice("unsure", 1.0, heard=False, audio_pending_ms=2000)
    assert of(core.tick(1.4, caller_voice="unsure"), Resume)  # nothing heard by the cap: play on

    core = gated()
    answering(core)
    core.receive(STARTED, 1.0)
    core.caller_voice("sounding", 1.0, heard=True, audio_pending_ms=2000)
    assert of(core.tick(1.25, caller_voice="quiet"), Resume)


def test_speech_following_a_noise_in_the_same_segment_still_interrupts() -> None:
    core = gated()
    answering(core)
    core.receive(STARTED, 1.0)
    core.caller_voice("sounding", 1.0, heard=True, audio_pending_ms=2000)
    assert of(core.caller_voice("quiet", 1.2), Resume)
    assert of(core.caller_voice("speech", 1.7), Interrupt)  # the caller began talking after the cough


def test_a_sound_with_nothing_being_said_is_an_ordinary_turn_even_if_short() -> None:
    core = gated()
    core.receive(STARTED, 1.0)
    assert of(core.caller_voice("sounding", 1.0, heard=True, audio_pending_ms=0), Resume)
    assert core.caller_voice("speech", 1.3) == []  # nothing to interrupt
    [request] = sends(core.receive(STOPPED, 1.6))  # "sí." answers a question: it gets its answer
    assert request["response"]["metadata"] == {"centralita": "turn"}


def test_a_segment_the_meter_never_heard_resumes_but_is_still_answered() -> None:
    core = gated()
    answering(core)
    done(core, "r1", now=0.5)
    core.receive(STARTED, 1.0)
    assert core.caller_voice("unsure", 1.0, heard=False, audio_pending_ms=1500) == []
    assert of(core.caller_voice("quiet", 1.1), Resume)
    [request] = sends(core.receive(STOPPED, 2.0))  # softer than the meter's level: the server heard words
    assert request["response"]["metadata"] == {"centralita": "turn"}
    assert core.metrics.noises_ignored == 0


def test_a_response_requested_before_the_speech_is_cancelled_once_created_if_the_speech_was_real() -> None:
    core = gated()
    created(core, "r1", {"response": {"metadata": None}})
    [_call_args] = of(args_done(core, "r1", "c1", "q", now=0.5), RunTool)
    done(core, "r1", now=0.6)
    [_out, follow] = sends(core.tool_finished("c1", ToolResult("q", True, {"n": 1}), 0.7))
    assert follow["type"] == "response.create"
    core.receive(STARTED, 1.0)
    core.caller_voice("sounding", 1.0, heard=True, audio_pending_ms=0)  # in flight: still gated
    assert core.gate is not None and core.gate.state == "open"
    core.caller_voice("speech", 1.25)
    [cancel] = sends(created(core, "r2", follow, now=1.3))
    assert cancel["type"] == "response.cancel" and cancel["response_id"] == "r2"


def test_a_running_tool_is_kept_when_the_caller_talks_and_answered_once_after_the_turn() -> None:
    """Point 3: the output is delivered once; the one response.create waits for speech_stopped."""
    core = gated()
    created(core, "r1", {"response": {"metadata": None}})
    audio(core, "r1", "it1", 8 * 400)  # "déjame consultar…"
    assert of(args_done(core, "r1", "c1", "q", now=0.5), RunTool)
    core.receive(STARTED, 0.8)
    core.caller_voice("sounding", 0.8, heard=True, audio_pending_ms=300)
    core.caller_voice("speech", 1.05)
    sends(core.interrupted({"it1": 300}, 1.06))
    actions = done(core, "r1", status="cancelled", now=1.1)
    assert sends(actions) == []  # no CANCELLED output for the running query, no response while talking
    [out] = sends(core.tool_finished("c1", ToolResult("q", True, {"clientes": 221}), 1.5))
    assert out["item"]["call_id"] == "c1" and json.loads(out["item"]["output"])["clientes"] == 221
    [follow] = sends(core.receive(STOPPED, 3.0))
    assert follow["type"] == "response.create" and follow["response"]["metadata"] == {"centralita": "tools"}
    assert sends(core.tick(3.1)) == [] and core.turn_pending is False  # one answer for the tool and the turn


def test_caller_turn_over_before_the_tool_result_waits_for_it_then_one_response() -> None:
    core = gated()
    created(core, "r1", {"response": {"metadata": None}})
    args_done(core, "r1", "c1", "q", now=0.5)
    done(core, "r1", now=0.6)
    core.receive(STARTED, 0.8)
    core.caller_voice("speech", 0.8, heard=True, audio_pending_ms=0)
    assert sends(core.receive(STOPPED, 2.0)) == []  # the tool is still running: its answer covers the turn
    [out, follow] = sends(core.tool_finished("c1", ToolResult("q", True, {}), 2.5))
    assert out["type"] == "conversation.item.create" and follow["response"]["metadata"] == {"centralita": "tools"}


def test_ungated_with_interrupt_response_the_server_cancels_and_we_do_not() -> None:
    profile = replace(PROFILE, turn_detection=TurnDetection(type="semantic_vad", interrupt_response=True))
    core = RealtimeProtocol(profile, TOOLS, [], barge_in_gate_ms=0)
    [update] = sends(core.receive({"type": "session.created", "session": {}}, 0.0))
    assert update["session"]["audio"]["input"]["turn_detection"] == {
        "type": "semantic_vad",
        "eagerness": "auto",
        "create_response": True,
        "interrupt_response": True,
    }
    created(core, "r_greet", sends(core.receive({"type": "session.updated", "session": {}}, 0.1))[0])
    audio(core, "r_greet", "it1", 8 * 1000)
    assert of(core.receive(STARTED, 1.0), Interrupt)
    events = sends(core.interrupted({"it1": 400}, 1.0))
    assert [e["type"] for e in events] == ["conversation.item.truncate"]  # no response.cancel of ours
    assert core.active.cancel_sent  # and none later either


def test_ungated_out_of_band_holding_phrase_is_cancelled_by_us() -> None:
    profile = replace(PROFILE, turn_detection=TurnDetection(type="semantic_vad", interrupt_response=True))
    core = RealtimeProtocol(profile, TOOLS, [], barge_in_gate_ms=0, greet=False)
    core.receive({"type": "session.created", "session": {}}, 0.0)
    core.receive({"type": "session.updated", "session": {}}, 0.1)
    core.requested = ResponseTurn(purpose="holding", out_of_band=True, event_id="gw_holding_1", requested_at=0.15)
    core.turns.append(core.requested)
    core.receive(
        {
            "type": "response.created",
            "response": {"id": "r_hold", "conversation_id": None, "metadata": {"centralita": "holding"}},
        },
        0.2,
    )
    assert core.active is not None and core.active.out_of_band
    audio(core, "r_hold", "ith", 8 * 500)
    core.receive(STARTED, 1.0)
    assert [e["type"] for e in sends(core.interrupted({"ith": 100}, 1.0))] == ["response.cancel"]


# ------------------------------------------------------------------ the meter


def tone(ms: int, level: int = 0x20) -> bytes:
    return bytes([level, level ^ 0x80]) * (4 * ms)


def test_frame_level_of_silence_and_of_a_loud_frame() -> None:
    assert frame_level_dbfs(b"\xff" * 160) == -math.inf
    assert frame_level_dbfs(tone(20)) > -20


@pytest.mark.parametrize(
    ("pattern", "verdicts"),
    [
        ([("v", 160), ("s", 120)], ["sounding"] * 6 + ["quiet"]),  # a 160 ms burst, quiet once 100 ms silent
        ([("v", 300)], ["sounding"] * 6 + ["speech"] * 2),  # a run reaching 250 ms
        ([("v", 120), ("s", 60), ("v", 200)], ["sounding"] * 6 + ["speech"] * 4),  # a 60 ms gap is bridged
        ([("v", 120), ("s", 140), ("v", 120)], ["sounding"] * 5 + ["quiet"] + ["sounding"] * 4),  # 140 ms is not
    ],
)
def test_meter_verdicts_over_time(pattern, verdicts) -> None:
    audio_ = b"".join(tone(ms) if kind == "v" else b"\xff" * 8 * ms for kind, ms in pattern)
    meter = VoiceMeter()
    meter.mark()
    seen = []
    for i in range(0, len(audio_), 320):  # the RTP endpoint hands over 40 ms at a time
        meter.feed(audio_[i : i + 320])
        seen.append(meter.verdict())
    assert seen == verdicts[: len(seen)] and len(seen) == len(verdicts)


def test_meter_mark_keeps_a_run_in_progress_and_forgets_an_old_one() -> None:
    meter = VoiceMeter()
    meter.feed(tone(100))
    meter.mark(lookback_ms=250)
    assert meter.voiced_since_mark and meter.verdict() == "sounding"
    meter.feed(b"\xff" * 8 * 400)
    meter.mark(lookback_ms=250)
    assert not meter.voiced_since_mark and meter.verdict() == "unsure"  # no audio since the mark yet
    meter.feed(b"\xff" * 8 * 100)
    assert meter.verdict() == "quiet"


# ------------------------------------------------------------------ through the session and the fake's VAD


def test_a_tool_running_while_the_caller_keeps_talking_is_delivered_and_answered_after_the_turn(make_call) -> None:
    """Point 3 end to end (session ↔ fake server with its VAD): the query's output is sent once while the caller
    still talks; the one follow-up response.create comes after speech_stopped, never while the caller speaks."""
    import threading
    import time

    from centralita_fixtures.fake_realtime import FakeConnection
    from centralita_fixtures.realtime_fakes import Behaviour

    talk = threading.Event()
    marks: dict = {}

    def script(conn: FakeConnection) -> None:
        conn.use_vad()
        conn.handshake()
        conn.speak(conn.expect("response.create"), b"\x10" * 800)
        conn.next_turn(timeout=10)
        request = conn.expect("response.create", timeout=5)
        conn.function_calls(request, [("call_q", "consultar_mikrotik", '{"question": "x"}')])
        talk.set()  # the caller goes on talking while the tool runs
        marks["output"] = conn.expect("conversation.item.create", timeout=5)
        marks["turn2"] = conn.next_turn(timeout=10)
        marks["follow"] = conn.expect("response.create", timeout=5)
        conn.speak(marks["follow"], b"\x11" * 800)

    call = make_call(
        script, behaviours={"consultar_mikrotik": Behaviour(delay=1.2)}, barge_in_gate_ms=250, holding_delay=5.0
    )

    def speak(voice_ms: int, quiet_ms: int) -> None:
        frames = [b"\x20\xa0" * 80] * (voice_ms // 20) + [b"\xff" * 160] * (quiet_ms // 20)
        start = time.monotonic()
        for i in range(0, len(frames), 2):  # 40 ms batches, like the RTP endpoint, in real time
            call.engine.send_caller_audio(b"".join(frames[i : i + 2]))
            time.sleep(max(0.0, start + (i + 2) * 0.02 - time.monotonic()))

    speak(600, 800)  # the question (the test profile: server_vad, 500 ms of silence)
    assert talk.wait(5)
    speak(1500, 1200)  # "…y también quería saber…"
    conn = call.settle(10)
    started2 = [e for e in conn.speech_events if e["type"] == "input_audio_buffer.speech_started"][1]["_at"]
    stopped2 = [e for e in conn.speech_events if e["type"] == "input_audio_buffer.speech_stopped"][1]["_at"]
    assert started2 < marks["output"]["_at"] < stopped2  # the output went out while the caller talked
    assert json.loads(marks["output"]["item"]["output"]) and "error" not in json.loads(
        marks["output"]["item"]["output"]
    )
    assert marks["follow"]["_at"] > stopped2 and marks["follow"]["response"]["metadata"] == {"centralita": "tools"}
    assert len(conn.of_type("response.create")) == 3  # greeting, the question, one follow-up for tool + talk
    assert len(conn.of_type("conversation.item.create")) == 1
    assert conn.violations == [] and conn.errors_sent == []


def test_gate_settings_from_the_environment_and_bad_values_name_the_variable(monkeypatch) -> None:
    from call_gateway.realtime import RealtimeSettings
    from centralita.config import ConfigError

    monkeypatch.delenv("REALTIME_BARGE_IN_GATE_MS", raising=False)
    assert RealtimeSettings.from_env().barge_in_gate_ms == 250
    monkeypatch.setenv("REALTIME_BARGE_IN_GATE_MS", "0")
    monkeypatch.setenv("REALTIME_BARGE_IN_LEVEL_DBFS", "-50")
    settings = RealtimeSettings.from_env()
    assert settings.barge_in_gate_ms == 0 and settings.barge_in_level_dbfs == -50
    for bad in ("450", "-1", "soon"):
        monkeypatch.setenv("REALTIME_BARGE_IN_GATE_MS", bad)
        with pytest.raises(ConfigError, match="REALTIME_BARGE_IN_GATE_MS"):
            RealtimeSettings.from_env()


def test_a_noise_does_not_cost_a_slow_tool_its_holding_phrase() -> None:
    core = gated()
    created(core, "r1", {"response": {"metadata": None}})
    args_done(core, "r1", "c1", "q", now=0.5)
    done(core, "r1", now=0.6)
    core.receive(STARTED, 1.0)
    core.caller_voice("sounding", 1.0, heard=True, audio_pending_ms=0)
    core.receive(STOPPED, 1.5)  # nothing was being said: a plain turn (free gate), answered after the tool
    assert core.calls["c1"].held  # the caller spoke: no holding phrase over them
    core2 = gated()
    answering(core2)
    done(core2, "r1", now=0.2)
    created(core2, "r2", {"response": {"metadata": None}}, now=0.3)
    args_done(core2, "r2", "c2", "q", now=0.4)
    done(core2, "r2", now=0.45)
    core2.receive(STARTED, 1.0)
    core2.caller_voice("sounding", 1.0, heard=True, audio_pending_ms=2000)
    core2.caller_voice("quiet", 1.2)
    core2.receive(STOPPED, 1.6)
    assert core2.metrics.noises_ignored == 1 and core2.calls["c2"].held is False
    [holding] = sends(core2.tick(2.0, audio_pending_ms=0))
    assert holding["response"]["metadata"] == {"centralita": "holding"}


def test_without_the_gate_the_server_answers_and_cancels_and_the_gateway_never_cancels_after_it(make_call) -> None:
    """Gate off, profile with create_response and interrupt_response (the API's defaults): the fake server
    creates the answer to each turn and cancels it when the caller talks over it. The gateway empties the
    sink, truncates at what was played, and sends no response.cancel (the server's cancel is enough; one
    of ours would earn response_cancel_not_active), nor a response.create of its own."""
    import threading
    import time

    from centralita_fixtures.fake_realtime import FakeConnection

    answering_now = threading.Event()
    marks: dict = {}
    profile = replace(PROFILE, turn_detection=TurnDetection(type="semantic_vad", eagerness="high"))

    def script(conn: FakeConnection) -> None:
        conn.use_vad()
        conn.handshake()
        conn.speak(conn.expect("response.create"), b"\x10" * 800)
        turn = conn.next_turn(timeout=10)
        marks["rid"] = turn.response_id
        answering_now.set()
        iid = conn.audio_item(turn.response_id, b"\x12" * 8 * 3000, chunk_ms=100, pause=0.1)
        conn.audio_done(turn.response_id, iid)
        conn.response_done(turn.response_id)  # suppressed: the server already cancelled it
        turn2 = conn.next_turn(timeout=10)
        marks["rid2"] = turn2.response_id
        iid2 = conn.audio_item(turn2.response_id, b"\x13" * 800)
        conn.response_done(turn2.response_id, output=[conn.audio_done(turn2.response_id, iid2)])

    call = make_call(script, profile=profile, barge_in_gate_ms=0)

    def speak(voice_ms: int, quiet_ms: int) -> None:
        frames = [b"\x20\xa0" * 80] * (voice_ms // 20) + [b"\xff" * 160] * (quiet_ms // 20)
        start = time.monotonic()
        for i in range(0, len(frames), 2):
            call.engine.send_caller_audio(b"".join(frames[i : i + 2]))
            time.sleep(max(0.0, start + (i + 2) * 0.02 - time.monotonic()))

    # the greeting's response must exist before the caller talks: a response asked for but not yet created
    # when speech starts is rightly cancelled by the gateway (the server never saw it to cancel)
    deadline = time.monotonic() + 5
    while sum(call.sink.received.values()) < 800 and time.monotonic() < deadline:
        time.sleep(0.01)
    speak(600, 700)  # semantic_vad "high": the fake waits 500 ms
    assert answering_now.wait(5)
    deadline = time.monotonic() + 5
    while sum(call.sink.received.values()) < 800 + 8 * 300 and time.monotonic() < deadline:
        time.sleep(0.01)  # 300 ms of the answer arrived
    call.sink.advance(300)  # 300 ms of the answer reach the caller (the greeting was cut by the question)
    speak(700, 700)
    conn = call.settle(10)
    assert conn.is_cancelled(marks["rid"]) and marks["rid2"] is not None
    assert conn.of_type("response.cancel") == []  # the server cancelled it itself
    assert len(conn.of_type("response.create")) == 1  # only the greeting: the server answers each turn
    [truncate] = conn.of_type("conversation.item.truncate")
    assert truncate["audio_end_ms"] == 300
    assert conn.errors_sent == [] and conn.violations == []


def test_a_session_that_ends_while_its_gate_holds_the_audio_releases_the_sink(make_call) -> None:
    """The call may play an apology through the same sink after the session is gone: nothing may stay held."""
    import threading

    from centralita_fixtures.fake_realtime import FakeConnection
    from centralita_fixtures.realtime_fakes import FakeSink

    paused = threading.Event()
    sink = FakeSink()

    def script(conn: FakeConnection) -> None:
        conn.handshake()
        conn.speak(conn.expect("response.create"), b"\x10" * 1600)
        conn.speech_started()
        conn.wait_until(lambda: sink.paused, 3, "the gate's pause")
        paused.set()
        conn.drop()  # the Realtime connection is lost while the gate holds the greeting

    call = make_call(script, sink=sink, barge_in_gate_ms=250)
    assert paused.wait(5)
    assert call.ended.wait(5) and call.ends == ["connection_lost"]
    assert call.sink.paused is False and call.sink.pending_ms() == 200  # held audio released, not dropped
