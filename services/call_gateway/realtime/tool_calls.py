"""Function calls in the Realtime core: collect arguments, run (queries at once, ``action`` tools once their
response completed), one ``function_call_output`` per call, the follow-up's apology instructions.

A part of ``RealtimeProtocol`` (mixed into it; it reads and writes the protocol's state), kept apart
because it is one job: the life of a tool call.
"""

from __future__ import annotations

from typing import Any

from call_gateway.realtime import events as ev
from call_gateway.realtime import prompts
from call_gateway.realtime.state import (
    Action,
    FollowUp,
    RunTool,
    Send,
    ToolCall,
)
from centralita.tool_types import ToolResult


class ToolCalls:
    """Tool-call handling of ``RealtimeProtocol`` (see the module docstring)."""

    def tool_finished(self, call_id: str, result: ToolResult, now: float) -> list[Action]:
        """A tool run by ``RunTool`` resolved."""
        call = self.calls.get(call_id)
        if call is not None and call.started_at is not None:  # late results count too: the tool took that long
            self.metrics.record_tool_latency(call.name or "?", now - call.started_at)
        if call is None or call.output_sent or call.state != "running" or self.state == "ended":
            return []  # cancelled or timed out meanwhile: its output was already sent
        return [*self._output(call, result), *self._schedule(now)]

    def _on_output_item_added(self, event: dict[str, Any], now: float) -> list[Action]:
        item = event.get("item") or {}
        if item.get("type") == "function_call" and item.get("call_id"):
            call = self._call(item["call_id"], event.get("response_id", ""))
            call.name = call.name or item.get("name", "")
        return []

    def _on_arguments_delta(self, event: dict[str, Any], now: float) -> list[Action]:
        call_id = event.get("call_id")
        if call_id:
            call = self._call(call_id, event.get("response_id", ""))
            if call.state == "collecting":
                call.arguments += event.get("delta", "")
        return []

    def _on_arguments_done(self, event: dict[str, Any], now: float) -> list[Action]:
        call_id = event.get("call_id")
        if not call_id:
            return []
        call = self._call(call_id, event.get("response_id", ""))
        if call.state != "collecting":
            return []  # duplicate done
        call.name = event.get("name") or call.name
        if "arguments" in event:
            call.arguments = event["arguments"]
        return self._arguments_ready(call, now)

    def _on_item_added(self, event: dict[str, Any], now: float) -> list[Action]:
        item = event.get("item") or {}
        call = self.calls.get(item.get("call_id", ""))
        if item.get("type") == "function_call_output" and call is not None:
            call.output_acked = True
        return []

    def _call(self, call_id: str, response_id: str) -> ToolCall:
        call = self.calls.get(call_id)
        if call is None:
            call = self.calls[call_id] = ToolCall(call_id=call_id, response_id=response_id)
            turn = self.by_response.get(response_id) or self.active
            if turn is not None:
                call.response_id = call.response_id or turn.response_id
                turn.call_ids.append(call_id)
        return call

    def _arguments_ready(self, call: ToolCall, now: float) -> list[Action]:
        call.received_at = now
        info = self.tools.get(call.name)
        if info is None:
            result = ToolResult.failure(
                call.name, "UNKNOWN_TOOL", f"{call.name!r} is not a tool of this line; available: {sorted(self.tools)}"
            )
            return self._output(call, result)
        if info.kind == "action":
            turn = self.by_response.get(call.response_id)
            if turn is None or turn.status != "completed":
                call.state = "deferred"  # runs only once its response completed
                return []
        return self._run(call, now)

    def _run(self, call: ToolCall, now: float) -> list[Action]:
        info = self.tools[call.name]
        call.state = "running"
        call.started_at = now
        call.hold_at = now + self.holding_delay
        call.guard_at = now + info.timeout + self.tool_guard if info.timeout else None
        return [RunTool(call.call_id, call.name, call.arguments, info.timeout)]

    def _output(self, call: ToolCall, result: ToolResult) -> list[Action]:
        call.output_sent = True
        call.state = "output"
        call.result = result
        self.metrics.record_function_call(call.name or "?", result.code)
        event = ev.function_call_output(call.call_id, result.output_json(), self._eid("out"))
        return [Send(event, call_id=call.call_id)]

    def _outputs_sent(self, followup: FollowUp) -> bool:
        return all(self.calls[c].output_sent for c in followup.call_ids)

    def _outputs_acked(self, followup: FollowUp) -> bool:
        return all(self.calls[c].output_acked for c in followup.call_ids)

    def _followup_instructions(self, fu: FollowUp) -> str | None:
        failed = [self.calls[c].result for c in fu.call_ids]
        says = [r.say for r in failed if r is not None and not r.ok and r.say and r.code != "CANCELLED"]
        if not says:
            return None  # the session instructions apply
        return prompts.tool_apology(self.profile.instructions, " ".join(dict.fromkeys(says)))
