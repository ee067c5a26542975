"""The Realtime connection is lost mid-call: the model cannot apologise, so the gateway has Asterisk
play the apology to the caller (bridge destroyed first) and hangs up after its PlaybackFinished —
or at once if the play request fails, when the caller leaves, or after ``apology_timeout``."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from tests.gateway.e2e import scripted
from tests.gateway.e2e.harness import assert_call_left_nothing, make_gateway, wait_for
from tests.gateway.e2e.scripted import ScriptedSession

PLAYBACK_KEYS = {"id", "media_uri", "target_uri", "language", "state"}


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


def drop_call(fake, gw, reason="connection_lost"):
    """A call set up to active, then its Realtime session ends by itself with ``reason``."""
    cid = fake.new_call("100")
    call = active_call(gw, cid)
    ScriptedSession.instances[-1].drop(reason)
    return cid, call


@pytest.mark.parametrize("overrides, media, lang", [
    ({}, "sound:an-error-has-occurred", "es"),
    ({"apology_media": "sound:lo-sentimos", "apology_lang": "es_MX"}, "sound:lo-sentimos", "es_MX"),
], ids=["defaults", "configured"])
def test_connection_lost_plays_one_apology_then_hangs_up_after_playback_finished(
        fake_asterisk, gateways, overrides, media, lang):
    fake_asterisk.playback_duration = 0.4
    gw = gateways(apology_timeout=30, **overrides)   # only PlaybackFinished can end the wait in time
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
    assert reqs.index(("DELETE", f"/ari/bridges/{call.bridge_id}")) < reqs.index(
        ("POST", f"/ari/channels/{cid}/play"))

    ours = lambda e: e["playback"]["id"] == call.apology_id  # noqa: E731
    started, finished = events_of(fake_asterisk, "PlaybackStarted", ours), events_of(
        fake_asterisk, "PlaybackFinished", ours)
    assert len(started) == 1 and len(finished) == 1
    hangup = events_of(fake_asterisk, "ChannelHangupRequest", on_channel(cid))
    assert started[0] < finished[0] < hangup[0], "hung up before the apology finished"
    pb = fake_asterisk.event_log[finished[0]]["playback"]
    assert set(pb) == PLAYBACK_KEYS
    assert pb == {"id": call.apology_id, "media_uri": media, "target_uri": f"channel:{cid}",
                  "language": lang, "state": "done"}
    assert call.outcome == "realtime_connection_lost"
    assert gw.outcomes == {"realtime_connection_lost": 1}


@pytest.mark.parametrize("reason", ["server_error", "session_limit"])
def test_the_model_already_apologised_so_asterisk_plays_nothing(fake_asterisk, gateways, reason):
    gw = gateways()
    cid, call = drop_call(fake_asterisk, gw, reason)
    wait_for(lambda: fake_asterisk.hung_up.get(cid) == "ari", 5, "gateway hangs up the caller")
    assert_call_left_nothing(fake_asterisk, gw, [call.call_id])
    assert fake_asterisk.plays == []
    assert call.outcome == f"realtime_{reason}"


def test_empty_apology_media_disables_it(fake_asterisk, gateways):
    gw = gateways(apology_media="")
    cid, call = drop_call(fake_asterisk, gw)
    wait_for(lambda: fake_asterisk.hung_up.get(cid) == "ari", 5, "gateway hangs up the caller")
    assert_call_left_nothing(fake_asterisk, gw, [call.call_id])
    assert fake_asterisk.plays == []


@pytest.mark.parametrize("status", [404, 409, 412, 500])
def test_play_request_failing_still_hangs_up_the_caller(fake_asterisk, gateways, caplog, status):
    gw = gateways(apology_timeout=30)
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


def test_playback_failed_in_asterisk_hangs_up_at_once(fake_asterisk, gateways, caplog):
    fake_asterisk.missing_media.add("sound:an-error-has-occurred")
    gw = gateways(apology_timeout=30)
    caplog.set_level(logging.INFO, logger="call_gateway.call")
    t0 = time.monotonic()
    cid, call = drop_call(fake_asterisk, gw)
    wait_for(lambda: fake_asterisk.hung_up.get(cid) == "ari", 5, "gateway hangs up the caller")
    assert time.monotonic() - t0 < 3
    assert_call_left_nothing(fake_asterisk, gw, [call.call_id])
    failed = events_of(fake_asterisk, "PlaybackFinished", lambda e: e["playback"]["state"] == "failed")
    assert len(failed) == 1 and failed[0] < events_of(fake_asterisk, "ChannelHangupRequest", on_channel(cid))[0]
    assert any("apology over (playback failed)" in r.getMessage() for r in caplog.records)


def test_no_playback_finished_hangs_up_after_the_timeout(fake_asterisk, gateways):
    fake_asterisk.playback_duration = None           # Asterisk never reports the end (e.g. events lost)
    gw = gateways(apology_timeout=0.6)
    cid, call = drop_call(fake_asterisk, gw)
    wait_for(lambda: plays_to(fake_asterisk, cid), 5, "apology requested")
    played_at = plays_to(fake_asterisk, cid)[0]["at"]
    wait_for(lambda: fake_asterisk.hung_up.get(cid) == "ari", 5, "gateway hangs up the caller")
    waited = time.monotonic() - played_at
    assert 0.5 <= waited < 2.5, waited
    assert_call_left_nothing(fake_asterisk, gw, [call.call_id])
    assert fake_asterisk.playbacks == {}             # the hangup ended the playback
    assert call.outcome == "realtime_connection_lost"


@pytest.mark.parametrize("finished_event", [True, False], ids=["playback-finished-sent", "playback-finished-lost"])
def test_caller_hanging_up_during_the_apology_stops_the_wait_and_leaks_nothing(fake_asterisk, gateways,
                                                                               finished_event):
    fake_asterisk.playback_duration = None
    fake_asterisk.playback_finished_on_hangup = finished_event
    gw = gateways(apology_timeout=20)
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


def test_apology_does_not_hold_a_worker(fake_asterisk, gateways):
    """With one worker, a call mid-apology must not stop another caller's setup."""
    fake_asterisk.playback_duration = None
    gw = gateways(workers=1, apology_timeout=20)
    first, call = drop_call(fake_asterisk, gw)
    wait_for(lambda: plays_to(fake_asterisk, first), 5, "apology requested")
    second = fake_asterisk.new_call("100")
    other = active_call(gw, second)
    fake_asterisk.caller_hangup(first)
    fake_asterisk.caller_hangup(second)
    assert_call_left_nothing(fake_asterisk, gw, [call.call_id, other.call_id])


def test_shutdown_during_the_apology_hangs_up_without_waiting(fake_asterisk):
    fake_asterisk.playback_duration = None
    gw = make_gateway(fake_asterisk, scripted.factory(), apology_timeout=20)
    cid, call = drop_call(fake_asterisk, gw)
    wait_for(lambda: plays_to(fake_asterisk, cid), 5, "apology requested")
    t0 = time.monotonic()
    gw.shutdown(grace=0)
    assert time.monotonic() - t0 < 3, "shutdown waited for the apology"
    assert fake_asterisk.hung_up.get(cid) == "ari"
    assert fake_asterisk.leftovers(gw.settings.ari_app + "-") == {"channels": [], "bridges": []}
    wait_for(lambda: not [t for t in threading.enumerate() if call.call_id in t.name], 3, "apology timer gone")


def test_settings_from_env_empty_media_turns_the_apology_off(monkeypatch):
    from call_gateway.app import GatewaySettings

    monkeypatch.setenv("GATEWAY_APOLOGY_MEDIA", "")
    monkeypatch.setenv("GATEWAY_APOLOGY_LANG", "en")
    monkeypatch.setenv("GATEWAY_APOLOGY_TIMEOUT", "2.5")
    s = GatewaySettings.from_env()
    assert (s.apology_media, s.apology_lang, s.apology_timeout) == ("", "en", 2.5)
    monkeypatch.delenv("GATEWAY_APOLOGY_MEDIA")
    monkeypatch.delenv("GATEWAY_APOLOGY_LANG")
    monkeypatch.delenv("GATEWAY_APOLOGY_TIMEOUT")
    s = GatewaySettings.from_env()
    assert (s.apology_media, s.apology_lang, s.apology_timeout) == ("sound:an-error-has-occurred", "es", 6.0)
