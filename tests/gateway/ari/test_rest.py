import logging
import time
from types import SimpleNamespace

import pytest

from call_gateway.ari import AriError, AriRest
from call_gateway.media_transport import ExternalMedia
from call_gateway.rtp import PortAllocator, RtpTransport
from centralita_fixtures.ari_spec import AriSpec, SpecViolation
from tests.helpers import require_ari_docs

RTP_40000 = ExternalMedia("ulaw", "rtp", "udp", "client", external_host="127.0.0.1:40000")


def rest_for(fake, password=None):
    return AriRest(fake.url, fake.username, password or fake.password, timeout=2)


def test_every_call_the_gateway_makes_matches_the_ari_docs(fake_asterisk):
    fake_asterisk.wait_connected  # noqa: B018 - fixture sanity
    rest = rest_for(fake_asterisk)
    # a caller needs a registered app: register it through the events socket
    from call_gateway.ari import AriEventStream

    events = []
    stream = AriEventStream(
        fake_asterisk.url, "centralita", fake_asterisk.username, fake_asterisk.password, on_event=events.append
    )
    stream.start()
    try:
        assert fake_asterisk.wait_connected("centralita")
        cid = fake_asterisk.new_call("100")
        rest.answer(cid)
        media = rest.external_media(app="centralita", channel_id="centralita-media-1", media=RTP_40000, data="call-1")
        assert media["id"] == "centralita-media-1"
        assert media["channelvars"]["UNICASTRTP_LOCAL_PORT"].isdigit()
        bridge = rest.create_bridge("centralita-bridge-1", name="call-1")
        assert bridge["id"] == "centralita-bridge-1" and bridge["bridge_type"] == "mixing"
        rest.add_channel("centralita-bridge-1", [cid])
        assert [c["id"] for c in rest.list_channels()] == [cid, "centralita-media-1"]
        assert rest.list_bridges()[0]["channels"] == [cid]
        assert rest.get_channel(cid)["state"] == "Up"
        rest.set_variable(cid, "CENTRALITA_STATUS", "ok")
        rest.destroy_bridge("centralita-bridge-1")
        assert rest.get_sound("vm-goodbye")["formats"] == [
            {"language": "en", "format": "gsm"},
            {"language": "en", "format": "ulaw"},
            {"language": "es", "format": "gsm"},
            {"language": "es", "format": "ulaw"},
        ]
        with pytest.raises(AriError) as missing:
            rest.get_sound("an-error-has-occurred")  # in neither stock pack
        assert missing.value.status == 404
        playback = rest.play(cid, "sound:vm-goodbye", lang="es", playback_id="centralita-playback-1")
        assert playback == {
            "id": "centralita-playback-1",
            "media_uri": "sound:vm-goodbye",
            "target_uri": f"channel:{cid}",
            "language": "es",
            "state": "queued",
        }
        end = time.monotonic() + 3
        while time.monotonic() < end and not [e for e in events if e["type"] == "PlaybackFinished"]:
            time.sleep(0.01)
        played = [e["playback"] for e in events if e["type"].startswith("Playback")]
        assert [p["state"] for p in played] == ["playing", "done"]
        assert {p["id"] for p in played} == {"centralita-playback-1"}
        rest.hangup("centralita-media-1")
        rest.continue_in_dialplan(cid)
        assert fake_asterisk.leftovers() == {"channels": [], "bridges": []}
        assert fake_asterisk.departed[0]["variables"] == {"CENTRALITA_STATUS": "ok"}
    finally:
        stream.stop()
        rest.close()


def test_errors_carry_status_and_asterisk_message(fake_asterisk):
    rest = rest_for(fake_asterisk)
    with pytest.raises(AriError) as err:
        rest.answer("no-such-channel")
    assert err.value.status == 404 and "not found" in err.value.message.lower()
    with pytest.raises(AriError) as err:
        rest.add_channel("no-such-bridge", "x")
    assert err.value.status == 404
    with pytest.raises(AriError) as err:
        rest.play("no-such-channel", "sound:beep", lang="es", playback_id="p-1")
    assert err.value.status == 404
    rest.close()


def test_external_media_carries_what_the_transport_asks_for(fake_asterisk):
    """The media transport, not ARI code, decides externalMedia's parameters: RTP asks for u-law RTP over UDP
    at its port; a WebSocket transport's request (server mode: no host) goes out exactly as asked."""
    rtp = RtpTransport(
        PortAllocator("127.0.0.1", 40000, 40001), media=None, batch_frames=3, external_media_host="10.0.0.7"
    )  # type: ignore[arg-type]
    assert rtp.external_media(SimpleNamespace(port=40123)) == ExternalMedia(  # type: ignore[arg-type]
        "ulaw", "rtp", "udp", "client", "both", "10.0.0.7:40123"
    )
    rest = rest_for(fake_asterisk)
    websocket_media = ExternalMedia("ulaw", "none", "websocket", "server")
    with pytest.raises(AriError) as err:  # the fake only does RTP over UDP
        rest.external_media(app="centralita", channel_id="centralita-media-ws", media=websocket_media, data="c-1")
    assert err.value.status == 501
    sent = [q for m, p, q in fake_asterisk.requests if p == "/ari/channels/externalMedia"][-1]
    assert sent == {
        "app": "centralita",
        "channelId": "centralita-media-ws",
        "format": "ulaw",
        "encapsulation": "none",
        "transport": "websocket",
        "connection_type": "server",
        "direction": "both",
        "data": "c-1",
    }
    rest.close()


def test_bad_credentials_are_refused_and_never_logged(fake_asterisk, caplog):
    caplog.set_level(logging.DEBUG)
    rest = rest_for(fake_asterisk, password="wrong-password-xyz")
    with pytest.raises(AriError) as err:
        rest.list_channels()
    assert err.value.status == 401
    assert "wrong-password-xyz" not in str(err.value)
    assert "wrong-password-xyz" not in caplog.text
    rest.close()


def test_transport_error_is_an_ari_error_without_credentials():
    rest = AriRest("http://127.0.0.1:1", "u", "topsecret-pw", timeout=0.5)
    with pytest.raises(AriError) as err:
        rest.list_channels()
    assert err.value.status == 0 and "topsecret-pw" not in str(err.value)


def test_the_spec_checker_rejects_what_asterisk_would():
    spec = AriSpec(require_ari_docs())
    bad = [
        ("POST", "/ari/channels/externalMedia", {"app": "a"}),  # format missing
        ("POST", "/ari/channels/externalMedia", {"app": "a", "format": "ulaw", "encapsulation": "srtp"}),
        ("POST", "/ari/bridges/b/addChannel", {}),  # channel missing
        ("DELETE", "/ari/channels/x", {"reason": "because"}),  # not an allowed value
        ("POST", "/ari/channels/x/answer", {"typo": "1"}),  # unknown parameter
        ("PATCH", "/ari/channels/x", {}),  # method
        ("GET", "/ari/nothing", {}),  # path
        ("POST", "/ari/bridges/b/addChannel", {"channel": "c", "mute": "maybe"}),  # boolean
    ]
    for method, path, query in bad:
        with pytest.raises(SpecViolation):
            spec.check(method, path, query, None)
    op, params = spec.check("POST", "/ari/channels/externalMedia", {"app": "a", "format": "ulaw"}, None)
    assert op.nickname == "externalMedia" and params == {}


def test_the_fake_records_a_violation(fake_asterisk):
    rest = rest_for(fake_asterisk)
    with pytest.raises(AriError) as err:
        rest._call("POST", "/channels/externalMedia", {"app": "a"})
    assert err.value.status == 400
    assert len(fake_asterisk.violations) == 1
    fake_asterisk.violations.clear()
    rest.close()
