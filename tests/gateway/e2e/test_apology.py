"""The Realtime connection is lost mid-call: the model cannot apologise, so the gateway does.

Default (``prompt``): the caller hears the profile's shipped Spanish prompt through the call's own RTP
path (bridge and media channel kept until every byte was paced out), then the hangup. With an ARI
``sound:`` the gateway has Asterisk play it on the caller channel (bridge destroyed first) and hangs up
on its PlaybackFinished, the caller leaving, or ``apology_timeout``."""

from __future__ import annotations

import itertools
import logging
import threading
import time

import pytest

from call_gateway.prompts import PromptLibrary
from centralita.profiles import Profile, ProfileBook, load_profiles
from tests.gateway.e2e import scripted
from tests.gateway.e2e.harness import assert_call_left_nothing, make_gateway, wait_for
from tests.gateway.e2e.prompt_dirs import as_sent, pattern, write_prompt_dir
from tests.gateway.e2e.scripted import ScriptedSession

PLAYBACK_KEYS = {"id", "media_uri", "target_uri", "language", "state"}
SHORT_TEXT = "Disculpe, se cortó la comunicación con el asistente."
SHORT = pattern(1.5)  # a 1.5 s prompt for the tests that stop it early
RESPONSE = bytes([0x66]) * 8000  # 1 s of a model answer, interrupted by the drop


@pytest.fixture(autouse=True)
def _reset():
    ScriptedSession.instances.clear()


@pytest.fixture
def gateways(fake_asterisk):
    made = []

    def make(**overrides):
        gw = make_gateway(fake_asterisk, scripted.factory(), **overrides)
        made.append(gw)
        return gw

    yield make
    for gw in made:
        gw.shutdown(grace=0)


@pytest.fixture
def short_prompts(tmp_path):
    """A prompt directory whose generic apology is 1.5 s long (every harness profile gets it)."""
    return str(write_prompt_dir(tmp_path / "prompts", {SHORT_TEXT: SHORT}, SHORT_TEXT))


def active_call(gw, caller_id):
    wait_for(lambda: caller_id in gw.calls and gw.calls[caller_id].state == "active", 5, "call active")
    return gw.calls[caller_id]


def plays_to(fake, cid) -> list[dict]:
    with fake.lock:
        return [p for p in fake.plays if p["channel"] == cid]


def events_of(fake, etype: str, pred=lambda e: True) -> list[int]:
    with fake.lock:
        return [i for i, e in enumerate(fake.event_log) if e["type"] == etype and pred(e)]


def on_channel(cid):
    return lambda e: e.get("channel", {}).get("id") == cid


def request_time(fake, method, path) -> float:
    with fake.lock:
        times = [t for t, m, p in fake.request_times if m == method and p == path]
    assert len(times) == 1, (method, path, times)
    return times[0]


def drop_call(fake, gw, reason="connection_lost", exten="100"):
    """A call set up to active, then its Realtime session ends by itself with ``reason``."""
    cid = fake.new_call(exten)
    call = active_call(gw, cid)
    ScriptedSession.instances[-1].drop(reason)
    return cid, call


def apology_packets(leg, audio: bytes):
    """(before, apology): the apology begins with the packet carrying the prompt's first frame, which
    must open a new talk spurt (RTP marker: the drop cleared whatever the model was saying)."""
    received = list(leg.received)
    starts = [i for i, r in enumerate(received) if r.payload == audio[:160]]
    assert starts, "the prompt's first frame never reached the phone"
    assert received[starts[0]].marker, "the apology does not start a new talk spurt"
    return received[: starts[0]], received[starts[0] :]


def heard(leg, audio: bytes) -> int:
    """How many of the prompt's frames reached the phone so far."""
    frames = {audio[i : i + 160] for i in range(0, len(audio) - 159, 160)}
    return sum(1 for r in list(leg.received) if r.payload in frames)


LONG = pattern(6.0)


# ------------------------------------------------------------------------------ prompt over RTP
@pytest.mark.parametrize("exten, profile_name", [("3241000753", "informacion_legal"), ("3241000752", "soporte_isp")])
def test_drop_mid_answer_the_caller_hears_the_profiles_prompt_byte_for_byte_then_the_hangup(
    fake_asterisk, gateways, exten, profile_name
):
    book = load_profiles()  # the shipped example profiles
    prompt = PromptLibrary.load().for_text(book.profiles[profile_name].end_apology)
    assert prompt is not None and prompt.duration > 3
    gw = gateways(profiles=book, apology_timeout=30)  # only the end of the prompt ends it in time
    cid = fake_asterisk.new_call(exten)
    call = active_call(gw, cid)
    leg = fake_asterisk.leg_for_caller(cid)
    session = ScriptedSession.instances[-1]
    wait_for(lambda: len(leg.received) >= len(scripted.GREETING) // 160, 5, "greeting heard")
    session.sink.play(RESPONSE, "answer")  # the model is answering…
    wait_for(lambda: sum(r.payload[:1] == b"\x66" for r in leg.received) >= 10, 5, "answer playing")
    t_drop = time.monotonic()
    session.drop("connection_lost")  # …and the connection is lost

    wait_for(lambda: len(leg.received) > 25 + 60, 5, "apology playing")
    assert fake_asterisk.leg_for_caller(cid) is leg, "caller no longer bridged to our media while we apologise"
    assert plays_to(fake_asterisk, cid) == [], "asked Asterisk to play a sound"
    wait_for(lambda: fake_asterisk.hung_up.get(cid) == "ari", prompt.duration + 5, "gateway hangs up the caller")
    assert_call_left_nothing(fake_asterisk, gw, [call.call_id])

    before, apology = apology_packets(leg, prompt.audio)
    assert b"".join(r.payload for r in apology) == as_sent(prompt.audio), "the phone did not get the prompt's bytes"
    answer_heard = sum(r.payload[:1] == b"\x66" for r in before)
    assert 10 <= answer_heard < len(RESPONSE) // 160, "the model's unfinished answer was not cut for the apology"
    assert all((b.seq - a.seq) % 65536 == 1 for a, b in itertools.pairwise(leg.received)), "RTP sequence broken"
    # within a talk spurt the timestamp advances one frame; across a pause (marker) by whole frames
    assert all(
        (b.ts - a.ts) % 2**32 == 160 or (b.marker and (b.ts - a.ts) % 160 == 0) for a, b in itertools.pairwise(apology)
    ), "RTP timestamps broken"
    gaps = [b.kt - a.kt for a, b in itertools.pairwise(apology)]
    assert sum(gaps) / len(gaps) == pytest.approx(0.020, abs=0.002), "the prompt was not paced at 20 ms"
    # kept up until the last byte went out, then released; and not much later than the prompt's length
    last = apology[-1].t
    assert request_time(fake_asterisk, "DELETE", f"/ari/bridges/{call.bridge_id}") >= last
    hangup_at = request_time(fake_asterisk, "DELETE", f"/ari/channels/{cid}")
    assert hangup_at >= last
    assert hangup_at - t_drop < prompt.duration + 2.5, hangup_at - t_drop
    assert call.outcome == "realtime_connection_lost" and gw.outcomes == {"realtime_connection_lost": 1}


def test_profile_without_a_prompt_of_its_own_gets_the_generic_one_and_a_startup_warning(
    fake_asterisk, gateways, short_prompts, caplog
):
    own = Profile(name="tienda", instructions="Atención al cliente.", end_apology="Un texto que nadie grabó.")
    book = ProfileBook(profiles={"tienda": own}, numbers={}, default="tienda")
    caplog.set_level(logging.WARNING, logger="call_gateway.fallbacks")
    gw = gateways(profiles=book, prompts_dir=short_prompts)
    warned = [r.getMessage() for r in caplog.records if "tienda" in r.getMessage()]
    assert len(warned) == 1 and "generic apology" in warned[0] and "centralita prompts" in warned[0], warned
    cid, call = drop_call(fake_asterisk, gw)
    leg = fake_asterisk.media[call.media_id]
    wait_for(lambda: fake_asterisk.hung_up.get(cid) == "ari", 6, "gateway hangs up the caller")
    _, apology = apology_packets(leg, SHORT)
    assert b"".join(r.payload for r in apology) == as_sent(SHORT)
    assert_call_left_nothing(fake_asterisk, gw, [call.call_id])


def test_caller_hanging_up_during_the_prompt_stops_it_at_once(fake_asterisk, gateways, tmp_path):
    prompts = str(write_prompt_dir(tmp_path / "p", {SHORT_TEXT: LONG}, SHORT_TEXT))
    gw = gateways(prompts_dir=prompts, apology_timeout=20)
    cid, call = drop_call(fake_asterisk, gw)
    leg = fake_asterisk.media[call.media_id]
    wait_for(lambda: heard(leg, LONG) >= 20, 5, "apology playing")
    assert call.state == "ending" and gw.active_calls() == 1
    t0 = time.monotonic()
    fake_asterisk.caller_hangup(cid)
    wait_for(lambda: gw.active_calls() == 0, 3, "call forgotten")
    assert time.monotonic() - t0 < 1.0, "kept playing the apology after the caller left"
    assert_call_left_nothing(fake_asterisk, gw, [call.call_id])
    assert fake_asterisk.hung_up[cid] == "caller" and fake_asterisk.hung_up[call.media_id] == "ari"
    assert ("DELETE", f"/ari/channels/{cid}") not in [(m, p) for m, p, _ in fake_asterisk.requests]
    assert heard(leg, LONG) < len(LONG) // 160 // 2, "the whole prompt went out although the caller had left"
    assert call.outcome == "realtime_connection_lost"


def test_media_path_stalled_the_prompt_is_bounded_by_its_length_plus_the_timeout(
    fake_asterisk, gateways, short_prompts, caplog
):
    gw = gateways(prompts_dir=short_prompts, apology_timeout=0.5, media_process=False)
    cid = fake_asterisk.new_call("100")
    call = active_call(gw, cid)
    call.endpoint.set_remote("127.0.0.1", 9)  # Asterisk's side moved: nothing we send is heard
    call.endpoint.played_ms = lambda tag: 0  # …and the pacer never reports the prompt as played
    caplog.set_level(logging.WARNING, logger="call_gateway.call")
    t0 = time.monotonic()
    ScriptedSession.instances[-1].drop("connection_lost")
    wait_for(lambda: fake_asterisk.hung_up.get(cid) == "ari", 8, "gateway hangs up the caller")
    waited = time.monotonic() - t0
    assert 1.5 + 0.5 - 0.1 <= waited < 1.5 + 0.5 + 2.0, waited
    assert_call_left_nothing(fake_asterisk, gw, [call.call_id])
    assert any("apology over (timeout after 0 of 1500 ms)" in r.getMessage() for r in caplog.records)


def test_media_channel_gone_during_the_prompt_hangs_up_without_waiting(fake_asterisk, gateways, tmp_path):
    prompts = str(write_prompt_dir(tmp_path / "p", {SHORT_TEXT: LONG}, SHORT_TEXT))
    gw = gateways(prompts_dir=prompts, apology_timeout=20)
    cid, call = drop_call(fake_asterisk, gw)
    leg = fake_asterisk.media[call.media_id]
    wait_for(lambda: heard(leg, LONG) >= 10, 5, "apology playing")
    t0 = time.monotonic()
    fake_asterisk.caller_hangup(call.media_id)  # Asterisk drops our externalMedia channel
    wait_for(lambda: fake_asterisk.hung_up.get(cid) == "ari", 3, "gateway hangs up the caller")
    assert time.monotonic() - t0 < 1.5
    assert_call_left_nothing(fake_asterisk, gw, [call.call_id])


def test_prompt_apology_does_not_hold_a_worker(fake_asterisk, gateways, tmp_path):
    """With one worker, a call mid-apology must not stop another caller's setup."""
    prompts = str(write_prompt_dir(tmp_path / "p", {SHORT_TEXT: LONG}, SHORT_TEXT))
    gw = gateways(workers=1, prompts_dir=prompts, apology_timeout=20)
    first, call = drop_call(fake_asterisk, gw)
    wait_for(lambda: heard(fake_asterisk.media[call.media_id], LONG) >= 5, 5, "apology playing")
    second = fake_asterisk.new_call("100")
    other = active_call(gw, second)
    fake_asterisk.caller_hangup(first)
    fake_asterisk.caller_hangup(second)
    assert_call_left_nothing(fake_asterisk, gw, [call.call_id, other.call_id])


def test_shutdown_during_the_prompt_hangs_up_without_waiting(fake_asterisk, tmp_path):
    prompts = str(write_prompt_dir(tmp_path / "p", {SHORT_TEXT: LONG}, SHORT_TEXT))
    gw = make_gateway(fake_asterisk, scripted.factory(), prompts_dir=prompts, apology_timeout=20)
    cid, call = drop_call(fake_asterisk, gw)
    wait_for(lambda: heard(fake_asterisk.media[call.media_id], LONG) >= 5, 5, "apology playing")
    t0 = time.monotonic()
    gw.shutdown(grace=0)
    assert time.monotonic() - t0 < 3, "shutdown waited for the apology"
    assert fake_asterisk.hung_up.get(cid) == "ari"
    assert fake_asterisk.leftovers(gw.settings.ari_app + "-") == {"channels": [], "bridges": []}
    wait_for(lambda: not [t for t in threading.enumerate() if call.call_id in t.name], 3, "apology watcher gone")


@pytest.mark.parametrize("reason", ["server_error", "session_limit"])
def test_the_model_already_apologised_so_nothing_more_is_played(fake_asterisk, gateways, reason, short_prompts):
    gw = gateways(prompts_dir=short_prompts)
    cid, call = drop_call(fake_asterisk, gw, reason)
    leg = fake_asterisk.media[call.media_id]
    wait_for(lambda: fake_asterisk.hung_up.get(cid) == "ari", 5, "gateway hangs up the caller")
    assert_call_left_nothing(fake_asterisk, gw, [call.call_id])
    assert fake_asterisk.plays == []
    assert SHORT[:160] not in leg.payload_bytes()
    assert call.outcome == f"realtime_{reason}"


@pytest.mark.parametrize("media", ["", "none"])
def test_apology_turned_off_hangs_up_at_once(fake_asterisk, gateways, media):
    gw = gateways(apology_media=media)
    cid, call = drop_call(fake_asterisk, gw)
    t0 = time.monotonic()
    wait_for(lambda: fake_asterisk.hung_up.get(cid) == "ari", 5, "gateway hangs up the caller")
    assert time.monotonic() - t0 < 2
    assert_call_left_nothing(fake_asterisk, gw, [call.call_id])
    assert fake_asterisk.plays == []


# ------------------------------------------------------------------------------ ARI sounds
@pytest.mark.parametrize(
    "overrides, media, lang",
    [
        ({"apology_media": "sound:vm-goodbye"}, "sound:vm-goodbye", "es"),
        ({"apology_media": "sound:tt-somethingwrong", "apology_lang": "en"}, "sound:tt-somethingwrong", "en"),
    ],
    ids=["spanish", "english"],
)
def test_configured_sound_plays_once_then_hangs_up_after_playback_finished(
    fake_asterisk, gateways, overrides, media, lang
):
    fake_asterisk.playback_duration = 0.4
    gw = gateways(apology_timeout=30, **overrides)  # only PlaybackFinished can end the wait in time
    cid, call = drop_call(fake_asterisk, gw)
    wait_for(lambda: fake_asterisk.hung_up.get(cid) == "ari", 5, "gateway hangs up the caller")
    waited = time.monotonic() - plays_to(fake_asterisk, cid)[0]["at"]
    assert 0.4 <= waited < 2, waited
    assert_call_left_nothing(fake_asterisk, gw, [call.call_id])

    plays = plays_to(fake_asterisk, cid)
    assert len(plays) == 1, plays
    assert plays[0]["args"] == {"media": media, "lang": lang, "playbackId": call.apology_id}
    assert plays[0]["bridge"] is None, "the caller was still bridged when the apology started"
    assert [p for p in fake_asterisk.plays if p["channel"] != cid] == [], "played to another channel"
    reqs = [(m, p) for m, p, _ in fake_asterisk.requests]
    assert reqs.index(("DELETE", f"/ari/bridges/{call.bridge_id}")) < reqs.index(("POST", f"/ari/channels/{cid}/play"))

    ours = lambda e: e["playback"]["id"] == call.apology_id  # noqa: E731
    started, finished = (
        events_of(fake_asterisk, "PlaybackStarted", ours),
        events_of(fake_asterisk, "PlaybackFinished", ours),
    )
    assert len(started) == 1 and len(finished) == 1
    hangup = events_of(fake_asterisk, "ChannelHangupRequest", on_channel(cid))
    assert started[0] < finished[0] < hangup[0], "hung up before the apology finished"
    pb = fake_asterisk.event_log[finished[0]]["playback"]
    assert set(pb) == PLAYBACK_KEYS
    assert pb == {
        "id": call.apology_id,
        "media_uri": media,
        "target_uri": f"channel:{cid}",
        "language": lang,
        "state": "done",
    }
    assert call.outcome == "realtime_connection_lost"
    assert gw.outcomes == {"realtime_connection_lost": 1}
    assert gw.playback_failed == {}


def test_profile_key_overrides_the_gateway_apology(fake_asterisk, gateways):
    legal = Profile(name="legal", instructions="Información legal.", apology_media="sound:vm-goodbye")
    isp = Profile(name="isp", instructions="Soporte.")
    book = ProfileBook(profiles={"isp": isp, "legal": legal}, numbers={"200": "legal"}, default="isp")
    gw = gateways(profiles=book)
    assert gw.apologies["legal"].media == "sound:vm-goodbye" and gw.apologies["isp"].kind == "prompt"
    cid, call = drop_call(fake_asterisk, gw, exten="200")
    wait_for(lambda: fake_asterisk.hung_up.get(cid) == "ari", 5, "gateway hangs up the caller")
    assert [p["args"]["media"] for p in plays_to(fake_asterisk, cid)] == ["sound:vm-goodbye"]
    assert_call_left_nothing(fake_asterisk, gw, [call.call_id])


@pytest.mark.parametrize("status", [404, 409, 412, 500])
def test_play_request_failing_still_hangs_up_the_caller(fake_asterisk, gateways, caplog, status):
    gw = gateways(apology_timeout=30, apology_media="sound:vm-goodbye")
    cid = fake_asterisk.new_call("100")
    call = active_call(gw, cid)
    fake_asterisk.fail_next[("POST", "play")] = status
    caplog.set_level(logging.WARNING, logger="call_gateway.call")
    t0 = time.monotonic()
    ScriptedSession.instances[-1].drop("connection_lost")
    wait_for(lambda: fake_asterisk.hung_up.get(cid) == "ari", 5, "gateway hangs up the caller")
    assert time.monotonic() - t0 < 3, "waited for a playback that never started"
    assert_call_left_nothing(fake_asterisk, gw, [call.call_id])
    assert ("POST", f"/ari/channels/{cid}/play") in [(m, p) for m, p, _ in fake_asterisk.requests]
    assert fake_asterisk.playbacks == {}
    lines = [r.getMessage() for r in caplog.records if "could not play the apology" in r.getMessage()]
    assert len(lines) == 1 and f"-> {status}" in lines[0], lines
    assert call.outcome == "realtime_connection_lost"


def test_no_playback_finished_hangs_up_after_the_timeout(fake_asterisk, gateways):
    fake_asterisk.playback_duration = None  # Asterisk never reports the end (e.g. events lost)
    gw = gateways(apology_timeout=0.6, apology_media="sound:vm-goodbye")
    cid, call = drop_call(fake_asterisk, gw)
    wait_for(lambda: plays_to(fake_asterisk, cid), 5, "apology requested")
    played_at = plays_to(fake_asterisk, cid)[0]["at"]
    wait_for(lambda: fake_asterisk.hung_up.get(cid) == "ari", 5, "gateway hangs up the caller")
    waited = time.monotonic() - played_at
    assert 0.5 <= waited < 2.5, waited
    assert_call_left_nothing(fake_asterisk, gw, [call.call_id])
    assert fake_asterisk.playbacks == {}  # the hangup ended the playback
    assert call.outcome == "realtime_connection_lost"


@pytest.mark.parametrize("finished_event", [True, False], ids=["playback-finished-sent", "playback-finished-lost"])
def test_caller_hanging_up_during_the_sound_stops_the_wait_and_leaks_nothing(fake_asterisk, gateways, finished_event):
    fake_asterisk.playback_duration = None
    fake_asterisk.playback_finished_on_hangup = finished_event
    gw = gateways(apology_timeout=20, apology_media="sound:vm-goodbye")
    cid, call = drop_call(fake_asterisk, gw)
    wait_for(lambda: events_of(fake_asterisk, "PlaybackStarted"), 5, "apology playing")
    assert call.state == "ending" and gw.active_calls() == 1
    t0 = time.monotonic()
    fake_asterisk.caller_hangup(cid)
    wait_for(lambda: gw.active_calls() == 0, 3, "call forgotten")
    assert time.monotonic() - t0 < 1.0, "kept waiting for the apology after the caller left"
    assert_call_left_nothing(fake_asterisk, gw, [call.call_id])
    assert fake_asterisk.hung_up[cid] == "caller"
    assert ("DELETE", f"/ari/channels/{cid}") not in [(m, p) for m, p, _ in fake_asterisk.requests]
    assert call.outcome == "realtime_connection_lost"


def test_settings_from_env(monkeypatch):
    from call_gateway.app import GatewaySettings

    monkeypatch.setenv("GATEWAY_APOLOGY_MEDIA", "")
    monkeypatch.setenv("GATEWAY_APOLOGY_LANG", "en")
    monkeypatch.setenv("GATEWAY_APOLOGY_TIMEOUT", "2.5")
    monkeypatch.setenv("GATEWAY_PROMPTS_DIR", "/etc/centralita/prompts")
    s = GatewaySettings.from_env()
    assert (s.apology_media, s.apology_lang, s.apology_timeout, s.prompts_dir) == (
        "",
        "en",
        2.5,
        "/etc/centralita/prompts",
    )
    for name in ("GATEWAY_APOLOGY_MEDIA", "GATEWAY_APOLOGY_LANG", "GATEWAY_APOLOGY_TIMEOUT", "GATEWAY_PROMPTS_DIR"):
        monkeypatch.delenv(name)
    s = GatewaySettings.from_env()
    assert (s.apology_media, s.apology_lang, s.apology_timeout, s.prompts_dir) == ("prompt", "es", 6.0, "")
