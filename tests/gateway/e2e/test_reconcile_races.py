"""Regression: a call whose StasisStart arrives while the reconciliation is listing channels was taken
for a caller that vanished, and hung up at once (seen in bench/calls.py at connect time)."""

from call_gateway.app import Gateway, GatewaySettings
from tests.gateway.e2e.harness import profile_book


class ListingRest:
    """list_channels lets a StasisStart in 'during' the request, as the events thread would."""

    def __init__(self, gw, channel):
        self.gw, self.channel = gw, channel
        self.calls = []

    def list_channels(self):
        self.gw.on_event({"type": "StasisStart", "channel": self.channel, "args": []})
        return []  # the listing was taken before the channel existed

    def list_bridges(self):
        return []

    def __getattr__(self, name):
        def record(*args, **kwargs):
            self.calls.append((name, args))

        return record


def test_call_arriving_during_the_listing_is_not_taken_for_vanished():
    gw = Gateway(
        GatewaySettings(rtp_bind_host="127.0.0.1", rtp_port_min=40000, rtp_port_max=40001, workers=1),
        session_factory=lambda **kw: None,
        profiles=profile_book(),
    )
    try:
        gw.pool.submit = lambda fn: None  # keep the call's setup from running: only routing matters
        chan = {"id": "1.1", "name": "PJSIP/x-1", "dialplan": {"exten": "100"}}
        gw.rest = ListingRest(gw, chan)
        gw.reconcile()
        call = gw.calls["1.1"]
        assert not call.caller_gone.is_set()
        assert gw.counters["calls_adopted"] == 0
    finally:
        gw.media.stop()
        gw.pool.stop(0.1)


def test_media_legs_are_never_taken_for_calls():
    gw = Gateway(
        GatewaySettings(
            rtp_bind_host="127.0.0.1", rtp_port_min=40000, rtp_port_max=40001, workers=1, media_process=False
        ),
        session_factory=lambda **kw: None,
        profiles=profile_book(),
    )
    try:
        gw.pool.submit = lambda fn: None
        for chan in (
            {"id": "centralita-media-abc", "name": "UnicastRTP/127.0.0.1:40000-0x1"},  # ours, stale
            {"id": "someone-else", "name": "UnicastRTP/10.0.0.9:5000-0x2"},  # a foreign leg
            {"id": "", "name": "PJSIP/x"},
        ):  # malformed
            gw.on_event({"type": "StasisStart", "channel": chan, "args": []})
        assert gw.calls == {}
        gw.on_event(
            {
                "type": "StasisStart",
                "channel": {"id": "9.9", "name": "PJSIP/trunk-9", "dialplan": {"exten": "200"}},
                "args": [],
            }
        )
        gw.on_event({"type": "StasisStart", "channel": {"id": "9.9", "name": "PJSIP/trunk-9"}, "args": []})
        assert list(gw.calls) == ["9.9"] and gw.calls["9.9"].exten == "200"  # a duplicate is not a second call
        gw.on_event({"type": "ChannelDtmfReceived", "digit": "1", "channel": {"id": "9.9"}})  # ignored
        gw.on_event({"type": "StasisEnd", "channel": {"id": "9.9"}})
        assert gw.calls["9.9"].caller_gone.is_set()
    finally:
        gw.media.stop()
        gw.pool.stop(0.1)
