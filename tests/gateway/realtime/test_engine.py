"""Scripted conversations against the fake Realtime server (a real WebSocket on loopback)."""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from types import SimpleNamespace

import pytest

from call_gateway.realtime import RealtimeEngine, RealtimeError, RealtimeSettings
from centralita_fixtures.fake_realtime import FakeConnection, FakeRealtimeServer
from centralita_fixtures.realtime_fakes import Behaviour, FakeDispatcher, FakeSink
from centralita_fixtures.realtime_rig import PROFILE, SPECS, settings_for
from tests.helpers import free_port

GREETING_AUDIO = bytes(range(256)) * 5  # 1280 bytes = 160 ms of u-law


def _greet(conn: FakeConnection, audio: bytes = GREETING_AUDIO) -> tuple[str, str]:
    conn.handshake()
    request = conn.expect("response.create")
    return conn.speak(request, audio)


def _outputs(conn: FakeConnection) -> dict[str, dict]:
    return {e["item"]["call_id"]: json.loads(e["item"]["output"]) for e in conn.of_type("conversation.item.create")}


def _clean(conn: FakeConnection) -> None:
    assert conn.invalid == []
    assert conn.violations == []


def test_handshake_session_update_and_greeting(make_call) -> None:
    def script(conn: FakeConnection) -> None:
        _greet(conn)
        conn.wait_until(lambda: len(conn.of_type("input_audio_buffer.append")) >= 3, what="caller audio")

    call = make_call(script)
    call.engine.send_caller_audio(b"\x7f" * 160)
    call.engine.send_caller_audio(b"\x00" * 160)
    call.engine.send_caller_audio(b"\xff" * 160)
    conn = call.settle()

    assert conn.path.startswith("/v1/realtime?")
    assert conn.query == {"model": "gpt-realtime-test"}
    assert conn.headers["Authorization"] == f"Bearer {call.engine.settings.api_key}"
    assert not any(k.lower() in ("openai-beta", "origin") for k in conn.headers)

    update = conn.of_type("session.update")[0]["session"]
    assert update["type"] == "realtime"
    assert update["instructions"] == PROFILE.instructions
    assert update["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    assert update["audio"]["output"] == {"format": {"type": "audio/pcmu"}, "voice": "verse"}
    assert update["audio"]["input"]["turn_detection"] == {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
        "create_response": True,
        "interrupt_response": False,
    }
    assert update["tool_choice"] == "auto"
    names = [t["name"] for t in update["tools"]]
    assert names == ["consultar_mikrotik", "lento", "otra", "terminar_llamada"]  # allow-list applied
    assert all(t["type"] == "function" and "parameters" in t and "function" not in t for t in update["tools"])

    greeting = conn.of_type("response.create")[0]["response"]
    assert PROFILE.greeting in greeting["instructions"] and PROFILE.instructions in greeting["instructions"]
    assert greeting.get("conversation", "auto") == "auto"  # in the conversation: the model knows it greeted

    item = next(iter(call.sink.received))
    assert call.sink.received_ms(item) == len(GREETING_AUDIO) // 8
    appended = [base64.b64decode(e["audio"]) for e in conn.of_type("input_audio_buffer.append")]
    assert appended == [b"\x7f" * 160, b"\x00" * 160, b"\xff" * 160]
    assert call.engine.metrics.audio_chunks_in == 3
    assert call.engine.metrics.audio_chunks_out == 2  # 160 ms in 100 ms chunks
    _clean(conn)
    call.engine.close()
    assert call.ends == []  # a hangup from our side is not an end "by itself"


def test_function_call_round_trip(make_call) -> None:
    def answer(args: dict) -> dict:
        return {"answer": f"221 clientes para {args['question']}"}

    def script(conn: FakeConnection) -> None:
        _greet(conn)
        conn.function_calls(None, [("call_1", "consultar_mikrotik", '{"question": "clientes en router-146"}')])
        follow = conn.expect("response.create")
        conn.speak(follow, b"\x10" * 800)

    call = make_call(script, behaviours={"consultar_mikrotik": Behaviour(answer=answer, delay=0.05)})
    conn = call.settle()
    assert _outputs(conn) == {"call_1": {"answer": "221 clientes para clientes en router-146"}}
    sent = call.dispatcher.submitted
    assert [(s.name, json.loads(s.arguments), s.timeout) for s in sent] == [
        ("consultar_mikrotik", {"question": "clientes en router-146"}, 2.0)
    ]
    types = conn.types()
    # output before the follow-up, which comes after response.done: greeting + follow-up = 2 response.create
    assert types.count("response.create") == 2
    assert types.index("conversation.item.create") < len(types) - 1 - types[::-1].index("response.create")
    follow = conn.of_type("response.create")[1]["response"]
    assert "instructions" not in follow  # no failure: the session instructions apply
    assert call.engine.metrics.function_calls == 1
    assert call.engine.metrics.dropped_events == 0  # every GA event the fake sent was understood or known
    assert conn.server_invalid == []
    _clean(conn)


def test_two_parallel_calls_in_one_response(make_call) -> None:
    def script(conn: FakeConnection) -> None:
        _greet(conn)
        conn.function_calls(
            None,
            [("call_a", "consultar_mikrotik", '{"question": "router 1"}'), ("call_b", "otra", '{"query": "router 2"}')],
        )
        follow = conn.expect("response.create")
        conn.speak(follow, b"\x10" * 800)

    slow = {
        "consultar_mikrotik": Behaviour(answer=lambda a: {"r": 1}, delay=0.25),
        "otra": Behaviour(answer=lambda a: {"r": 2}, delay=0.25),
    }
    call = make_call(script, behaviours=slow, holding_delay=5.0)
    conn = call.settle()
    assert _outputs(conn) == {"call_a": {"r": 1}, "call_b": {"r": 2}}
    # parallel: the second call was submitted before the first one finished
    first_finished = min(t for _, t in call.dispatcher.finished)
    assert max(s.at for s in call.dispatcher.submitted) < first_finished
    outputs = conn.of_type("conversation.item.create")
    follow = conn.of_type("response.create")[1]
    assert len(conn.of_type("response.create")) == 2  # ONE follow-up for both calls
    assert follow["_at"] >= max(o["_at"] for o in outputs)
    _clean(conn)


def test_hanging_tool_gets_holding_phrase_then_timeout_apology(make_call) -> None:
    marks: dict[str, float] = {}

    def script(conn: FakeConnection) -> None:
        _greet(conn)
        rid = conn.function_calls(None, [("call_slow", "lento", '{"question": "todo"}')])
        marks["done"] = time.monotonic()
        holding = conn.expect("response.create", timeout=3)
        marks["holding"] = holding["_at"]
        assert holding["response"]["conversation"] == "none" and holding["response"]["input"] == []
        conn.speak(holding, b"\x20" * 400)
        output = conn.expect("conversation.item.create", timeout=3)
        marks["output"] = output["_at"]
        apology = conn.expect("response.create", timeout=3)
        marks["apology"] = apology["_at"]
        conn.speak(apology, b"\x30" * 400)
        assert rid

    # lento: timeout_ms 800 in its spec; it would take 5 s
    call = make_call(script, behaviours={"lento": Behaviour(delay=5.0)}, sink=FakeSink(auto=True))
    conn = call.settle(timeout=10)
    holding = conn.of_type("response.create")[1]["response"]
    assert PROFILE.holding_phrase in holding["instructions"]  # the tool has no phrase: the profile's
    assert holding["output_modalities"] == ["audio"]
    assert 0.25 <= marks["holding"] - marks["done"] < 0.7  # holding_delay = 0.3 s
    error = _outputs(conn)["call_slow"]["error"]
    assert error["code"] == "DEADLINE_EXCEEDED"
    assert 0.7 <= marks["output"] - marks["done"] < 2.0  # the tool's own 800 ms deadline (not the 2 s default)
    final = conn.of_type("response.create")[2]["response"]
    assert error["say"] in final["instructions"]  # the caller hears the apology
    assert final.get("conversation", "auto") == "auto"
    assert call.engine.metrics.holding_phrases == 1
    _clean(conn)  # includes: never two responses in flight


def test_holding_phrase_waits_for_the_active_response(make_call) -> None:
    """The tool is slow while its own response is still speaking: no second response in flight."""

    def script(conn: FakeConnection) -> None:
        _greet(conn)
        conn.function_calls(
            None, [("call_1", "consultar_mikrotik", '{"question": "x"}')], before_done=lambda: time.sleep(0.6)
        )  # response still active past holding_delay
        holding = conn.expect("response.create", timeout=3)
        conn.speak(holding, b"\x20" * 400)
        final = conn.expect("response.create", timeout=3)
        conn.speak(final, b"\x30" * 400)

    call = make_call(script, behaviours={"consultar_mikrotik": Behaviour(delay=1.0)}, sink=FakeSink(auto=True))
    conn = call.settle(timeout=10)
    holding, final = conn.of_type("response.create")[1:3]
    assert "Un momento, consulto los equipos." in holding["response"]["instructions"]  # the tool's phrase
    assert final["_at"] > conn.of_type("conversation.item.create")[0]["_at"]
    _clean(conn)


def test_invalid_arguments_and_unknown_tool(make_call) -> None:
    def script(conn: FakeConnection) -> None:
        _greet(conn)
        conn.function_calls(
            None,
            [("call_bad", "consultar_mikrotik", '{"question": '), ("call_ghost", "no_permitida", '{"question": "x"}')],
        )
        follow = conn.expect("response.create")
        conn.speak(follow, b"\x10" * 400)

    call = make_call(script)
    conn = call.settle()
    outputs = _outputs(conn)
    assert outputs["call_bad"]["error"]["code"] == "INVALID_ARGUMENT"
    assert outputs["call_ghost"]["error"]["code"] == "UNKNOWN_TOOL"  # not in the profile's allow-list
    assert [s.name for s in call.dispatcher.submitted] == ["consultar_mikrotik"]  # the ghost never reached it
    assert len(conn.of_type("response.create")) == 2
    assert len(conn.of_type("conversation.item.create")) == 2
    _clean(conn)


# ---------------------------------------------------------------- barge-in


def _speaking(conn: FakeConnection, box: list, ms: int = 2000) -> tuple[str, str]:
    """Handshake, then the greeting response streams ``ms`` of audio and stays active."""
    conn.handshake()
    request = conn.expect("response.create")
    rid = conn.response_created(request)
    iid = conn.audio_item(rid, b"\x55" * (ms * 8))
    conn.wait_until(lambda: bool(box), what="the test's call object")
    sink: FakeSink = box[0].sink
    conn.wait_until(lambda: sink.received_ms(iid) == ms, what="audio in the sink")
    return rid, iid


def test_barge_in_during_audio_truncates_at_the_ms_actually_played(make_call) -> None:
    box: list = []
    seen: dict = {}

    def script(conn: FakeConnection) -> None:
        rid, iid = _speaking(conn, box)
        box[0].sink.advance(640)  # the caller heard 640 ms
        conn.speech_started()
        seen["truncate"] = conn.expect("conversation.item.truncate")
        seen["cancel"] = conn.expect("response.cancel")
        conn.audio_item(rid, b"\x66" * 800, item_id=iid)  # late audio of the interrupted response
        conn.response_done(rid, status="cancelled", reason="turn_detected")
        seen.update(rid=rid, iid=iid)

    call = make_call(script)
    box.append(call)
    conn = call.settle()
    truncate = seen["truncate"]
    assert truncate["item_id"] == seen["iid"] and truncate["content_index"] == 0
    assert truncate["audio_end_ms"] == 640 == call.sink.played_ms(seen["iid"])
    assert seen["cancel"]["response_id"] == seen["rid"]
    assert call.sink.pending_ms() == 0 and call.sink.clears == 1
    assert call.sink.dropped_bytes == (2000 - 640) * 8
    assert call.sink.received_ms(seen["iid"]) == 2000  # the late delta never reached the sink
    assert call.engine.metrics.barge_ins == 1 and call.engine.metrics.truncates == 1
    assert len(call.engine.timings.barge_in) == 1
    _clean(conn)


def test_barge_in_after_response_done_truncates_without_cancel(make_call) -> None:
    box: list = []

    def script(conn: FakeConnection) -> None:
        rid, _ = _speaking(conn, box, ms=1000)
        conn.response_done(rid)
        box[0].sink.advance(300)
        conn.speech_started()
        conn.expect("conversation.item.truncate")
        time.sleep(0.1)  # would a response.cancel follow?

    call = make_call(script)
    box.append(call)
    conn = call.settle()
    assert [e["audio_end_ms"] for e in conn.of_type("conversation.item.truncate")] == [300]
    assert conn.of_type("response.cancel") == []  # nothing active: no cancel
    _clean(conn)


def test_barge_in_before_any_audio_sends_no_truncate(make_call) -> None:
    def script(conn: FakeConnection) -> None:
        conn.handshake()
        request = conn.expect("response.create")
        rid = conn.response_created(request)
        conn.speech_started()
        conn.expect("response.cancel")
        conn.response_done(rid, status="cancelled", reason="turn_detected")
        time.sleep(0.1)

    call = make_call(script)
    conn = call.settle()
    assert conn.of_type("conversation.item.truncate") == []
    assert call.sink.clears == 1  # the sink is emptied anyway
    _clean(conn)


def test_barge_in_over_a_running_query_keeps_its_result_and_never_runs_the_action(make_call) -> None:
    """Issue 14 point 3: the caller talks over a response whose query is running. The action of that
    cancelled response never runs (CANCELLED), the query's real result is still delivered, once."""

    def script(conn: FakeConnection) -> None:
        conn.handshake()
        conn.speak(conn.expect("response.create"), b"\x10" * 400)
        uid = None

        def interrupt() -> None:
            nonlocal uid
            uid = conn.speech_started()

        conn.function_calls(
            None,
            [("call_q", "consultar_mikrotik", '{"question": "x"}'), ("call_end", "terminar_llamada", "{}")],
            status="cancelled",
            before_done=interrupt,
        )
        conn.expect("conversation.item.create")
        conn.expect("conversation.item.create", timeout=3)  # the query's result, while the caller talks
        conn.speech_stopped(uid)
        time.sleep(0.3)

    call = make_call(script, behaviours={"consultar_mikrotik": Behaviour(delay=0.2)})
    conn = call.settle()
    outputs = _outputs(conn)
    assert "error" not in outputs["call_q"]  # the real result, not CANCELLED
    assert outputs["call_end"]["error"]["code"] == "CANCELLED"
    assert [s.name for s in call.dispatcher.submitted] == ["consultar_mikrotik"]  # the action never ran
    assert len(conn.of_type("conversation.item.create")) == 2  # one output per call_id
    assert len(conn.of_type("response.create")) == 1  # only the greeting: VAD answers the caller's turn
    _clean(conn)


def test_action_runs_once_its_response_completed(make_call) -> None:
    def script(conn: FakeConnection) -> None:
        conn.handshake()
        conn.speak(conn.expect("response.create"), b"\x10" * 400)
        conn.function_calls(None, [("call_end", "terminar_llamada", "{}")], before_done=lambda: time.sleep(0.2))
        conn.speak(conn.expect("response.create"), b"\x10" * 400)

    call = make_call(script)
    conn = call.settle()
    assert _outputs(conn) == {"call_end": {"answer": "ok"}}
    done_at = conn.of_type("conversation.item.create")[0]["_at"]
    submitted = call.dispatcher.submitted[0].at
    assert submitted >= done_at - 0.15  # not at arguments.done, 0.2 s earlier, but after response.done
    _clean(conn)


# ---------------------------------------------------------------- the session ends by itself


def test_server_error_apologises_then_ends(make_call) -> None:
    def script(conn: FakeConnection) -> None:
        _greet(conn)
        conn.error("server_error", message="The server had an error while processing your request.")
        apology = conn.expect("response.create")
        conn.speak(apology, b"\x44" * 800)

    call = make_call(script)
    conn = call.settle()
    assert call.ended.wait(3)
    assert call.ends == ["server_error"]
    apology = conn.of_type("response.create")[1]["response"]
    assert PROFILE.end_apology in apology["instructions"] and apology["conversation"] == "none"
    assert sum(call.sink.received.values()) == len(GREETING_AUDIO) + 800
    assert conn.closed.wait(2)  # the gateway hung up the socket
    call.engine.close()
    assert call.ends == ["server_error"]  # once
    assert call.engine.metrics.end_reason == "server_error" and call.engine.metrics.server_errors == 1
    _clean(conn)


def test_non_fatal_error_is_logged_and_the_call_goes_on(make_call) -> None:
    def script(conn: FakeConnection) -> None:
        _greet(conn)
        conn.error("invalid_request_error", code="invalid_value", message="Invalid value for 'x'.")
        conn.function_calls(None, [("call_1", "otra", '{"query": "x"}')])
        conn.speak(conn.expect("response.create"), b"\x10" * 400)

    call = make_call(script)
    conn = call.settle()
    assert not call.ended.wait(0.2)
    assert "call_1" in _outputs(conn)
    _clean(conn)


def test_socket_dropped_mid_call_ends_cleanly(make_call) -> None:
    def script(conn: FakeConnection) -> None:
        _greet(conn)
        conn.function_calls(None, [("call_1", "consultar_mikrotik", '{"question": "x"}')])
        conn.drop()

    call = make_call(script, behaviours={"consultar_mikrotik": Behaviour(delay=0.3)})
    call.server.wait()
    assert call.ended.wait(3)
    assert call.ends == ["connection_lost"]
    time.sleep(0.4)  # the tool finishes after the drop: nothing may blow up or end twice
    call.engine.close()
    call.engine.close()
    assert call.ends == ["connection_lost"]
    assert not any(t.is_alive() for t in call.engine.connection.threads)
    assert call.engine.metrics.end_reason == "connection_lost"


def test_session_limit_ends_with_an_apology(make_call) -> None:
    def script(conn: FakeConnection) -> None:
        _greet(conn)
        apology = conn.expect("response.create", timeout=3)
        conn.speak(apology, b"\x44" * 400)

    call = make_call(script, session_limit=1.0, session_margin=0.5, renew=False)
    started = time.monotonic()
    conn = call.settle()
    assert call.ended.wait(3)
    assert call.ends == ["session_limit"]
    assert 0.3 <= conn.of_type("response.create")[1]["_at"] - started < 1.0
    assert PROFILE.end_apology in conn.of_type("response.create")[1]["response"]["instructions"]
    _clean(conn)


# ---------------------------------------------------------------- start failures


def test_wrong_key_raises_and_never_logs_the_key(caplog, make_call) -> None:
    caplog.set_level("DEBUG")
    with FakeRealtimeServer(lambda conn: None, api_key="sk-the-right-key-000000") as server:
        ends: list[str] = []
        engine = engine_for(server, ends, api_key="sk-wrong-key-1234567890")
        with pytest.raises(RealtimeError, match="invalid_api_key"):
            engine.start()
        engine.close()
    assert ends == []
    ours = [r for r in caplog.records if not r.name.startswith("websockets.")]  # not the fake server's own log
    assert any("start_failed" in r.getMessage() for r in ours)
    assert not any("sk-wrong-key-1234567890" in r.getMessage() for r in ours)


@pytest.mark.parametrize("status", [401, 503])
def test_handshake_refused_with_http_status(status, caplog) -> None:
    caplog.set_level("DEBUG", logger="call_gateway")
    with FakeRealtimeServer(lambda conn: None, http_status=status) as server:
        ends: list[str] = []
        engine = engine_for(server, ends, api_key="sk-secret-key-abcdef123456")
        with pytest.raises(RealtimeError, match=str(status)) as info:
            engine.start()
        engine.close()
    assert "sk-secret-key-abcdef123456" not in str(info.value) and "sk-secret-key" not in caplog.text
    assert ends == [] and engine.metrics.end_reason == "start_failed"


def test_no_session_created_times_out() -> None:
    with FakeRealtimeServer(lambda conn: time.sleep(1.0)) as server:
        ends: list[str] = []
        engine = engine_for(server, ends, connect_timeout=0.4)
        started = time.monotonic()
        with pytest.raises(RealtimeError, match="timed out"):
            engine.start()
        assert time.monotonic() - started < 1.5
        engine.close()
    assert ends == []


def test_connection_refused_raises() -> None:
    nobody = SimpleNamespace(url=f"ws://127.0.0.1:{free_port()}/v1/realtime")  # nothing listens there
    ends: list[str] = []
    engine = engine_for(nobody, ends, connect_timeout=1.0)
    with pytest.raises(RealtimeError, match="cannot start"):
        engine.start()
    engine.close()
    assert ends == []


def engine_for(server: FakeRealtimeServer, ends: list[str], **overrides):
    return RealtimeEngine(
        profile=PROFILE,
        dispatcher=FakeDispatcher(list(SPECS)),
        sink=FakeSink(auto=True),
        settings=settings_for(server, **overrides),
        on_end=ends.append,
        call_id="t",
    )


def test_metrics_logged_once_at_the_end_and_exported(caplog, make_call) -> None:
    from prometheus_client import REGISTRY

    def count(code: str) -> float:
        return (
            REGISTRY.get_sample_value(
                "centralita_gateway_realtime_function_calls_total", {"tool": "otra", "code": code}
            )
            or 0.0
        )

    before = count("OK")

    def script(conn: FakeConnection) -> None:
        _greet(conn)
        uid = conn.speech_started()
        conn.speech_stopped(uid)
        conn.function_calls(None, [("call_1", "otra", '{"query": "x"}')])
        conn.speak(conn.expect("response.create"), b"\x10" * 400)

    caplog.set_level("INFO", logger="call_gateway")
    call = make_call(script, sink=FakeSink(auto=True))
    call.settle()
    call.engine.close()
    call.engine.close()
    messages = [r.getMessage() for r in caplog.records if r.name == "call_gateway.realtime"]
    lines = [m for m in messages if " ended (" in m]
    assert len(lines) == 1
    line = lines[0]
    assert "call test-call ended (hangup)" in line and "function_calls=1" in line and "turns=1" in line
    assert "audio_chunks_out=" in line and "duration=" in line
    assert count("OK") == before + 1
    assert len(call.engine.metrics.turn_latencies_ms) == 1


def test_settings_from_env(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_REALTIME_URL", "ws://127.0.0.1:1/v1/realtime")
    monkeypatch.setenv("OPENAI_REALTIME_MODEL", "gpt-realtime-2.1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-key-000000000")
    monkeypatch.setenv("REALTIME_HOLDING_DELAY", "2.5")
    settings = RealtimeSettings.from_env()
    assert settings.endpoint() == "ws://127.0.0.1:1/v1/realtime?model=gpt-realtime-2.1"
    assert settings.holding_delay == 2.5 and settings.api_key == "sk-env-key-000000000"
    assert "sk-env-key" not in repr(settings)


def test_server_closing_the_socket_cleanly_ends_the_call(make_call) -> None:
    def script(conn: FakeConnection) -> None:
        _greet(conn)
        conn.close(1001, "Your session hit the maximum duration of 60 minutes.")

    call = make_call(script)
    assert call.ended.wait(3)
    assert call.ends == ["connection_lost"]  # well before the configured 60 minutes
    call.engine.send_caller_audio(b"\x00" * 160)  # after the end: dropped, no error
    assert call.engine.metrics.audio_chunks_in == 0


def test_session_renewed_before_the_limit_without_dropping_the_call(make_call) -> None:
    box: list = []

    def script(conn: FakeConnection) -> None:
        conn.wait_until(lambda: bool(box), what="the call object")
        if conn is box[0].server.connections[0]:
            rid, iid = _greet(conn)
            conn.send(
                {
                    "type": "response.output_audio_transcript.done",
                    "response_id": rid,
                    "item_id": iid,
                    "output_index": 0,
                    "content_index": 0,
                    "transcript": "Hola, ¿en qué puedo ayudarte?",
                }
            )
            conn.send(
                {
                    "type": "conversation.item.input_audio_transcription.completed",
                    "item_id": "u1",
                    "content_index": 0,
                    "transcript": "¿Cuántos clientes hay en el router principal?",
                    "usage": {"type": "duration", "seconds": 1.5},
                }
            )
            assert conn.closed.wait(4), "the gateway never left the old session"
            return
        update = conn.handshake()
        instructions = update["session"]["instructions"]
        assert instructions.startswith(PROFILE.instructions)
        assert "Asistente: Hola, ¿en qué puedo ayudarte?" in instructions
        assert "Cliente: ¿Cuántos clientes hay en el router principal?" in instructions
        conn.function_calls(None, [("call_after", "otra", '{"query": "x"}')])
        conn.speak(conn.expect("response.create"), b"\x10" * 400)

    call = make_call(script, start=False, session_limit=2.0, session_margin=1.5)  # renew 0.5 s in
    box.append(call)
    call.engine.start()
    first, second = call.server.wait_all(2, timeout=8)
    second.wait_until(lambda: call.engine.core.events_received >= second.sent_events, what="the gateway to settle")
    assert call.engine.metrics.renewals == 1 and call.ends == []
    assert first.closed.is_set()
    assert "call_after" in _outputs(second)
    assert [e["response"].get("metadata") for e in second.of_type("response.create")] == [{"centralita": "tools"}]
    call.engine.send_caller_audio(b"\x00" * 160)
    second.wait_until(lambda: len(second.of_type("input_audio_buffer.append")) == 1, what="audio on the new socket")
    _clean(first)
    _clean(second)


def test_failed_renewal_ends_with_an_apology_at_the_limit(make_call) -> None:
    seen: list[FakeConnection] = []

    def script(conn: FakeConnection) -> None:
        seen.append(conn)
        if len(seen) > 1:
            time.sleep(1.5)  # the renewal connection never gets session.created
            return
        _greet(conn)
        apology = conn.expect("response.create", timeout=4)
        conn.speak(apology, b"\x44" * 400)

    call = make_call(script, session_limit=2.0, session_margin=1.5, connect_timeout=0.5)
    assert call.ended.wait(5)
    assert call.ends == ["session_limit"] and call.engine.metrics.renewals == 0
    assert len(seen) == 2  # a renewal was attempted
    apology = seen[0].of_type("response.create")[1]["response"]
    assert PROFILE.end_apology in apology["instructions"]
    _clean(seen[0])


def test_no_holding_phrase_over_audio_still_playing(make_call) -> None:
    box: list = []

    def script(conn: FakeConnection) -> None:
        conn.wait_until(lambda: bool(box), what="the call object")
        _greet(conn, audio=b"\x10" * 8000)  # 1 s the caller has not heard yet (manual sink clock)
        conn.function_calls(None, [("call_1", "consultar_mikrotik", '{"question": "x"}')])
        time.sleep(0.6)  # past holding_delay (0.3 s), but the sink still holds the greeting
        assert conn.of_type("response.create")[1:] == []
        box[0].sink.advance(1000)
        conn.expect("response.create", timeout=2)  # now the dead air gets its phrase

    call = make_call(script, start=False, behaviours={"consultar_mikrotik": Behaviour(delay=1.5)})
    box.append(call)
    call.engine.start()
    conn = call.settle(timeout=6)
    assert conn.of_type("response.create")[1]["response"]["metadata"] == {"centralita": "holding"}


def test_malformed_server_events_cost_the_event_not_the_call(make_call) -> None:
    def script(conn: FakeConnection) -> None:
        _greet(conn)
        conn.ws.send(json.dumps({"type": "response.done", "response": {"id": 5, "output": "zzz"}}))  # nonsense
        conn.ws.send(json.dumps({"type": "response.created", "response": "nope"}))
        conn.ws.send("{not json")
        conn.ws.send("[1, 2]")
        conn.function_calls(None, [("call_1", "otra", '{"query": "x"}')])
        conn.speak(conn.expect("response.create"), b"\x10" * 400)

    call = make_call(script)
    conn = call.server.wait()
    conn.wait_until(lambda: call.engine.metrics.function_calls == 1, what="the call to go on")
    assert "call_1" in _outputs(conn) and call.ends == []
    assert call.engine.metrics.dropped_events >= 3
    _clean(conn)


def test_tools_missing_from_the_catalog_are_reported(caplog) -> None:
    caplog.set_level("WARNING", logger="call_gateway")
    profile = dataclasses.replace(PROFILE, tools=("consultar_mikrotik", "search_content"))
    server = SimpleNamespace(url="ws://127.0.0.1:9/v1/realtime")
    engine = RealtimeEngine(
        profile=profile,
        dispatcher=FakeDispatcher(list(SPECS)),
        sink=FakeSink(),
        settings=settings_for(server),
        on_end=lambda r: None,
    )
    assert [t["name"] for t in engine.core.tool_schemas] == ["consultar_mikrotik"]
    assert "allows tools no tool service offers now: search_content" in caplog.text
    engine.close()
