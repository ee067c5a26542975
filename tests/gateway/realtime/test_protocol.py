"""The sans-IO core alone: events in, actions out, time passed in by hand."""

from __future__ import annotations

import base64
import json

from call_gateway.realtime.protocol import (
    AbandonTool,
    End,
    Interrupt,
    Play,
    RealtimeProtocol,
    RunTool,
    Send,
    ToolInfo,
)
from centralita.dispatcher import ToolResult
from centralita_fixtures.fake_realtime import check_client_event
from centralita_fixtures.realtime_rig import PROFILE

TOOLS = {"q": ToolInfo("q", "query", 2.0, ""), "act": ToolInfo("act", "action", 2.0, "")}


def ready(**kw) -> RealtimeProtocol:
    core = RealtimeProtocol(PROFILE, TOOLS, [], holding_delay=1.5, **kw)
    core.receive({"type": "session.created", "session": {}}, 0.0)
    greeting = sends(core.receive({"type": "session.updated", "session": {}}, 0.1))
    created(core, "r_greet", greeting[0])
    done(core, "r_greet")
    return core


def sends(actions) -> list[dict]:
    out = [a.event for a in actions if isinstance(a, Send)]
    for event in out:
        assert check_client_event(dict(event)) == [], event
    return out


def created(core, rid, request=None, now=0.2):
    metadata = (request or {}).get("response", {}).get("metadata")
    return core.receive({"type": "response.created", "response": {"id": rid, "metadata": metadata}}, now)


def done(core, rid, status="completed", output=(), now=0.3):
    return core.receive(
        {"type": "response.done", "response": {"id": rid, "status": status, "output": list(output)}}, now
    )


def audio(core, rid, item, nbytes, now=0.25):
    delta = base64.b64encode(b"\x01" * nbytes).decode()
    return core.receive(
        {"type": "response.output_audio.delta", "response_id": rid, "item_id": item, "delta": delta}, now
    )


def args_done(core, rid, call_id, name, arguments="{}", now=1.0):
    return core.receive(
        {
            "type": "response.function_call_arguments.done",
            "response_id": rid,
            "call_id": call_id,
            "name": name,
            "arguments": arguments,
        },
        now,
    )


def of(actions, kind):
    return [a for a in actions if isinstance(a, kind)]


def test_truncate_is_capped_at_the_audio_received() -> None:
    core = ready()
    created(core, "r1")
    audio(core, "r1", "it1", 8 * 500)
    [interrupt] = of(core.receive({"type": "input_audio_buffer.speech_started"}, 1.0), Interrupt)
    assert interrupt.item_ids == ("it1",)
    events = sends(core.interrupted({"it1": 900}, 1.0))  # the sink claims more than it ever got
    assert events[0] == {
        "type": "conversation.item.truncate",
        "event_id": events[0]["event_id"],
        "item_id": "it1",
        "content_index": 0,
        "audio_end_ms": 500,
    }
    assert events[1]["type"] == "response.cancel" and events[1]["response_id"] == "r1"


def test_nothing_played_no_truncate_but_cancel() -> None:
    core = ready()
    created(core, "r1")
    audio(core, "r1", "it1", 800)
    core.receive({"type": "input_audio_buffer.speech_started"}, 1.0)
    assert [e["type"] for e in sends(core.interrupted({"it1": 0}, 1.0))] == ["response.cancel"]


def test_fully_played_item_of_a_done_response_is_not_truncated() -> None:
    core = ready()
    created(core, "r1")
    audio(core, "r1", "it1", 800)
    done(core, "r1")
    core.receive({"type": "input_audio_buffer.speech_started"}, 1.0)
    assert sends(core.interrupted({"it1": 100}, 1.0)) == []


def test_out_of_band_holding_audio_is_never_truncated() -> None:
    core = ready(tool_guard=1.0)
    created(core, "r1")
    args_done(core, "r1", "c1", "q", now=1.0)
    done(core, "r1", now=1.0)
    [holding] = sends(core.tick(2.6))
    assert holding["response"]["conversation"] == "none"
    created(core, "r_hold", holding, now=2.7)
    audio(core, "r_hold", "hold_item", 800, now=2.8)
    core.receive({"type": "input_audio_buffer.speech_started"}, 2.9)
    assert [e["type"] for e in sends(core.interrupted({"hold_item": 50}, 2.9))] == ["response.cancel"]


def test_late_audio_of_an_interrupted_response_is_dropped() -> None:
    core = ready()
    created(core, "r1")
    audio(core, "r1", "it1", 800)
    core.receive({"type": "input_audio_buffer.speech_started"}, 1.0)
    core.interrupted({"it1": 10}, 1.0)
    assert of(audio(core, "r1", "it1", 800), Play) == []
    assert core.metrics.dropped_events == 1


def test_duplicate_arguments_done_runs_the_tool_once() -> None:
    core = ready()
    created(core, "r1")
    first = args_done(core, "r1", "c1", "q", '{"question": "x"}')
    second = args_done(core, "r1", "c1", "q", '{"question": "x"}')
    assert len(of(first, RunTool)) == 1 and of(second, RunTool) == []


def test_call_seen_only_in_response_done_still_runs() -> None:
    core = ready()
    created(core, "r1")
    item = {"type": "function_call", "call_id": "c9", "name": "q", "arguments": '{"question": "y"}'}
    [run] = of(done(core, "r1", output=[item]), RunTool)
    assert (run.call_id, run.arguments) == ("c9", '{"question": "y"}')


def test_cancelled_response_cancels_calls_still_collecting_arguments() -> None:
    core = ready()
    created(core, "r1")
    core.receive(
        {
            "type": "response.output_item.added",
            "response_id": "r1",
            "item": {"type": "function_call", "call_id": "c1", "name": "q"},
        },
        0.5,
    )
    core.receive(
        {"type": "response.function_call_arguments.delta", "response_id": "r1", "call_id": "c1", "delta": '{"quest'},
        0.5,
    )
    actions = done(core, "r1", status="cancelled")
    [out] = sends(actions)
    assert json.loads(out["item"]["output"])["error"]["code"] == "CANCELLED"
    assert of(actions, RunTool) == []


def test_followup_waits_for_outputs_and_is_dropped_when_a_vad_response_already_sees_them() -> None:
    core = ready()
    created(core, "r1")
    assert len(of(args_done(core, "r1", "c1", "q"), RunTool)) == 1
    assert sends(done(core, "r1")) == []  # output not sent yet: no response.create
    actions = core.tool_finished("c1", ToolResult("q", True, {"a": 1}), 1.2)
    assert [e["type"] for e in sends(actions)] == ["conversation.item.create", "response.create"]

    core = ready()
    created(core, "r1")
    args_done(core, "r1", "c1", "q")
    done(core, "r1")
    core.receive({"type": "input_audio_buffer.speech_started"}, 1.1)
    # the caller speaks while the tool runs: no follow-up over the caller's voice
    assert [e["type"] for e in sends(core.tool_finished("c1", ToolResult("q", True, {}), 1.2))] == [
        "conversation.item.create"
    ]
    core.receive({"type": "conversation.item.added", "item": {"type": "function_call_output", "call_id": "c1"}}, 1.3)
    core.receive({"type": "input_audio_buffer.speech_stopped"}, 1.5)
    assert core.followup is None  # VAD (create_response) answers with the output in context
    assert sends(created(core, "r_vad", now=1.6)) == []
    assert sends(done(core, "r_vad", now=1.7)) == []  # and nobody asks for a second answer


def test_conflict_error_retries_the_followup_after_the_active_response() -> None:
    core = ready()
    created(core, "r1")
    args_done(core, "r1", "c1", "q")
    done(core, "r1")
    [_, request] = sends(core.tool_finished("c1", ToolResult("q", True, {}), 1.2))
    created(core, "r_vad", now=1.25)  # a response the server created meanwhile (no metadata)
    error = {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "code": "conversation_already_has_active_response",
            "event_id": request["event_id"],
        },
    }
    assert sends(core.receive(error, 1.3)) == []  # r_vad is active: wait
    [retry] = sends(done(core, "r_vad", now=1.4))
    assert retry["type"] == "response.create" and retry["response"]["metadata"] == {"centralita": "tools"}


def test_action_is_deferred_until_completed() -> None:
    core = ready()
    created(core, "r1")
    assert of(args_done(core, "r1", "c1", "act"), RunTool) == []
    assert [r.name for r in of(done(core, "r1"), RunTool)] == ["act"]


def test_guard_timeout_when_the_tool_never_resolves() -> None:
    core = ready(tool_guard=0.5)
    created(core, "r1")
    args_done(core, "r1", "c1", "q", now=1.0)
    done(core, "r1", now=1.0)
    assert core.next_deadline() == 2.5  # the holding phrase first
    core.tick(2.5)
    created(core, "r_hold", core.requested and {"response": {"metadata": {"centralita": "holding"}}}, now=2.6)
    done(core, "r_hold", now=2.7)
    assert core.next_deadline() == 3.5  # 2 s tool timeout + 0.5 s guard
    actions = core.tick(3.5)
    assert [a.call_id for a in of(actions, AbandonTool)] == ["c1"]
    out, follow = sends(actions)
    assert json.loads(out["item"]["output"])["error"]["code"] == "DEADLINE_EXCEEDED"
    assert PROFILE.tool_apology in follow["response"]["instructions"]
    assert core.tool_finished("c1", ToolResult("q", True, {}), 4.0) == []  # too late: no second output


def test_unknown_events_are_counted_and_legacy_audio_name_accepted() -> None:
    core = ready()
    assert core.receive({"type": "something.new"}, 1.0) == []
    assert core.metrics.dropped_events == 1
    created(core, "r1")
    delta = base64.b64encode(b"\x02" * 160).decode()
    [play] = of(
        core.receive({"type": "response.audio.delta", "response_id": "r1", "item_id": "i", "delta": delta}, 1.1), Play
    )
    assert play.audio == b"\x02" * 160
    assert (
        of(
            core.receive(
                {"type": "response.output_audio.delta", "response_id": "r1", "item_id": "i", "delta": "%%%"}, 1.2
            ),
            Play,
        )
        == []
    )


def test_turn_latency_from_speech_stopped_to_first_audio() -> None:
    core = ready()
    core.receive({"type": "input_audio_buffer.speech_stopped"}, 5.0)
    created(core, "r1", now=5.2)
    audio(core, "r1", "i", 160, now=5.35)
    audio(core, "r1", "i", 160, now=5.40)
    assert [round(x) for x in core.metrics.turn_latencies_ms] == [350]


def test_fatal_error_before_ready_ends_at_once_and_after_ready_apologises() -> None:
    core = RealtimeProtocol(PROFILE, TOOLS, [])
    fatal = {"type": "error", "error": {"type": "server_error", "code": "server_error", "message": "boom"}}
    assert of(core.receive(fatal, 0.0), End) == [End("server_error")]

    core = ready(ending_grace=2.0)
    [apology] = sends(core.receive(fatal, 1.0))
    assert apology["response"]["conversation"] == "none"
    assert of(core.tick(2.9), End) == []
    assert of(core.tick(3.0), End) == [End("server_error")]  # the apology never came: end anyway


def test_response_matching_by_metadata_and_fallback() -> None:
    core = ready()
    created(core, "r1")
    args_done(core, "r1", "c1", "q", now=1.0)
    done(core, "r1", now=1.0)
    [holding] = sends(core.tick(2.5))
    # a VAD response (in the default conversation) racing our out-of-band request is not ours
    core.receive({"type": "response.created", "response": {"id": "r_vad", "conversation_id": "conv_1"}}, 2.6)
    assert core.requested is not None and core.active.purpose == "server"
    done(core, "r_vad", now=2.7)
    # a server that does not echo metadata: the out-of-band response still matches the request
    core.receive({"type": "response.created", "response": {"id": "r_hold", "conversation_id": None}}, 2.8)
    assert core.requested is None and core.active.purpose == "holding" and core.active.out_of_band
    assert holding["response"]["metadata"] == {"centralita": "holding"}


def test_a_request_that_never_starts_is_given_up_and_the_followup_retried() -> None:
    core = ready()
    created(core, "r1")
    args_done(core, "r1", "c1", "q", now=1.0)
    done(core, "r1", now=1.0)
    [_, request] = sends(core.tool_finished("c1", ToolResult("q", True, {}), 1.1))
    assert request["type"] == "response.create"
    assert core.next_deadline() == 6.1
    [retry] = sends(core.tick(6.1))  # 5 s without response.created: ask again
    assert retry["type"] == "response.create" and retry["event_id"] != request["event_id"]


def test_speaking_after_the_assistant_finished_is_not_a_barge_in() -> None:
    core = ready()
    created(core, "r1")
    audio(core, "r1", "it1", 800)
    done(core, "r1")
    core.receive({"type": "input_audio_buffer.speech_started"}, 1.0)
    core.interrupted({"it1": 100}, 1.0)  # everything was heard
    assert core.metrics.barge_ins == 0
    created(core, "r2", now=2.0)
    audio(core, "r2", "it2", 800, now=2.1)
    [interrupt] = of(core.receive({"type": "input_audio_buffer.speech_started"}, 2.2), Interrupt)
    assert interrupt.item_ids == ("it2",)  # already-settled items are not measured again
    core.interrupted({"it2": 40}, 2.2)
    assert core.metrics.barge_ins == 1


def test_renewal_waits_for_a_pause_and_carries_the_transcript() -> None:
    from call_gateway.realtime.protocol import Renew

    core = ready(session_limit=100.0, session_margin=40.0)  # session created at 0.0: renew from 60, end at 90
    created(core, "r1", now=59.0)
    args_done(core, "r1", "c1", "q", now=59.0)
    core.receive(
        {"type": "response.output_audio_transcript.done", "response_id": "r1", "transcript": "Consulto."}, 59.1
    )
    assert of(core.tick(60.0), Renew) == []  # a response is active and a tool runs
    assert core.next_deadline() == 60.25  # polled, not busy-waited
    done(core, "r1", now=60.3)
    actions = core.tool_finished("c1", ToolResult("q", True, {}), 60.4)
    assert of(actions, Renew) == []  # the follow-up answer comes first
    created(core, "r2", sends(actions)[1], now=60.5)
    [renew] = of(done(core, "r2", now=61.0), Renew)
    assert "Asistente: Consulto." in renew.context
    assert of(core.tick(62.0), Renew) == []  # once


def test_never_idle_means_the_session_ends_at_the_hard_limit() -> None:
    core = ready(session_limit=100.0, session_margin=40.0)
    core.receive({"type": "input_audio_buffer.speech_started"}, 59.0)  # the caller never stops talking
    core.tick(60.0)
    assert core.state == "ready"
    [apology] = sends(core.tick(90.0))
    assert core.state == "ending" and apology["response"]["conversation"] == "none"


def test_holding_phrase_waits_until_the_sink_has_played_what_was_said() -> None:
    core = ready()
    created(core, "r1", now=1.0)
    args_done(core, "r1", "c1", "q", now=1.0)
    done(core, "r1", now=1.0)
    assert sends(core.tick(2.5, audio_pending_ms=1200)) == []  # "déjame consultar…" still playing
    assert core.next_deadline() == 3.7
    [holding] = sends(core.tick(3.7, audio_pending_ms=0))
    assert holding["response"]["metadata"] == {"centralita": "holding"}


def test_two_audio_items_only_the_one_cut_short_is_truncated() -> None:
    core = ready()
    created(core, "r1")
    audio(core, "r1", "it1", 8 * 500)
    core.receive({"type": "response.output_audio.done", "response_id": "r1", "item_id": "it1"}, 0.3)
    audio(core, "r1", "it2", 8 * 500)
    [interrupt] = of(core.receive({"type": "input_audio_buffer.speech_started"}, 1.0), Interrupt)
    assert interrupt.item_ids == ("it1", "it2")
    events = sends(core.interrupted({"it1": 500, "it2": 200}, 1.0))
    assert [(e["type"], e.get("item_id"), e.get("audio_end_ms")) for e in events] == [
        ("conversation.item.truncate", "it2", 200),
        ("response.cancel", None, None),
    ]


def test_item_still_streaming_is_truncated_even_if_all_received_was_played() -> None:
    core = ready()
    created(core, "r1")
    audio(core, "r1", "it1", 8 * 300)  # more is coming: no output_audio.done yet
    core.receive({"type": "input_audio_buffer.speech_started"}, 1.0)
    events = sends(core.interrupted({"it1": 300}, 1.0))
    assert events[0]["type"] == "conversation.item.truncate" and events[0]["audio_end_ms"] == 300


def test_call_whose_arguments_never_completed_still_gets_one_output() -> None:
    core = ready()
    created(core, "r1")
    core.receive(
        {
            "type": "response.output_item.added",
            "response_id": "r1",
            "item": {"type": "function_call", "call_id": "c1", "name": "q"},
        },
        0.5,
    )
    actions = done(core, "r1")  # completed, but neither arguments.done nor the item in output
    [out] = [e for e in sends(actions) if e["type"] == "conversation.item.create"]
    assert json.loads(out["item"]["output"])["error"]["code"] == "INVALID_ARGUMENT"
    assert of(actions, RunTool) == []


def test_session_update_carries_profile_options() -> None:
    from dataclasses import replace

    from centralita.profiles import TurnDetection

    profile = replace(
        PROFILE,
        voice="marin",
        transcription_model="gpt-4o-mini-transcribe",
        turn_detection=TurnDetection(type="server_vad", threshold=0.5, silence_duration_ms=500, idle_timeout_ms=8000),
    )
    tool = {"type": "function", "name": "q", "description": "d", "parameters": {"type": "object"}}
    core = RealtimeProtocol(profile, TOOLS, [tool])
    [update] = sends(core.receive({"type": "session.created", "session": {}}, 0.0))
    session = update["session"]
    assert session["audio"]["input"]["transcription"] == {"model": "gpt-4o-mini-transcribe"}
    assert session["audio"]["input"]["turn_detection"]["idle_timeout_ms"] == 8000
    assert session["audio"]["input"]["turn_detection"]["threshold"] == 0.5
    assert session["audio"]["output"]["voice"] == "marin" and session["tools"] == [tool]
    assert set(session) == {"type", "output_modalities", "instructions", "audio", "tools", "tool_choice"}
    assert sends(core.receive({"type": "session.created", "session": {}}, 0.1)) == []  # configured once
