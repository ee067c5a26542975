"""The one interface a call uses for the voice model that talks to the caller.

Today the only engine is OpenAI Realtime (``call_gateway.realtime.RealtimeEngine``). Another backend
(a profile's ``"backend": "live"``) would be one new module implementing ``VoiceEngine`` plus an entry
in ``call_gateway.factories`` (``VOICE_BACKENDS``, ``voice_engine_factory``); ``CallSession`` would
not change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from call_gateway.audio import AudioSink
from centralita.profiles import Profile


class VoiceEngine(Protocol):
    """One call's conversation with a voice model (``RealtimeEngine`` is one)."""

    def start(self) -> None:
        """Connect and configure; returns once the model is ready (raises if it cannot be)."""

    def send_caller_audio(self, ulaw: bytes) -> None:
        """Caller audio, G.711 u-law at 8 kHz, any length."""

    def close(self, reason: str = "hangup") -> None:
        """End the conversation; idempotent."""


class VoiceEngineFactory(Protocol):
    """Builds the engine of one call; ``on_end(reason)`` is called once if the engine ends by itself."""

    def __call__(
        self, *, profile: Profile, sink: AudioSink, on_end: Callable[[str], None], call_id: str
    ) -> VoiceEngine: ...
