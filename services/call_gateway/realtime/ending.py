"""How a Realtime session ends or renews itself: fatal errors, the 60-minute cap, the closing apology.

A part of ``RealtimeProtocol`` (mixed into it; it reads and writes the protocol's state).
"""

from __future__ import annotations

from typing import Any

from call_gateway.realtime import events as ev
from call_gateway.realtime import prompts
from call_gateway.realtime.state import (
    Action,
    End,
    Log,
    Renew,
    Send,
)

# Error codes after which the session cannot go on.
FATAL_ERROR_CODES = frozenset(
    {"session_expired", "beta_api_shape_disabled", "invalid_api_key", "insufficient_quota", "session_terminated"}
)
FATAL_ERROR_TYPES = frozenset({"server_error"})
# Harmless errors our own (racing) requests may provoke.
BENIGN_ERROR_CODES = frozenset({"response_cancel_not_active", "conversation_already_has_active_response"})


class Ending:
    """Ending and renewal of ``RealtimeProtocol`` (see the module docstring)."""

    def renewed_context(self) -> str:
        """The call so far, for the instructions of the session that replaces this one."""
        return prompts.renewed_session(self.transcript.recent())

    def _on_error(self, event: dict[str, Any], now: float) -> list[Action]:
        err = event.get("error") or {}
        code, etype = err.get("code") or "", err.get("type") or ""
        self.metrics.record_server_error(code or etype)
        message = f"realtime error type={etype} code={code} event_id={err.get('event_id')}: {err.get('message')}"
        if code in FATAL_ERROR_CODES or etype in FATAL_ERROR_TYPES:
            return [Log("error", message), *self._begin_ending("server_error", now)]
        failed = self.requested
        ours = failed is not None and err.get("event_id") in (None, "", failed.event_id)
        if code == "conversation_already_has_active_response" and failed is not None and ours:
            self.requested = None
            if failed.purpose == "tools" and self.followup is not None:
                self.followup.requested = False
                self.followup.retries += 1
            elif failed.purpose == "apology":
                self.apology_requested = False
        return [Log("info" if code in BENIGN_ERROR_CODES else "warning", message)]

    def _renew_at(self) -> float:
        assert self.session_started_at is not None
        return self.limit.renew_at(self.session_started_at)

    def _hard_end_at(self) -> float:
        assert self.session_started_at is not None
        return self.limit.hard_end_at(self.session_started_at)

    def _idle(self) -> bool:
        busy_calls = any(not c.output_sent for c in self.calls.values())
        return self.in_flight is None and not busy_calls and not self.caller_speaking and self.followup is None

    def _maybe_renew(self, now: float) -> list[Action]:
        if not self.renew or self.renew_requested:
            return []
        if not self._idle():
            self.renew_check_at = now + 0.25  # poll; also retried after every event
            return []
        self.renew_requested = True
        return [Renew(self.renewed_context())]

    def _begin_ending(self, reason: str, now: float) -> list[Action]:
        if self.state in ("ending", "ended"):
            return []
        if self.state != "ready":  # not even configured: nobody to talk to
            return [self._end(reason)]
        self.state = "ending"
        self.end_reason = reason
        self.ending_deadline = now + self.ending_grace
        self.followup = None
        actions: list[Action] = []
        if self.active is not None and not self.active.cancel_sent:
            self.active.cancel_sent = True
            actions.append(Send(ev.response_cancel(self._eid("cancel"), self.active.response_id or None)))
        if self.requested is not None:
            self.requested.cancel_on_created = True
        return actions

    def _end(self, reason: str | None = None) -> End:
        self.state = "ended"
        self.end_reason = reason or self.end_reason or "ended"
        return End(self.end_reason)
