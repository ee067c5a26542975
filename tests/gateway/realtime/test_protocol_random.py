"""Random interleavings of server events, tool results and time against the core, with a simulated server.

Invariants: never a response.create while a response is active or another request is pending (the
core sees every event at once here, so there is no excuse), at most one function_call_output per
call_id, and once everything settles every call_id has exactly one output.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from call_gateway.realtime.protocol import Interrupt, RealtimeProtocol, RunTool, Send, ToolInfo
from centralita.dispatcher import ToolResult
from centralita_fixtures.realtime_rig import PROFILE

TOOLS = {"q": ToolInfo("q", "query", 2.0, ""), "act": ToolInfo("act", "action", 2.0, "")}
STEPS = [
    "vad_response",
    "serve_request",
    "audio",
    "function_call",
    "partial_call",
    "finish",
    "cancel",
    "speech_started",
    "speech_stopped",
    "tool_result",
    "tick",
    "ack",
]


@dataclass
class Sim:
    core: RealtimeProtocol
    now: float = 0.0
    active: str | None = None
    active_calls: list[dict] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)
    running: list[str] = field(default_factory=list)
    outputs: dict[str, int] = field(default_factory=dict)
    unacked: list[str] = field(default_factory=list)
    seen_calls: set[str] = field(default_factory=set)
    n: int = 0

    def feed(self, actions) -> None:
        for action in actions:
            if isinstance(action, Send):
                event = action.event
                kind = event["type"]
                if kind == "response.create":
                    assert self.active is None, f"response.create while {self.active} is active"
                    assert not self.requests, "two response.create pending"
                    self.requests.append(dict(event))
                elif kind == "conversation.item.create":
                    cid = event["item"]["call_id"]
                    self.outputs[cid] = self.outputs.get(cid, 0) + 1
                    assert self.outputs[cid] == 1, f"second output for {cid}"
                    self.unacked.append(cid)
                elif kind == "response.cancel" and self.active is not None:
                    self.receive(self._done("cancelled"))
            elif isinstance(action, RunTool):
                self.running.append(action.call_id)
            elif isinstance(action, Interrupt):
                self.feed(self.core.interrupted({i: 20 for i in action.item_ids}, self.now))

    def receive(self, event: dict) -> None:
        if event["type"] == "response.created":
            self.active = event["response"]["id"]
            self.active_calls = []
        elif event["type"] == "response.done":
            self.active = None
        self.feed(self.core.receive(event, self.now))

    def _done(self, status: str) -> dict:
        return {
            "type": "response.done",
            "response": {"id": self.active, "status": status, "output": list(self.active_calls)},
        }

    def step(self, name: str, pick: int) -> None:
        self.now += 0.05
        self.n += 1
        if name == "vad_response" and self.active is None:
            # VAD starts a response while our request is still on the wire: the server then refuses it
            self.receive(
                {
                    "type": "response.created",
                    "response": {"id": f"vad{self.n}", "conversation_id": "conv", "metadata": None},
                }
            )
            while self.requests:
                refused = self.requests.pop(0)
                self.receive(
                    {
                        "type": "error",
                        "error": {
                            "type": "invalid_request_error",
                            "code": "conversation_already_has_active_response",
                            "event_id": refused["event_id"],
                        },
                    }
                )
        elif name == "serve_request" and self.requests:
            request = self.requests.pop(0)
            body = request.get("response") or {}
            conv = None if body.get("conversation") == "none" else "conv"
            self.receive(
                {
                    "type": "response.created",
                    "response": {"id": f"r{self.n}", "conversation_id": conv, "metadata": body.get("metadata")},
                }
            )
        elif name == "audio" and self.active is not None:
            self.receive(
                {
                    "type": "response.output_audio.delta",
                    "response_id": self.active,
                    "item_id": f"i_{self.active}",
                    "delta": "AAAAAAAAAAAAAAAAAAAAAA==",
                }
            )
        elif name == "function_call" and self.active is not None:
            cid, tool = f"c{self.n}", ("q", "act", "ghost")[pick % 3]
            self.seen_calls.add(cid)
            item = {"type": "function_call", "call_id": cid, "name": tool, "arguments": "{}"}
            self.active_calls.append(item)
            self.receive({"type": "response.output_item.added", "response_id": self.active, "item": item})
            self.receive(
                {
                    "type": "response.function_call_arguments.done",
                    "response_id": self.active,
                    "call_id": cid,
                    "name": tool,
                    "arguments": "{}",
                }
            )
        elif name == "partial_call" and self.active is not None:
            # the item is announced, its arguments never finish; half the time response.done lists it
            cid = f"p{self.n}"
            self.seen_calls.add(cid)
            item = {"type": "function_call", "call_id": cid, "name": "q", "arguments": ""}
            if pick % 2:
                self.active_calls.append({**item, "arguments": "{}"})
            self.receive({"type": "response.output_item.added", "response_id": self.active, "item": item})
            self.receive(
                {
                    "type": "response.function_call_arguments.delta",
                    "response_id": self.active,
                    "call_id": cid,
                    "delta": '{"q',
                }
            )
        elif name == "finish" and self.active is not None:
            self.receive(self._done("completed"))
        elif name == "cancel" and self.active is not None:
            self.receive(self._done("cancelled"))
        elif name == "speech_started":
            self.receive({"type": "input_audio_buffer.speech_started"})
        elif name == "speech_stopped":
            self.receive({"type": "input_audio_buffer.speech_stopped"})
        elif name == "tool_result" and self.running:
            cid = self.running.pop(pick % len(self.running))
            ok = pick % 4 != 0
            result = ToolResult("q", True, {"r": 1}) if ok else ToolResult.failure("q", "UNAVAILABLE", "down")
            self.feed(self.core.tool_finished(cid, result, self.now))
        elif name == "tick":
            self.now += pick % 3
            self.feed(self.core.tick(self.now))
        elif name == "ack" and self.unacked:
            cid = self.unacked.pop(0)
            self.receive({"type": "conversation.item.added", "item": {"type": "function_call_output", "call_id": cid}})

    def settle(self) -> None:
        self.receive({"type": "input_audio_buffer.speech_stopped"})
        for _ in range(200):
            if self.active is not None:
                self.receive(self._done("completed"))
            elif self.requests:
                self.step("serve_request", 0)
            elif self.running:
                self.step("tool_result", 1)
            elif self.unacked:
                self.step("ack", 0)
            else:
                self.now += 3
                self.feed(self.core.tick(self.now))
                if not (self.active or self.requests or self.running or self.unacked):
                    return
        raise AssertionError("the core never settled")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(STEPS), st.integers(0, 11)), max_size=60))
@example([("vad_response", 0), ("function_call", 8)])  # VAD races the greeting; the model calls an unknown tool
def test_random_interleavings_keep_the_invariants(steps) -> None:
    core = RealtimeProtocol(PROFILE, TOOLS, [], holding_delay=0.3, tool_guard=0.5)
    sim = Sim(core)
    sim.receive({"type": "session.created", "session": {}})
    sim.receive({"type": "session.updated", "session": {}})
    for name, pick in steps:
        sim.step(name, pick)
    sim.settle()
    assert {c: n for c, n in sim.outputs.items() if n != 1} == {}
    assert sim.seen_calls <= set(sim.outputs), f"calls without output: {sim.seen_calls - set(sim.outputs)}"
    for cid in sim.outputs:
        assert json.loads(core.calls[cid].result.output_json()) is not None
