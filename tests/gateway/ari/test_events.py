import threading
import time

from call_gateway.ari import AriEventStream, Backoff, events_url


def wait_for(pred, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.01)
    return pred()


class Recorder:
    def __init__(self):
        self.events = []
        self.connects = []
        self.disconnects = 0
        self.lock = threading.Lock()

    def on_event(self, e):
        with self.lock:
            self.events.append(e)

    def on_connected(self, first):
        self.connects.append(first)

    def on_disconnected(self, why):
        self.disconnects += 1


def stream_for(fake, rec, app="centralita", **kw):
    s = AriEventStream(
        fake.url,
        app,
        fake.username,
        fake.password,
        on_event=rec.on_event,
        on_connected=rec.on_connected,
        on_disconnected=rec.on_disconnected,
        backoff=Backoff(first=0.05, cap=0.2),
        **kw,
    )
    s.start()
    return s


def test_events_url():
    assert events_url("http://h:8088", "gw 1") == "ws://h:8088/ari/events?app=gw%201&subscribeAll=false"
    assert events_url("https://u:p@h/asterisk/", "a") == "wss://h/asterisk/ari/events?app=a&subscribeAll=false"


def test_backoff_grows_caps_and_resets():
    b = Backoff(first=0.5, cap=4)
    delays = [b.next() for _ in range(6)]
    assert 0.4 <= delays[0] <= 0.6 and all(d <= 4.8 for d in delays) and delays[5] >= 3.2
    b.reset()
    assert b.next() <= 0.6


def test_receives_events_and_pings_from_our_side(fake_asterisk):
    rec = Recorder()
    s = stream_for(fake_asterisk, rec, ping_interval=0.1, ping_timeout=1.0)
    try:
        assert fake_asterisk.wait_connected("centralita")
        cid = fake_asterisk.new_call("200")
        assert wait_for(lambda: any(e["type"] == "StasisStart" for e in rec.events))
        ev = rec.events[0]
        assert ev["channel"]["id"] == cid and ev["channel"]["dialplan"]["exten"] == "200"
        assert wait_for(lambda: fake_asterisk.sockets[-1].pings >= 2)  # Asterisk never pings: we do
        assert rec.connects == [True] and s.connected
    finally:
        s.stop()
    assert not s.connected


def test_reconnects_with_backoff_after_a_drop_and_says_so(fake_asterisk):
    rec = Recorder()
    s = stream_for(fake_asterisk, rec, ping_interval=0.2, ping_timeout=0.5)
    try:
        assert fake_asterisk.wait_connected("centralita")
        attempts = fake_asterisk.ws_attempts
        fake_asterisk.drop_event_sockets(refuse_for=0.5)
        assert wait_for(lambda: not s.connected, 2)
        assert wait_for(lambda: rec.connects == [True, False], 5)
        assert fake_asterisk.ws_attempts - attempts >= 2  # refused at least once, then back
        assert rec.disconnects == 1
        fake_asterisk.new_call("100")
        assert wait_for(lambda: any(e["type"] == "StasisStart" for e in rec.events))
    finally:
        s.stop()


def test_silent_dead_socket_is_detected_by_ping_timeout(fake_asterisk):
    rec = Recorder()
    s = stream_for(fake_asterisk, rec, ping_interval=0.1, ping_timeout=0.3)
    try:
        assert fake_asterisk.wait_connected("centralita")
        fake_asterisk.freeze_event_sockets()
        assert wait_for(lambda: rec.connects == [True, False], 5)
    finally:
        s.stop()


def test_application_replaced_stops_reconnecting(fake_asterisk):
    rec1, rec2 = Recorder(), Recorder()
    s1 = stream_for(fake_asterisk, rec1)
    try:
        assert wait_for(lambda: s1.connected)
        s2 = stream_for(fake_asterisk, rec2)
        assert wait_for(lambda: s2.connected)
        assert wait_for(lambda: s1.replaced)
        time.sleep(0.4)
        assert rec1.connects == [True] and s2.connected  # no tug of war over the app name
        s2.stop()
    finally:
        s1.stop()


def test_bad_credentials_keep_retrying_without_crashing(fake_asterisk):
    rec = Recorder()
    s = AriEventStream(
        fake_asterisk.url, "centralita", "ariuser", "nope", on_event=rec.on_event, backoff=Backoff(first=0.02, cap=0.05)
    )
    s.start()
    try:
        assert wait_for(lambda: fake_asterisk.ws_attempts >= 3)
        assert not s.connected
    finally:
        s.stop()
