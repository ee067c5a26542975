"""The gateway's two startup choices (``call_gateway.factories``): MEDIA_TRANSPORT and a profile's backend.
Unknown values refuse the start with the accepted ones named; known ones build the real thing."""

from __future__ import annotations

import json

import pytest

from call_gateway.factories import (
    MEDIA_TRANSPORTS,
    VOICE_BACKENDS,
    check_backends,
    media_transport_for,
    voice_engine_factory,
)
from call_gateway.realtime import RealtimeEngine, RealtimeSettings
from call_gateway.rtp import RtpTransport
from call_gateway.server import build_gateway
from call_gateway.settings import GatewaySettings
from centralita.config import ConfigError
from centralita.profiles import ProfileError, parse_profiles
from centralita_fixtures.realtime_fakes import FakeDispatcher, FakeSink
from centralita_fixtures.realtime_rig import SPECS


def book(**profile: object):
    return parse_profiles({"default": "p", "profiles": {"p": {"instructions": "Hola.", **profile}}})


def test_media_transport_websocket_is_refused_naming_the_accepted_values(monkeypatch):
    monkeypatch.setenv("MEDIA_TRANSPORT", "websocket")
    settings = GatewaySettings.from_env()
    assert settings.media_transport == "websocket"
    with pytest.raises(ConfigError, match=r"MEDIA_TRANSPORT='websocket' is not supported; accepted: rtp"):
        media_transport_for(settings)


def test_media_transport_rtp_is_the_default_and_builds_the_rtp_transport(monkeypatch):
    monkeypatch.delenv("MEDIA_TRANSPORT", raising=False)
    settings = GatewaySettings.from_env()
    assert settings.media_transport == "rtp" and MEDIA_TRANSPORTS == ("rtp",)
    transport = media_transport_for(GatewaySettings(media_process=False, rtp_port_min=41000, rtp_port_max=41001))
    assert isinstance(transport, RtpTransport) and transport.in_use() == 0 and not transport.alive()


def test_a_profile_backend_other_than_realtime_refuses_the_start(tmp_path, monkeypatch):
    profiles = book(backend="live")
    assert profiles.profiles["p"].backend == "live"
    with pytest.raises(ConfigError, match=r"profile 'p': backend 'live' is not supported; accepted: realtime"):
        check_backends(profiles)
    path = tmp_path / "profiles.json"
    path.write_text(json.dumps({"default": "p", "profiles": {"p": {"instructions": "Hola.", "backend": "live"}}}))
    monkeypatch.setenv("TOOL_ENDPOINTS", "127.0.0.1:1")  # never dialled: the check comes first
    with pytest.raises(ConfigError, match="backend 'live'"):
        build_gateway(GatewaySettings(profiles_path=str(path), media_process=False))


def test_a_backend_must_be_a_string():
    with pytest.raises(ProfileError, match="backend must be a string"):
        book(backend=7)


def test_the_realtime_backend_builds_a_realtime_engine():
    profiles = book()
    assert profiles.profiles["p"].backend == "realtime" and VOICE_BACKENDS == ("realtime",)
    dispatcher = FakeDispatcher(list(SPECS))
    make = voice_engine_factory(profiles, dispatcher, RealtimeSettings(api_key="k"))
    engine = make(profile=profiles.profiles["p"], sink=FakeSink(), on_end=lambda reason: None, call_id="c-1")
    assert isinstance(engine, RealtimeEngine) and engine.call_id == "c-1"
    engine.close()  # never started: closing is still clean
    assert engine.metrics.end_reason == "hangup"
    dispatcher.close()
