"""What the model says, in the Realtime core: audio deltas to play (late ones of an interrupted response
dropped), the end of each audio item, and both sides' transcripts (for a renewed session's instructions).

A part composed into ``RealtimeProtocol`` (it reads and writes the protocol's turns and metrics).
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

from call_gateway.realtime import events as ev
from call_gateway.realtime.state import Action, Log, Play, ResponseTurn
from call_gateway.realtime.transcript import ASSISTANT, CALLER

if TYPE_CHECKING:
    from call_gateway.realtime.protocol import RealtimeProtocol

AUDIO_DELTA_TYPES = ("response.output_audio.delta", "response.audio.delta")  # second: legacy name, accepted
AUDIO_DONE_TYPES = ("response.output_audio.done", "response.audio.done")


class ModelOutput:
    """The model's audio and transcripts for one ``RealtimeProtocol``."""

    def __init__(self, protocol: RealtimeProtocol) -> None:
        self.p = protocol

    def on_assistant_transcript(self, event: dict[str, Any], now: float) -> list[Action]:
        p = self.p
        turn = p.by_response.get(event.get("response_id", ""))
        if turn is None or not turn.out_of_band:
            p.transcript.add(ASSISTANT, event.get("transcript") or "")
        return []

    def on_caller_transcript(self, event: dict[str, Any], now: float) -> list[Action]:
        p = self.p
        p.transcript.add(CALLER, event.get("transcript") or "")
        return []

    def on_audio_delta(self, event: dict[str, Any], now: float) -> list[Action]:
        p = self.p
        turn = p.by_response.get(event.get("response_id", ""))
        if turn is None or turn.interrupted or turn.cancel_sent or turn.done_at is not None:
            p.metrics.dropped_events += 1  # late audio of a cancelled/unknown response
            return []
        try:
            audio = base64.b64decode(event.get("delta", ""), validate=True)
        except (binascii.Error, ValueError):
            p.metrics.dropped_events += 1
            return [Log("warning", "undecodable audio delta dropped")]
        item_id = event.get("item_id", "")
        turn.audio_bytes[item_id] = turn.audio_bytes.get(item_id, 0) + len(audio)
        p.metrics.record_audio_out(len(audio) // ev.PCMU_BYTES_PER_MS)
        if p.speech_stopped_at is not None:
            p.metrics.record_turn_latency(now - p.speech_stopped_at)
            p.speech_stopped_at = None
        return [Play(audio, item_id)]

    def on_audio_done(self, event: dict[str, Any], now: float) -> list[Action]:
        p = self.p
        turn = p.by_response.get(event.get("response_id", ""))
        if turn is not None and event.get("item_id"):
            turn.audio_done.add(event["item_id"])
        return []

    def audio_turns(self) -> list[ResponseTurn]:
        p = self.p
        return [t for t in p.turns[-4:] if t.audio_bytes]
