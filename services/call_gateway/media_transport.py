"""The one interface a call uses for its media path to Asterisk, whatever carries it.

Today the only transport is RTP over UDP behind ARI externalMedia (``call_gateway.rtp.RtpTransport``).
Asterisk's WebSocket media (``MEDIA_TRANSPORT=websocket``) would be one new module implementing these
two Protocols; ``CallSession`` would not change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from call_gateway.audio import AudioSink


class CallMedia(AudioSink, Protocol):
    """One call's media endpoint: model audio out (``AudioSink``), caller audio in (``on_caller_audio``)."""

    port: int  # where Asterisk sends the caller's audio
    on_caller_audio: Callable[[bytes], None] | None  # u-law in batches; None until the voice engine runs

    def set_remote(self, host: str, port: int) -> None:
        """Where Asterisk expects our audio, when externalMedia told us (else learnt from its first packet)."""

    def close(self) -> None:
        """Stop sending and receiving and give the endpoint's resources back; idempotent."""


class MediaTransport(Protocol):
    """Opens per-call media endpoints; ``CallSession`` knows nothing else about the transport."""

    def open(self, call_id: str) -> CallMedia:
        """A fresh endpoint for ``call_id``; raises ``MediaUnavailable`` when none can be had (refuse the call)."""

    def in_use(self) -> int:
        """Endpoints open now (for the refusal log line)."""

    def external_host(self, media: CallMedia) -> str:
        """The ``external_host`` of ARI externalMedia for this endpoint."""


class MediaUnavailable(RuntimeError):
    """No media endpoint can be opened for a new call (e.g. every RTP port is in use): refuse the call."""
