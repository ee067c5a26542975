"""Full calls: fake Asterisk (ARI + RTP) → gateway → real RealtimeEngine → fake Realtime server, with
the live tool services behind the real dispatcher. What the caller hears is what the fake RTP peer got."""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from dataclasses import replace

import pytest

from call_gateway.prompts import PromptLibrary
from call_gateway.realtime import RealtimeEngine, RealtimeSettings
from centralita.profiles import Profile
from centralita_fixtures.fake_realtime import API_KEY, FakeConnection, FakeRealtimeServer
from tests.gateway.e2e.harness import assert_call_left_nothing, make_gateway, profile_book, wait_for

GREETING = bytes(range(0, 250)) * 16  # 4000 bytes = 500 ms
LONG_GREETING = GREETING * 8  # 4 s
ANSWER = bytes([0x55]) * 4800  # 600 ms
LONG = bytes([0x66]) * 8 * 5000  # 5 s
MIXED = Profile(
    name="mixto",
    instructions="Pruebas de extremo a extremo.",
    tools=("consultar_mikrotik", "search_content"),
    greeting="Hola.",
)


class Rig:
    def __init__(self, fake, tool_services, script):
        self.fake = fake
        self.server = FakeRealtimeServer(script, script_timeout=15).__enter__()
        self.settings = RealtimeSettings(
            url=self.server.url,
            model="gpt-realtime-test",
            api_key=API_KEY,
            connect_timeout=3.0,
            holding_delay=3.0,
            tool_timeout=5.0,
            ending_grace=1.0,
            drain_timeout=1.0,
            barge_in_gate_ms=0,
        )  # scripted speech events, no voice on the line
        self.sessions: list[RealtimeEngine] = []

        def make(*, profile, sink, on_end, call_id):
            s = RealtimeEngine(
                profile=profile,
                dispatcher=tool_services,
                sink=sink,
                settings=self.settings,
                on_end=on_end,
                call_id=call_id,
            )
            self.sessions.append(s)
            return s

        self.gw = make_gateway(fake, make)
        book = profile_book()
        self.gw.profiles = replace(
            book, profiles={**book.profiles, "mixto": MIXED}, numbers={**book.numbers, "300": "mixto"}
        )

    def call(self, exten="300"):
        cid = self.fake.new_call(exten)
        wait_for(lambda: cid in self.gw.calls and self.gw.calls[cid].state == "active", 8, "call active")
        return cid, self.gw.calls[cid]

    def close(self):
        self.gw.shutdown(grace=0)
        self.server.stop()

    def check_clean(self, conn: FakeConnection):
        assert conn.invalid == [], "client events the openai SDK types reject"
        assert conn.violations == [], "Realtime protocol rules broken"


@pytest.fixture
def rig_factory(fake_asterisk, tool_services):
    made = []

    def make(script):
        rig = Rig(fake_asterisk, tool_services, script)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        rig.close()


def received_from(leg, byte_value: int) -> int:
    return sum(1 for r in leg.received if r.payload[:1] == bytes([byte_value]))


def test_greeting_heard_then_a_question_runs_consultar_mikrotik_and_search_content(rig_factory):
    said = threading.Event()

    def script(conn: FakeConnection):
        conn.handshake()
        conn.speak(conn.expect("response.create"), GREETING)
        said.wait(5)
        conn.wait_until(
            lambda: any(
                base64.b64decode(e["audio"]).count(b"\x42") >= 160 for e in conn.of_type("input_audio_buffer.append")
            ),
            5,
            "caller's question",
        )
        iid = conn.speech_started(500)
        conn.speech_stopped(iid, 1500)
        conn.function_calls(
            None,
            [
                (
                    "call_m",
                    "consultar_mikrotik",
                    json.dumps({"question": "¿Cuántos clientes activos hay en router-146?"}),
                ),
                ("call_s", "search_content", json.dumps({"query": "estacionamiento medido"})),
            ],
        )
        conn.speak(conn.expect("response.create", timeout=10), ANSWER)

    rig = rig_factory(script)
    cid, call = rig.call("300")
    leg = rig.fake.leg_for_caller(cid)
    wait_for(lambda: len(leg.payload_bytes()) >= len(GREETING), 5, "greeting heard")
    assert leg.payload_bytes()[: len(GREETING)] == GREETING
    leg.say(b"\x42" * 1600)  # the caller asks (200 ms)
    said.set()
    wait_for(lambda: received_from(leg, 0x55) >= len(ANSWER) // 160, 10, "answer heard")
    conn = rig.server.wait(10)
    outputs = {e["item"]["call_id"]: json.loads(e["item"]["output"]) for e in conn.of_type("conversation.item.create")}
    assert "221" in json.dumps(outputs["call_m"], ensure_ascii=False)  # the simulator's router-146 figure
    assert "total_hits" in outputs["call_s"] and "results" in outputs["call_s"]
    update = conn.of_type("session.update")[0]["session"]
    assert [t["name"] for t in update["tools"]] == ["consultar_mikrotik", "search_content"]
    rig.check_clean(conn)
    # pacing of what the caller heard: one packet per 20 ms, seq +1, ts +160
    pk = [r for r in leg.received if r.payload[:1] == b"\x55"]
    gaps = [(b.kt - a.kt) * 1000 for a, b in itertools.pairwise(pk)]  # kernel receive times
    assert max(gaps) < 30 and 18 < sum(gaps) / len(gaps) < 22
    assert all((b.seq - a.seq) % 65536 == 1 and (b.ts - a.ts) % 2**32 == 160 for a, b in itertools.pairwise(pk))
    rig.fake.caller_hangup(cid)
    assert_call_left_nothing(rig.fake, rig.gw, [call.call_id])


def test_barge_in_drops_queued_audio_at_once_and_truncates_at_what_was_played(rig_factory):
    marks = {}

    def script(conn: FakeConnection):
        conn.handshake()
        conn.speak(conn.expect("response.create"), GREETING)
        rid = conn.response_created()
        iid = conn.audio_item(rid, LONG, chunk_ms=500)  # 5 s sent far faster than real time
        marks["iid"] = iid
        time.sleep(1.2)  # ~0.7 s of it has been played
        marks["t"] = time.time()  # wall clock, like the kernel timestamps
        conn.speech_started(3000)
        marks["truncate"] = conn.expect("conversation.item.truncate", timeout=3)
        conn.response_done(rid, status="cancelled")

    rig = rig_factory(script)
    cid, call = rig.call("100")
    leg = rig.fake.leg_for_caller(cid)
    conn = rig.server.wait(10)
    time.sleep(0.1)
    after = [r for r in leg.received if r.payload[:1] == b"\x66" and r.kt > marks["t"] + 0.045]
    assert after == [], f"{len(after)} packets of the interrupted item after barge-in"
    heard_ms = received_from(leg, 0x66) * 20
    assert 400 <= heard_ms <= 1200
    truncate = marks["truncate"]
    assert truncate["item_id"] == marks["iid"]
    assert abs(truncate["audio_end_ms"] - heard_ms) <= 20  # what the caller actually heard
    assert call.endpoint.pending_ms() == 0
    rig.check_clean(conn)
    rig.fake.caller_hangup(cid)
    assert_call_left_nothing(rig.fake, rig.gw, [call.call_id])


def test_realtime_drop_mid_call_the_caller_hears_the_apology_prompt_then_the_hangup(rig_factory):
    """Point 5 of issue 14: the Realtime connection is lost → the phone gets the shipped Spanish
    apology's exact bytes through the call's RTP path, then the gateway hangs up and cleans up."""

    def script(conn: FakeConnection):
        conn.handshake()
        conn.speak(conn.expect("response.create"), LONG_GREETING)
        time.sleep(0.3)
        conn.drop()

    prompt = PromptLibrary.load().generic  # profile "mixto" keeps the default text
    rig = rig_factory(script)
    cid, call = rig.call("300")
    leg = rig.fake.leg_for_caller(cid)
    wait_for(lambda: rig.fake.hung_up.get(cid) == "ari", prompt.duration + 8, "gateway hangs up the caller")
    assert_call_left_nothing(rig.fake, rig.gw, [call.call_id])
    assert call.outcome == "realtime_connection_lost"
    assert rig.fake.plays == [], "asked Asterisk to play a sound (a stock Asterisk has no Spanish apology)"
    heard = leg.payload_bytes()
    first = heard.find(prompt.audio[:160])
    assert first >= 0, "the apology never reached the phone"
    padded = prompt.audio + b"\xff" * ((-len(prompt.audio)) % 160)
    assert heard[first:] == padded, "the phone did not get the apology's exact bytes, in order"
    # the greeting (4 s, so a loaded machine is still playing it 0.3 s in) was cut at the drop and
    # the apology came right after
    assert 800 <= first < len(LONG_GREETING) and heard[:first] == LONG_GREETING[:first]
    hangups = [t for t, m, p in rig.fake.request_times if m == "DELETE" and p == f"/ari/channels/{cid}"]
    assert hangups and hangups[0] >= leg.received[-1].t, "hung up before the last apology packet went out"


def test_caller_hangup_mid_response_closes_the_realtime_socket(rig_factory):
    def script(conn: FakeConnection):
        conn.handshake()
        conn.speak(conn.expect("response.create"), GREETING)
        rid = conn.response_created()
        conn.audio_item(rid, LONG, chunk_ms=500)
        conn.closed.wait(8)

    rig = rig_factory(script)
    cid, call = rig.call("100")
    leg = rig.fake.leg_for_caller(cid)
    wait_for(lambda: received_from(leg, 0x66) >= 10, 5, "long answer playing")
    rig.fake.caller_hangup(cid)
    assert_call_left_nothing(rig.fake, rig.gw, [call.call_id])
    conn = rig.server.connection()
    assert conn.closed.wait(3), "the Realtime socket stays open after the caller left"
    assert call.outcome == "caller_hangup"


def test_ari_socket_drop_mid_call_survives_with_a_live_realtime_session(rig_factory):
    def script(conn: FakeConnection):
        conn.handshake()
        conn.speak(conn.expect("response.create"), GREETING)
        conn.wait_until(lambda: len(conn.of_type("input_audio_buffer.append")) >= 60, 8, "caller audio throughout")
        conn.speak(None, ANSWER)
        conn.closed.wait(8)

    rig = rig_factory(script)
    cid, call = rig.call("100")
    leg = rig.fake.leg_for_caller(cid)
    rig.fake.drop_event_sockets(refuse_for=0.7)
    wait_for(lambda: not rig.gw.events.connected, 3, "drop noticed")
    wait_for(lambda: rig.gw.events.connected, 6, "reconnected")
    wait_for(lambda: received_from(leg, 0x55) >= len(ANSWER) // 160, 8, "the conversation went on")
    assert call.state == "active"
    rig.fake.caller_hangup(cid)
    assert_call_left_nothing(rig.fake, rig.gw, [call.call_id])
    rig.check_clean(rig.server.connection())


def test_garbage_udp_never_reaches_the_model(rig_factory):
    import socket

    def script(conn: FakeConnection):
        conn.handshake()
        conn.speak(conn.expect("response.create"), GREETING)
        conn.closed.wait(8)

    rig = rig_factory(script)
    cid, call = rig.call("100")
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(100):
        stranger.sendto(bytes([0x80, 0, 0, i]) + b"\x13" * 200, ("127.0.0.1", call.endpoint.port))
    stranger.close()
    wait_for(lambda: sum(call.endpoint.dropped.values()) >= 100, 3, "garbage counted")
    conn = rig.server.connection()
    time.sleep(0.2)
    appended = b"".join(base64.b64decode(e["audio"]) for e in conn.of_type("input_audio_buffer.append"))
    assert b"\x13" * 20 not in appended and len(appended) >= 160
    rig.fake.caller_hangup(cid)
    assert_call_left_nothing(rig.fake, rig.gw, [call.call_id])
    rig.check_clean(conn)
