"""Whole calls through the gateway and the fake Asterisk (real HTTP, WebSocket and UDP on loopback),
with an in-process scripted Realtime session. After every scenario: nothing of ours left anywhere."""

import socket
import time

import pytest
import requests

from call_gateway.rtp import build
from call_gateway.server import start_http
from tests.gateway.e2e import scripted
from tests.gateway.e2e.harness import assert_call_left_nothing, make_gateway, wait_for
from tests.gateway.e2e.scripted import GREETING, ScriptedSession


@pytest.fixture(autouse=True)
def _reset():
    ScriptedSession.instances.clear()


@pytest.fixture
def gw(fake_asterisk):
    gateway = make_gateway(fake_asterisk, scripted.factory())
    yield gateway
    gateway.shutdown(grace=0)


def active_call(gw, caller_id):
    wait_for(lambda: caller_id in gw.calls and gw.calls[caller_id].state == "active", 5, "call active")
    return gw.calls[caller_id]


def test_call_setup_greeting_caller_audio_and_caller_hangup(fake_asterisk, gw):
    cid = fake_asterisk.new_call("200")
    call = active_call(gw, cid)
    session = ScriptedSession.instances[0]
    assert session.profile.name == "informacion_legal"  # profile of the dialled number
    leg = fake_asterisk.leg_for_caller(cid)
    assert leg is not None
    wait_for(lambda: len(leg.received) >= 25, 3, "greeting packets")
    assert leg.payload_bytes()[: len(GREETING)] == GREETING  # the greeting, whole and in order
    assert {r.src for r in leg.received} == {("127.0.0.1", call.endpoint.port)}  # advertised socket
    wait_for(lambda: len(session.caller_audio) >= 160 * 10, 3, "caller audio to the session")

    # the ARI requests: answer, externalMedia as the design says, mixing bridge, both channels
    reqs = [(m, p, q) for m, p, q in fake_asterisk.requests if m != "GET"]
    assert reqs[0][:2] == ("POST", f"/ari/channels/{cid}/answer")
    em = next(q for m, p, q in reqs if p == "/ari/channels/externalMedia")
    assert em["format"] == "ulaw" and em["encapsulation"] == "rtp" and em["transport"] == "udp"
    assert em["external_host"] == f"127.0.0.1:{call.endpoint.port}"
    assert em["channelId"] == call.media_id and em["app"] == "centralita"
    create = next(q for m, p, q in reqs if p == "/ari/bridges")
    assert create["type"] == "mixing" and create["bridgeId"] == call.bridge_id
    with fake_asterisk.lock:
        assert sorted(fake_asterisk.bridges[call.bridge_id]["channels"]) == sorted([cid, call.media_id])

    fake_asterisk.caller_hangup(cid)
    assert_call_left_nothing(fake_asterisk, gw, [call.call_id])
    assert session.closed_reason == "caller_hangup"
    assert fake_asterisk.hung_up[cid] == "caller"
    assert gw.outcomes == {"caller_hangup": 1}


def test_media_channel_late_in_stasis_is_attached_on_its_stasis_start(fake_asterisk, gw):
    fake_asterisk.media_stasis_delay = 0.6
    cid = fake_asterisk.new_call("100")
    call = active_call(gw, cid)
    assert any(
        m == "POST" and p.endswith("/addChannel") and q["channel"] == call.media_id
        for m, p, q in fake_asterisk.requests
    )
    with fake_asterisk.lock:
        assert call.media_id in fake_asterisk.bridges[call.bridge_id]["channels"]
    fake_asterisk.caller_hangup(cid)
    assert_call_left_nothing(fake_asterisk, gw, [call.call_id])


def test_media_channel_never_ready_ends_the_call_cleanly(fake_asterisk):
    fake_asterisk.media_stasis_delay = 30
    gateway = make_gateway(fake_asterisk, scripted.factory(), media_ready_timeout=0.4)
    try:
        cid = fake_asterisk.new_call("100")
        wait_for(lambda: fake_asterisk.hung_up.get(cid) == "ari", 5, "caller hung up by the gateway")
        assert_call_left_nothing(fake_asterisk, gateway)
        assert gateway.outcomes == {"ari_error": 1}
    finally:
        gateway.shutdown(grace=0)


def test_gateway_hangs_up_when_the_realtime_session_drops(fake_asterisk, gw):
    cid = fake_asterisk.new_call("100")
    call = active_call(gw, cid)
    ScriptedSession.instances[0].drop("socket_closed")
    wait_for(lambda: fake_asterisk.hung_up.get(cid) == "ari", 5, "caller hung up")
    assert_call_left_nothing(fake_asterisk, gw, [call.call_id])
    assert gw.outcomes == {"realtime_socket_closed": 1}


def test_realtime_refusing_to_start_hangs_up_cleanly(fake_asterisk):
    gateway = make_gateway(fake_asterisk, scripted.factory(fail_start=True))
    try:
        cid = fake_asterisk.new_call("100")
        wait_for(lambda: fake_asterisk.hung_up.get(cid) == "ari", 5, "caller hung up")
        assert_call_left_nothing(fake_asterisk, gateway)
        assert gateway.outcomes == {"setup_failed": 1}
    finally:
        gateway.shutdown(grace=0)


def test_port_range_exhausted_refuses_cleanly_and_the_active_call_goes_on(fake_asterisk):
    gateway = make_gateway(fake_asterisk, scripted.factory(), ports=1)
    try:
        first = fake_asterisk.new_call("100")
        call = active_call(gateway, first)
        second = fake_asterisk.new_call("100")
        wait_for(lambda: any(d["id"] == second for d in fake_asterisk.departed), 5, "second call refused")
        refused = next(d for d in fake_asterisk.departed if d["id"] == second)
        assert refused["variables"] == {"CENTRALITA_STATUS": "no_rtp_port"}  # the dialplan can say why
        assert refused["state"] == "Ring"  # never answered
        assert gateway.refusals == {"no_rtp_port": 1}
        assert call.state == "active" and gateway.active_calls() == 1
        leg = fake_asterisk.leg_for_caller(first)
        n = len(leg.received)
        wait_for(lambda: len(leg.received) > n, 2, "first call still playing")
        fake_asterisk.caller_hangup(first)
        assert_call_left_nothing(fake_asterisk, gateway, [call.call_id])
        # the port is back: a new call gets it
        third = fake_asterisk.new_call("100")
        call3 = active_call(gateway, third)
        fake_asterisk.caller_hangup(third)
        assert_call_left_nothing(fake_asterisk, gateway, [call3.call_id])
    finally:
        gateway.shutdown(grace=0)


def test_refusal_by_hangup_when_configured(fake_asterisk):
    gateway = make_gateway(fake_asterisk, scripted.factory(), ports=1, refuse_action="hangup")
    try:
        first = fake_asterisk.new_call("100")
        active_call(gateway, first)
        second = fake_asterisk.new_call("100")
        wait_for(lambda: fake_asterisk.hung_up.get(second) == "ari", 5, "second call hung up")
        fake_asterisk.caller_hangup(first)
        assert_call_left_nothing(fake_asterisk, gateway)
    finally:
        gateway.shutdown(grace=0)


def test_garbage_udp_on_the_rtp_port_is_dropped_and_counted(fake_asterisk, gw):
    cid = fake_asterisk.new_call("100")
    call = active_call(gw, cid)
    session = ScriptedSession.instances[0]
    leg = fake_asterisk.leg_for_caller(cid)
    # strangers count as foreign_source once the media process applied Asterisk's address (set_remote
    # waits for that during the setup; the condition itself is what this test relies on)
    wait_for(lambda: not call.endpoint.awaiting_remote, 5, "Asterisk's address applied in the media process")
    dst = ("127.0.0.1", call.endpoint.port)
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dropped = call.endpoint.dropped
    try:
        for batch in range(5):
            # Ten pairs at a time, each batch counted before the next: a loaded machine's receiver
            # may lag, and a flood past the socket buffer would be lost by the kernel, uncounted.
            for i in range(batch * 10, batch * 10 + 10):
                stranger.sendto(bytes([i]) * (i + 1), dst)  # not RTP at all
                stranger.sendto(build(b"\x00" * 160, sequence=i, timestamp=0, ssrc=1, marker=False), dst)  # foreign
            sent = batch * 10 + 10
            wait_for(
                lambda sent=sent: dropped["foreign_source"] >= sent and sum(dropped.values()) >= 2 * sent,
                15,
                f"the first {sent} pairs of strangers' packets counted",
            )
        leg.send_raw(b"\x80")  # short, from Asterisk's port
        leg.send_raw(build(b"\x00" * 160, sequence=1, timestamp=0, ssrc=leg.ssrc, marker=False, payload_type=8))
    finally:
        stranger.close()
    wait_for(lambda: sum(dropped.values()) >= 102 and dropped["payload_type"] >= 1, 15, "drops counted")
    assert call.endpoint.dropped["foreign_source"] >= 50  # strangers: wrong source address
    assert call.endpoint.dropped["payload_type"] == 1
    assert call.endpoint.dropped["foreign_ssrc"] == 0  # Asterisk's packets were never taken for a stranger's
    assert b"\x00" * 160 not in bytes(session.caller_audio)  # nothing foreign reached the model
    before = len(session.caller_audio)
    wait_for(lambda: len(session.caller_audio) > before + 1600, 10, "the call keeps flowing")
    fake_asterisk.caller_hangup(cid)
    assert_call_left_nothing(fake_asterisk, gw, [call.call_id])


def test_ari_socket_drop_mid_call_the_call_survives(fake_asterisk, gw):
    cid = fake_asterisk.new_call("100")
    call = active_call(gw, cid)
    leg = fake_asterisk.leg_for_caller(cid)
    fake_asterisk.drop_event_sockets(refuse_for=0.8)
    wait_for(lambda: not gw.events.connected, 3, "gateway notices the drop")
    n = len(leg.received)
    call.endpoint.play(b"\x33" * 1600, "during-outage")
    wait_for(lambda: len(leg.received) >= n + 10, 3, "media keeps flowing without ARI")
    wait_for(lambda: gw.events.connected and gw.counters["reconciliations"] >= 2, 6, "reconnected and reconciled")
    assert call.state == "active" and gw.calls.get(cid) is call
    assert fake_asterisk.leftovers("centralita-")["bridges"] == [call.bridge_id]
    fake_asterisk.caller_hangup(cid)  # events flow again after the reconnect
    assert_call_left_nothing(fake_asterisk, gw, [call.call_id])


def test_hangup_during_ari_outage_is_found_by_reconciliation(fake_asterisk, gw):
    cid = fake_asterisk.new_call("100")
    call = active_call(gw, cid)
    fake_asterisk.drop_event_sockets(refuse_for=0.8)
    wait_for(lambda: not gw.events.connected, 3, "drop noticed")
    fake_asterisk.caller_hangup(cid)  # its events are lost: nobody subscribed
    time.sleep(0.1)
    assert call.state == "active"
    wait_for(lambda: gw.events.connected, 6, "reconnected")
    assert_call_left_nothing(fake_asterisk, gw, [call.call_id])
    assert gw.outcomes == {"caller_hangup": 1}


def test_caller_whose_stasis_start_was_missed_is_adopted(fake_asterisk, gw):
    fake_asterisk.drop_event_sockets(refuse_for=0.8)
    wait_for(lambda: not gw.events.connected, 3, "drop noticed")
    # a caller enters our Stasis app while the gateway's socket is down (the app still counts as
    # registered for a moment in Asterisk): a listener that drops every event stands in for it
    deaf = type("Deaf", (), {"open": True, "apps": ["centralita"], "send_text": lambda self, text: None})()
    with fake_asterisk.lock:
        fake_asterisk.sockets.append(deaf)
        cid = fake_asterisk.new_call("100")
        fake_asterisk.sockets.remove(deaf)
    wait_for(lambda: gw.events.connected, 6, "reconnected")
    call = active_call(gw, cid)
    assert gw.counters["calls_adopted"] == 1
    fake_asterisk.caller_hangup(cid)
    assert_call_left_nothing(fake_asterisk, gw, [call.call_id])


def test_orphans_of_a_previous_run_are_removed_at_connect(fake_asterisk):
    with fake_asterisk.lock:
        fake_asterisk.bridges["centralita-bridge-old"] = {"name": "", "channels": [], "creationtime": ""}
        fake_asterisk.bridges["someone-elses"] = {"name": "", "channels": [], "creationtime": ""}
    gateway = make_gateway(fake_asterisk, scripted.factory())
    try:
        wait_for(lambda: "centralita-bridge-old" not in fake_asterisk.bridges, 3, "orphan bridge removed")
        assert "someone-elses" in fake_asterisk.bridges  # never touch what is not ours
        assert gateway.counters["orphans_removed"] == 1
    finally:
        gateway.shutdown(grace=0)
        with fake_asterisk.lock:
            fake_asterisk.bridges.clear()


def test_graceful_shutdown_refuses_new_calls_lets_active_finish_then_tears_down(fake_asterisk):
    gateway = make_gateway(fake_asterisk, scripted.factory())
    httpd = start_http(gateway, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        assert requests.get(base + "/readyz", timeout=2).status_code == 200
        assert requests.get(base + "/healthz", timeout=2).status_code == 200
        cid = fake_asterisk.new_call("100")
        call = active_call(gateway, cid)
        metrics = requests.get(base + "/metrics", timeout=2).text
        assert "centralita_gateway_calls_active 1.0" in metrics
        assert "centralita_gateway_barge_in_gate_ms 0.0" in metrics  # scripted sessions: no gate declared
        assert "centralita_gateway_rtp_packets_sent_total" in metrics
        assert fake_asterisk.password not in metrics
        import threading

        t = threading.Thread(target=gateway.shutdown, kwargs={"grace": 0.6})
        started = time.monotonic()
        t.start()
        wait_for(lambda: requests.get(base + "/readyz", timeout=2).status_code == 503, 2, "not ready")
        late = fake_asterisk.new_call("100")
        wait_for(lambda: any(d["id"] == late for d in fake_asterisk.departed), 3, "new call refused")
        assert call.state == "active"  # still talking during the grace period
        t.join(10)
        assert time.monotonic() - started >= 0.6
        assert call.outcome == "shutdown" and fake_asterisk.hung_up.get(cid) == "ari"
        assert_call_left_nothing(fake_asterisk, gateway, [call.call_id])
        assert gateway.refusals == {"draining": 1}
    finally:
        gateway.shutdown(grace=0)
        httpd.shutdown()
        httpd.server_close()


def test_readyz_is_503_while_ari_is_down(fake_asterisk, gw):
    httpd = start_http(gw, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        fake_asterisk.drop_event_sockets(refuse_for=1.0)
        wait_for(lambda: requests.get(base + "/readyz", timeout=2).status_code == 503, 3, "not ready")
        assert "ARI" in requests.get(base + "/readyz", timeout=2).text
        assert requests.get(base + "/healthz", timeout=2).status_code == 200
        wait_for(lambda: requests.get(base + "/readyz", timeout=2).status_code == 200, 6, "ready again")
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_caller_hangs_up_during_setup_nothing_is_left(fake_asterisk, gw):
    fake_asterisk.media_stasis_delay = 1.0  # setup is stuck waiting for the media channel
    cid = fake_asterisk.new_call("100")
    wait_for(lambda: any(p == "/ari/channels/externalMedia" for _, p, _ in fake_asterisk.requests), 3, "media asked")
    call = gw.calls[cid]
    fake_asterisk.caller_hangup(cid)
    assert_call_left_nothing(fake_asterisk, gw, [call.call_id])
    assert call.outcome == "caller_hangup" and call.voice is None  # never got as far as Realtime


@pytest.mark.parametrize(
    "method,nickname,outcome",
    [
        ("POST", "externalMedia", "ari_error"),
        ("POST", "create", "ari_error"),
        ("POST", "addChannel", "ari_error"),
        ("POST", "answer", "ari_error"),
    ],
)
def test_an_ari_step_failing_tears_down_what_was_made(fake_asterisk, gw, method, nickname, outcome):
    fake_asterisk.fail_next[(method, nickname)] = 500
    cid = fake_asterisk.new_call("100")
    wait_for(lambda: gw.outcomes.get(outcome) == 1, 5, f"call ended by {outcome}")
    assert fake_asterisk.hung_up.get(cid) == "ari"  # the caller is not left in silence
    assert_call_left_nothing(fake_asterisk, gw)


def test_in_process_media_engine_mode_serves_a_call_too(fake_asterisk):
    gateway = make_gateway(fake_asterisk, scripted.factory(), media_process=False)
    try:
        cid = fake_asterisk.new_call("100")
        call = active_call(gateway, cid)
        leg = fake_asterisk.leg_for_caller(cid)
        wait_for(lambda: len(leg.payload_bytes()) >= len(GREETING), 3, "greeting")
        assert leg.payload_bytes()[: len(GREETING)] == GREETING
        fake_asterisk.caller_hangup(cid)
        assert_call_left_nothing(fake_asterisk, gateway, [call.call_id])
    finally:
        gateway.shutdown(grace=0)


def test_many_calls_in_a_row_leak_no_fd_thread_or_port(fake_asterisk, gw):
    import os
    import threading

    def one_call():
        cid = fake_asterisk.new_call("100")
        call = active_call(gw, cid)
        fake_asterisk.caller_hangup(cid)
        assert_call_left_nothing(fake_asterisk, gw, [call.call_id])

    one_call()  # warm-up: pools and keep-alive connections exist now
    fds = len(os.listdir("/proc/self/fd"))
    threads = threading.active_count()
    child_fds = len(os.listdir(f"/proc/{gw.media.pid}/fd"))
    for _ in range(15):
        one_call()
    assert len(os.listdir("/proc/self/fd")) <= fds + 2
    assert threading.active_count() <= threads + 1
    assert len(os.listdir(f"/proc/{gw.media.pid}/fd")) <= child_fds  # the media process too
    assert gw.outcomes == {"caller_hangup": 16}


def test_ended_calls_are_not_kept_alive_by_idle_workers(fake_asterisk, gw):
    """Issue 16 soak: nothing per call may outlive the call (a worker's last task held its call)."""
    import gc
    import weakref

    from call_gateway.app import Mailbox
    from call_gateway.call_session import CallSession

    refs = []
    for _ in range(6):
        cid = fake_asterisk.new_call("100")
        call = active_call(gw, cid)
        refs += [weakref.ref(call), weakref.ref(call.endpoint), weakref.ref(gw._mailboxes[cid])]
        fake_asterisk.caller_hangup(cid)
        assert_call_left_nothing(fake_asterisk, gw, [call.call_id])
        del call
    wait_for(lambda: not gw._mailboxes and not gw._by_media and not gw._bridges, 5, "registries empty")
    ScriptedSession.instances.clear()  # the test double's own record of its sessions
    end = time.monotonic() + 5  # the workers finish their last step and go idle
    while gc.collect() >= 0 and any(r() is not None for r in refs) and time.monotonic() < end:
        time.sleep(0.05)
    alive = [r() for r in refs if r() is not None]
    assert alive == [], f"objects of ended calls still alive: {alive}"
    assert not [o for o in gc.get_objects() if isinstance(o, (CallSession, Mailbox))]


@pytest.mark.parametrize("nickname", ["answer", "externalMedia", "create", "addChannel"])
def test_caller_hanging_up_at_each_setup_step_leaves_no_call_registered(fake_asterisk, gw, nickname):
    """The hangup lands while the gateway's request for that step is on its way to Asterisk."""
    handle = fake_asterisk.handle
    caller: list[str] = []

    def hang_up_first(method, path, query, body):
        step = path.rstrip("/").rsplit("/", 1)[-1]
        if caller and (step == nickname or (nickname == "create" and path == "/ari/bridges")):
            fake_asterisk.caller_hangup(caller.pop())
        return handle(method, path, query, body)

    fake_asterisk.handle = hang_up_first
    cid = fake_asterisk.new_call("100")
    caller.append(cid)
    wait_for(lambda: not caller, 15, f"caller hung up at {nickname}")  # a first call on a loaded machine
    assert_call_left_nothing(fake_asterisk, gw)
    assert gw.active_calls() == 0 and not gw._mailboxes and not gw._by_media and not gw._bridges
    assert gw.outcomes == {"caller_hangup": 1}
