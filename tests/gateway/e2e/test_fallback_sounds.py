"""Configured ARI sounds are checked before a caller needs them (``GET /ari/sounds/{id}``), and a
``PlaybackFinished`` with state ``failed`` is one error line and a counter on ``/metrics``."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time

import pytest
import requests

from call_gateway.fallbacks import FallbackError
from call_gateway.server import start_http
from centralita.profiles import Profile, ProfileBook
from centralita_fixtures.fake_realtime import API_KEY
from tests.gateway.e2e import scripted
from tests.gateway.e2e.harness import assert_call_left_nothing, make_gateway, wait_for
from tests.gateway.e2e.scripted import ScriptedSession
from tests.helpers import REPO_ROOT, free_port, udp_port_range


@pytest.fixture(autouse=True)
def _reset():
    ScriptedSession.instances.clear()


def sound_requests(fake) -> list[str]:
    return [p for m, p, _ in fake.requests if m == "GET" and p.startswith("/ari/sounds/")]


@pytest.mark.parametrize(
    "media, lang, expected",
    [
        ("sound:an-error-has-occurred", "es", "sound:an-error-has-occurred does not exist on this Asterisk"),
        (
            "sound:hello-world",
            "es",
            "sound:hello-world exists on this Asterisk only in language(s) ['en'], not in 'es'",
        ),
        (
            "sound:vm-goodbye",
            "fr",
            "sound:vm-goodbye exists on this Asterisk only in language(s) ['en', 'es'], not in 'fr'",
        ),
    ],
    ids=["missing-everywhere", "english-only", "not-in-french"],
)
def test_missing_sound_refuses_to_start_with_a_clear_message(fake_asterisk, media, lang, expected):
    with pytest.raises(FallbackError) as err:
        make_gateway(fake_asterisk, scripted.factory(), apology_media=media, apology_lang=lang)
    assert expected in str(err.value), str(err.value)
    assert "GATEWAY_APOLOGY_MEDIA=prompt" in str(err.value)
    assert sound_requests(fake_asterisk) == [f"/ari/sounds/{media[len('sound:') :]}"]
    assert fake_asterisk.ws_attempts == 0, "connected to ARI (took calls) with an unplayable apology"


def test_a_profiles_own_sound_is_checked_too(fake_asterisk):
    isp = Profile(name="isp", instructions="Soporte.")
    legal = Profile(name="legal", instructions="Legal.", apology_media="sound:custom/lo-sentimos")
    book = ProfileBook(profiles={"isp": isp, "legal": legal}, numbers={}, default="isp")
    with pytest.raises(FallbackError, match="sound:custom/lo-sentimos does not exist"):
        make_gateway(fake_asterisk, scripted.factory(), profiles=book)
    assert sound_requests(fake_asterisk) == ["/ari/sounds/custom%2Flo-sentimos"]
    fake_asterisk.sounds["custom/lo-sentimos"] = {"es": ["ulaw"]}  # the operator installs it
    gw = make_gateway(fake_asterisk, scripted.factory(), profiles=book)
    try:
        assert gw.ready and gw.apologies["legal"].media == "sound:custom/lo-sentimos"
    finally:
        gw.shutdown(grace=0)


def test_prompt_default_needs_no_sound_check(fake_asterisk):
    gw = make_gateway(fake_asterisk, scripted.factory())
    try:
        assert sound_requests(fake_asterisk) == [] and gw.ready
    finally:
        gw.shutdown(grace=0)


@pytest.mark.parametrize("media", ["sound:", "an-error-has-occurred", "file:/tmp/x.wav", "prompts"])
def test_unusable_apology_media_value_is_a_configuration_error(fake_asterisk, media):
    with pytest.raises(FallbackError, match="GATEWAY_APOLOGY_MEDIA"):
        make_gateway(fake_asterisk, scripted.factory(), apology_media=media)


def test_asterisk_not_answering_at_start_checks_on_connect_then_ready(fake_asterisk, caplog):
    fake_asterisk.fail_next[("GET", "get")] = 503  # Asterisk still starting
    caplog.set_level(logging.INFO, logger="call_gateway")
    gw = make_gateway(fake_asterisk, scripted.factory(), apology_media="sound:vm-goodbye")
    try:
        wait_for(lambda: gw.ready, 5, "ready once the sound was checked on connect")
        assert sound_requests(fake_asterisk) == ["/ari/sounds/vm-goodbye"] * 2
        msgs = [r.getMessage() for r in caplog.records]
        assert any("cannot check the apology sound(s) sound:vm-goodbye (es) yet" in m for m in msgs)
        assert any("apology sound(s) checked on Asterisk: sound:vm-goodbye" in m for m in msgs)
        assert gw.fatal is None
    finally:
        gw.shutdown(grace=0)


def test_sound_found_missing_on_first_connect_is_fatal_and_never_ready(fake_asterisk, caplog):
    fake_asterisk.fail_next[("GET", "get")] = 503
    caplog.set_level(logging.ERROR, logger="call_gateway")
    gw = make_gateway(fake_asterisk, scripted.factory(), apology_media="sound:an-error-has-occurred")
    try:
        wait_for(lambda: gw.fatal is not None, 5, "fatal after the check on connect")
        assert "sound:an-error-has-occurred does not exist" in gw.fatal
        assert not gw.ready and not gw.accepting
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and errors[0].startswith("refusing to run: apology sound unusable"), errors
    finally:
        gw.shutdown(grace=0)


def test_playback_failed_is_one_error_line_and_a_counter_and_the_caller_is_hung_up(fake_asterisk, caplog):
    gw = make_gateway(fake_asterisk, scripted.factory(), apology_media="sound:vm-goodbye", apology_timeout=30)
    httpd = start_http(gw, "127.0.0.1", 0)
    try:
        cid = fake_asterisk.new_call("100")
        wait_for(lambda: cid in gw.calls and gw.calls[cid].state == "active", 5, "call active")
        call = gw.calls[cid]
        del fake_asterisk.sounds["vm-goodbye"]  # removed from Asterisk after our check
        caplog.set_level(logging.INFO, logger="call_gateway")
        t0 = time.monotonic()
        ScriptedSession.instances[-1].drop("connection_lost")
        wait_for(lambda: fake_asterisk.hung_up.get(cid) == "ari", 5, "gateway hangs up the caller")
        assert time.monotonic() - t0 < 3, "waited for the timeout after a failed playback"
        assert_call_left_nothing(fake_asterisk, gw, [call.call_id])
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1, [r.getMessage() for r in errors]
        line = errors[0].getMessage()
        assert call.apology_id in line and "sound:vm-goodbye" in line and f"channel:{cid}" in line, line
        assert any("apology over (playback failed)" in r.getMessage() for r in caplog.records)
        metrics = requests.get(f"http://127.0.0.1:{httpd.server_address[1]}/metrics", timeout=3).text
        assert 'centralita_gateway_playback_failed_total{media="sound:vm-goodbye"} 1.0' in metrics
        assert gw.playback_failed == {"sound:vm-goodbye": 1}
    finally:
        httpd.shutdown()
        httpd.server_close()
        gw.shutdown(grace=0)


def _serve_env(fake, http: int, **extra) -> dict:
    lo, hi = udp_port_range(4)
    return {
        **os.environ,
        "ARI_URL": fake.url,
        "ARI_APP": "centralita",
        "ASTERISK_USERNAME": fake.username,
        "ASTERISK_PASSWORD": fake.password,
        "EXTERNAL_MEDIA_HOST": "127.0.0.1",
        "RTP_BIND_HOST": "127.0.0.1",
        "RTP_PORT_MIN": str(lo),
        "RTP_PORT_MAX": str(hi),
        "GATEWAY_HTTP_PORT": str(http),
        "GATEWAY_HTTP_HOST": "127.0.0.1",
        "OPENAI_API_KEY": API_KEY,
        "OPENAI_REALTIME_URL": f"ws://127.0.0.1:{free_port()}/v1/realtime",
        "TOOL_ENDPOINTS": f"127.0.0.1:{free_port()}",
        "GATEWAY_CHAT_ENABLED": "false",
        "CENTRALITA_ENV_FILE": "/nonexistent",
        **extra,
    }


def test_serve_process_refuses_to_start_on_a_missing_sound(fake_asterisk):
    env = _serve_env(fake_asterisk, free_port(), GATEWAY_APOLOGY_MEDIA="sound:an-error-has-occurred")
    proc = subprocess.run(
        [sys.executable, "-m", "centralita_suite.cli", "serve", "call_gateway"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "refusing to start: apology sound unusable: sound:an-error-has-occurred does not exist" in out, out
    assert "centralita: configuration error:" in out
    assert fake_asterisk.ws_attempts == 0
    assert fake_asterisk.password not in out and API_KEY not in out


def test_serve_process_exits_when_the_sound_is_found_missing_on_first_connect(fake_asterisk):
    fake_asterisk.fail_next[("GET", "get")] = 503
    http = free_port()
    env = _serve_env(fake_asterisk, http, GATEWAY_APOLOGY_MEDIA="sound:an-error-has-occurred")
    proc = subprocess.Popen(
        [sys.executable, "-m", "centralita_suite.cli", "serve", "call_gateway"],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.wait(60) == 2
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    out = proc.stdout.read()
    assert "cannot check the apology sound(s)" in out and "refusing to run: apology sound unusable" in out, out
    assert fake_asterisk.ws_attempts >= 1


def test_gateway_refuses_profiles_with_a_bad_apology_key():
    from centralita.profiles import ProfileError, parse_profiles

    with pytest.raises(ProfileError, match="apology media 'sonido:x'"):
        parse_profiles({"profiles": {"a": {"instructions": "x", "apology_media": "sonido:x"}}})
    with pytest.raises(ProfileError, match="apology_media must be a string"):
        parse_profiles({"profiles": {"a": {"instructions": "x", "apology_media": 3}}})
    book = parse_profiles({"profiles": {"a": {"instructions": "x", "apology_media": " none "}}})
    assert book.profiles["a"].apology_media == "none"
