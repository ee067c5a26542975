"""Sans-IO core of the Realtime voice session (h11 style).

``RealtimeProtocol`` never touches a socket, a thread or the clock: the driver feeds it parsed server
events, tool results, sink measurements and the current time, and executes the actions it returns
(send a client event, play audio, interrupt playback, run a tool, end the session).

Invariants it keeps (DESIGN §8):
- at most ONE response in flight (requested or active), whatever its purpose: greeting, tool follow-up,
  holding phrase, apology, or one the server created on VAD. The holding phrase is an out-of-band
  response (``conversation: "none"``, empty ``input``) so it never enters the conversation, but it still
  occupies the single slot: the API would allow it next to an in-band response, yet two concurrent
  responses would interleave their audio into the one outbound sink, and the follow-up could not be
  ordered after it. The holding phrase is therefore only requested when nothing else is in flight, and
  the tool follow-up waits for it;
- exactly one ``function_call_output`` per ``call_id`` (result, error, timeout or cancellation);
- one ``response.create`` after a response with function calls is done AND all its outputs are sent
  (skipped when an in-band response started after the server acknowledged every output with
  ``conversation.item.added``, e.g. the one VAD creates when the caller spoke meanwhile; never sent
  while the caller is speaking);
- an ``action`` tool only runs once its response completed; a cancelled response's calls get a
  ``CANCELLED`` output and never run;
- barge-in: the sink is emptied first, then each interrupted in-conversation item is truncated at
  ``min(played, received)`` ms if that is > 0 and something went unheard; the active response is cancelled
  unless the server does it itself (``interrupt_response`` on an in-band response);
- barge-in gating (``barge_in_gate_ms`` > 0): the session is configured with ``create_response`` and
  ``interrupt_response`` false. ``speech_started`` pauses the sink (frames held, ``Pause``); the driver's
  ``VoiceMeter`` then says whether the sound lasts: ``speech`` (a voiced run of the gate's length) →
  ``Interrupt`` as above; ``quiet`` (a short noise that ended) → ``Resume``, nothing truncated or cancelled,
  and that segment gets no answer; still undecided at ``gate_ms`` after ``speech_started`` → the core waits
  for the caller's audio (it can lag the server's event under load) up to 400 ms, then a sound still going
  interrupts and anything else resumes. Every other caller turn gets one ``response.create`` of ours once it is
  over (``speech_stopped``), or the tool follow-up when a tool of the call is still running;
- a query still running when its response is cancelled (the caller talked over it) keeps running: its
  output is sent and the follow-up comes once the caller's turn is over;
- the holding phrase is for dead air: requested from ``tick`` only, after ``holding_delay`` and once the
  sink has played what was already said; the closing apology (server error, session limit) uses the
  same out-of-band mechanism;
- before the server's 60-minute cap the core asks, at a pause, for a renewal (``Renew``): the driver
  opens a fresh session whose instructions carry the transcript so far, then switches to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from call_gateway.realtime import events as ev
from call_gateway.realtime import prompts
from call_gateway.realtime.barge_in import BargeIn
from call_gateway.realtime.ending import Ending
from call_gateway.realtime.metrics import CallMetrics
from call_gateway.realtime.model_output import AUDIO_DELTA_TYPES, AUDIO_DONE_TYPES, ModelOutput
from call_gateway.realtime.renewal import SessionLimit
from call_gateway.realtime.state import (
    AbandonTool,
    Action,
    End,
    FollowUp,
    Gate,
    Interrupt,
    Log,
    Pause,
    Play,
    Renew,
    ResponseTurn,
    Resume,
    RunTool,
    Send,
    ToolCall,
    ToolInfo,
)
from call_gateway.realtime.timers import Timers
from call_gateway.realtime.tool_calls import ToolCalls
from call_gateway.realtime.transcript import Transcript
from centralita.profiles import Profile

__all__ = [
    "AbandonTool",
    "Action",
    "End",
    "FollowUp",
    "Gate",
    "Interrupt",
    "Log",
    "Pause",
    "Play",
    "RealtimeProtocol",
    "Renew",
    "ResponseTurn",
    "Resume",
    "RunTool",
    "Send",
    "ToolCall",
    "ToolInfo",
]
from centralita.tool_types import ToolResult

MAX_RESPONSE_RETRIES = 3


class RealtimeProtocol(ToolCalls, BargeIn, Ending):
    def __init__(
        self,
        profile: Profile,
        tools: Mapping[str, ToolInfo],
        tool_schemas: Iterable[dict[str, Any]],
        metrics: CallMetrics | None = None,
        *,
        holding_delay: float = 1.5,
        tool_guard: float = 1.0,
        session_limit: float = 3600.0,
        session_margin: float = 60.0,
        ending_grace: float = 8.0,
        request_timeout: float = 5.0,
        renew: bool = True,
        greet: bool = True,
        barge_in_gate_ms: int = 0,
    ) -> None:
        self.profile = profile
        self.tools = dict(tools)
        self.tool_schemas = list(tool_schemas)
        self.metrics = metrics or CallMetrics(profile=profile.name)
        self.holding_delay = holding_delay
        self.tool_guard = tool_guard
        self.session_limit = session_limit
        self.session_margin = session_margin
        self.ending_grace = ending_grace
        self.request_timeout = request_timeout
        self.renew = renew
        self.greet = greet
        # Barge-in gating (see the module docstring): with a gate the server neither interrupts nor creates
        # responses by itself; the gateway pauses, judges and answers each caller turn itself.
        self.gate_ms = max(0, int(barge_in_gate_ms))
        self.gated = self.gate_ms > 0
        td = profile.turn_detection
        self.server_creates = td.create_response and not self.gated
        self.server_interrupts = td.interrupt_response and not self.gated
        self.gate: Gate | None = None
        self.turn_pending = False  # a caller turn is over and owed an answer (we create responses ourselves)
        self.renew_requested = False
        self.renew_check_at: float | None = None
        self.limit = SessionLimit(session_limit, session_margin, renew)
        self.transcript = Transcript()

        self.state = "new"  # new → configuring → ready → ending → ended
        self.end_reason = ""
        self.session_started_at: float | None = None
        self.ending_deadline: float | None = None
        self.apology_requested = False
        self.requested: ResponseTurn | None = None
        self.active: ResponseTurn | None = None
        self.turns: list[ResponseTurn] = []  # every turn, oldest first (small: one per model response)
        self.by_response: dict[str, ResponseTurn] = {}
        self.calls: dict[str, ToolCall] = {}
        self.followup: FollowUp | None = None
        self.caller_speaking = False
        self.speech_stopped_at: float | None = None
        self._seq = 0
        self.events_received = 0
        self.timers = Timers(self)  # composed parts: they read and write this protocol's state
        self.output = ModelOutput(self)
        self._handlers: dict[str, Callable[[dict[str, Any], float], list[Action]]] = {
            "session.created": self._on_session_created,
            "session.updated": self._on_session_updated,
            "response.created": self._on_response_created,
            "response.output_item.added": self._on_output_item_added,
            "response.function_call_arguments.delta": self._on_arguments_delta,
            "response.function_call_arguments.done": self._on_arguments_done,
            "response.done": self._on_response_done,
            "input_audio_buffer.speech_started": self._on_speech_started,
            "input_audio_buffer.speech_stopped": self._on_speech_stopped,
            "error": self._on_error,
            "conversation.item.added": self._on_item_added,
            "conversation.item.created": self._on_item_added,
            "response.output_audio_transcript.done": self.output.on_assistant_transcript,
            "conversation.item.input_audio_transcription.completed": self.output.on_caller_transcript,
            **{t: self.output.on_audio_delta for t in AUDIO_DELTA_TYPES},
            **{t: self.output.on_audio_done for t in AUDIO_DONE_TYPES},
        }
        # Known events with nothing to do for us.
        self._ignored = frozenset(
            {
                "conversation.created",
                "conversation.item.done",
                "conversation.item.truncated",
                "conversation.item.deleted",
                "conversation.item.retrieved",
                "conversation.item.input_audio_transcription.delta",
                "conversation.item.input_audio_transcription.failed",
                "conversation.item.input_audio_transcription.segment",
                "input_audio_buffer.committed",
                "input_audio_buffer.cleared",
                "input_audio_buffer.timeout_triggered",
                "rate_limits.updated",
                "response.output_item.done",
                "response.content_part.added",
                "response.content_part.done",
                "response.output_audio_transcript.delta",
                "response.output_text.delta",
                "response.output_text.done",
            }
        )

    # ------------------------------------------------------------ inputs

    def receive(self, event: dict[str, Any], now: float) -> list[Action]:
        """One parsed server event."""
        self.events_received += 1
        if self.state == "ended":
            return []
        handler = self._handlers.get(event.get("type", ""))
        if handler is None:
            if event.get("type") not in self._ignored:
                self.metrics.dropped_events += 1
            return []
        actions = handler(event, now)
        return actions + self._schedule(now)

    def tick(self, now: float, audio_pending_ms: int = 0, caller_voice: str = "quiet") -> list[Action]:
        """Timers (``timers.py``): gate, tool guards, lost requests, session limit, ending, holding phrases."""
        return self.timers.tick(now, audio_pending_ms, caller_voice)

    def next_deadline(self) -> float | None:
        return self.timers.next_deadline()

    def _audio_turns(self) -> list[ResponseTurn]:
        return self.output.audio_turns()

    @property
    def in_flight(self) -> ResponseTurn | None:
        return self.requested or self.active

    # ------------------------------------------------------------ handlers

    def _on_session_created(self, event: dict[str, Any], now: float) -> list[Action]:
        if self.state != "new":
            return []
        self.state = "configuring"
        self.session_started_at = now
        return [Send(ev.session_update(self.profile, self.tool_schemas, self._eid("session"), gated=self.gated))]

    def _on_session_updated(self, event: dict[str, Any], now: float) -> list[Action]:
        if self.state != "configuring":
            return []
        self.state = "ready"
        if self.profile.greeting and self.greet:
            instructions = f"{self.profile.instructions}\n\n{prompts.say_exactly(self.profile.greeting)}"
            return self._request("greeting", now, instructions=instructions)
        return []

    def _on_response_created(self, event: dict[str, Any], now: float) -> list[Action]:
        response = event.get("response") or {}
        if self._is_requested(response):
            turn, self.requested = self.requested, None
        else:
            turn = ResponseTurn(purpose="server")
            self.turns.append(turn)
        turn.response_id = response.get("id", "")
        turn.created_at = now
        self.active = turn
        self.by_response[turn.response_id] = turn
        self.metrics.responses += 1
        if turn.purpose == "tools":
            self.followup = None
        elif self.followup is not None and not turn.out_of_band and self._outputs_acked(self.followup):
            self.followup = None  # this in-band response already sees every output
        if turn.cancel_on_created and not turn.cancel_sent:
            turn.cancel_sent = True
            return [Send(ev.response_cancel(self._eid("cancel"), turn.response_id or None))]
        return []

    def _is_requested(self, response: dict[str, Any]) -> bool:
        """Is this response the one we asked for? Our requests carry their purpose in ``metadata``, which the
        server echoes; should it not, a response without metadata whose conversation (none = out of band)
        fits the pending request is taken to be it."""
        wanted = self.requested
        if wanted is None:
            return False
        metadata = response.get("metadata") or {}
        if ev.PURPOSE_KEY in metadata:
            return metadata[ev.PURPOSE_KEY] == wanted.purpose
        if "conversation_id" in response:
            return (response["conversation_id"] is None) == wanted.out_of_band
        return False  # a request that never starts is given up by ``tick`` after ``request_timeout``

    def _on_response_done(self, event: dict[str, Any], now: float) -> list[Action]:
        response = event.get("response") or {}
        self.metrics.record_usage(response.get("usage"))  # tokens and estimated cost (usage.py)
        rid = response.get("id", "")
        turn = self.by_response.get(rid) or self.active
        if turn is None:
            return []
        turn.done_at = now
        turn.status = response.get("status", "")
        if self.active is turn:
            self.active = None
        actions: list[Action] = []
        for item in response.get("output") or []:  # calls whose argument events we never saw
            if item.get("type") == "function_call" and item.get("call_id"):
                call = self._call(item["call_id"], rid)
                call.name = call.name or item.get("name", "")
                if call.state == "collecting" and turn.status == "completed":
                    call.arguments = item.get("arguments", call.arguments)
                    actions += self._arguments_ready(call, now)
        completed = turn.status == "completed"
        kept = False
        for call_id in turn.call_ids:
            call = self.calls[call_id]
            if call.output_sent:
                continue
            if not completed and call.state == "running":
                kept = True  # the caller talked over it: its result is still delivered, answered after the turn
            elif completed and call.state == "deferred":
                actions += self._run(call, now)
            elif completed and call.state == "collecting":  # arguments never completed: still one output
                reason = f"the arguments of {call.name or 'the call'} never arrived complete"
                actions += self._output(call, ToolResult.failure(call.name, "INVALID_ARGUMENT", reason))
            elif not completed:
                reason = f"the response was {turn.status or 'interrupted'} before {call.name} finished"
                actions += self._output(call, ToolResult.failure(call.name, "CANCELLED", reason))
        if (completed or kept) and turn.call_ids:
            prior = self.followup.call_ids if self.followup else []
            self.followup = FollowUp(call_ids=prior + turn.call_ids)
        if self.state == "ending" and turn.purpose == "apology":
            actions.append(self._end())
        return actions

    # ------------------------------------------------------------ responses

    def _eid(self, prefix: str) -> str:
        self._seq += 1
        return f"gw_{prefix}_{self._seq}"

    def _request(
        self, purpose: str, now: float, *, instructions: str | None = None, out_of_band: bool = False
    ) -> list[Action]:
        turn = ResponseTurn(purpose=purpose, out_of_band=out_of_band, event_id=self._eid(purpose), requested_at=now)
        self.requested = turn
        self.turns.append(turn)
        return [Send(ev.response_create(turn.event_id, purpose, instructions=instructions, out_of_band=out_of_band))]

    def _schedule(self, now: float, holding: bool = False) -> list[Action]:
        """Ask for the next response if nothing is in flight (the one-response rule lives here).

        Holding phrases only start from ``tick``, which knows how much audio the sink still holds."""
        if (
            self.state == "ready"
            and self.renew
            and not self.renew_requested
            and self.session_started_at is not None
            and now >= self._renew_at()
        ):
            renew = self._maybe_renew(now)
            if renew:
                return renew
        if self.state not in ("ready", "ending") or self.in_flight is not None:
            return []
        if self.state == "ending":
            if self.apology_requested:
                return []
            self.apology_requested = True
            return self._request(
                "apology", now, instructions=prompts.say_exactly(self.profile.end_apology), out_of_band=True
            )
        if self.caller_speaking:
            return []
        fu = self.followup
        if fu is not None and not fu.requested and self._outputs_sent(fu):
            if fu.retries > MAX_RESPONSE_RETRIES:
                self.followup = None
                return [Log("warning", "tool follow-up response abandoned after repeated conflicts")]
            fu.requested = True
            self.turn_pending = False  # the follow-up also answers what the caller said meanwhile
            return self._request("tools", now, instructions=self._followup_instructions(fu))
        if self.turn_pending and (fu is None or fu.requested):
            self.turn_pending = False  # (a follow-up still waiting for a tool answers the turn when it comes)
            return self._request("turn", now)
        slow = [
            c
            for c in self.calls.values()
            if holding and c.state == "running" and not c.held and c.hold_at is not None and now >= c.hold_at
        ]
        if slow:
            for call in self.calls.values():
                if call.state == "running":
                    call.held = True
            phrase = next((self.tools[c.name].holding_phrase for c in slow if self.tools[c.name].holding_phrase), "")
            self.metrics.record_holding_phrase()
            instructions = prompts.say_exactly(phrase or self.profile.holding_phrase)
            return self._request("holding", now, instructions=instructions, out_of_band=True)
        return []
