"""The one interface a call uses for its media path to Asterisk, whatever carries it.

Today the only transport is RTP over UDP behind ARI externalMedia (``call_gateway.rtp.RtpTransport``).
Asterisk's WebSocket media (``MEDIA_TRANSPORT=websocket``) would be one new module implementing these
two Protocols plus an entry in ``call_gateway.factories`` (``MEDIA_TRANSPORTS``, ``media_transport_for``);
``CallSession`` would not change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from call_gateway.audio import AudioSink


@dataclass(frozen=True)
class ExternalMedia:
    """The ARI ``POST /channels/externalMedia`` parameters a transport asks for (``ari/rest.py`` sends them
    as they are): RTP wants ``ulaw``/``rtp``/``udp`` with ``external_host``; Asterisk's WebSocket media
    would want ``transport=websocket``, ``encapsulation=none`` and ``connection_type=server``, no host."""

    format: str
    encapsulation: str
    transport: str
    connection_type: str
    direction: str = "both"
    external_host: str | None = None  # host:port Asterisk sends the media to (client mode)

    def params(self) -> dict[str, str | None]:
        return {
            "external_host": self.external_host,
            "format": self.format,
            "encapsulation": self.encapsulation,
            "transport": self.transport,
            "connection_type": self.connection_type,
            "direction": self.direction,
        }


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

    def start(self) -> None:
        """Start what the transport shares between calls (e.g. the RTP media process)."""

    def alive(self) -> bool:
        """Can it carry calls now (the gateway is not ready otherwise)?"""

    def stop(self) -> None:
        """Stop it at shutdown, after the last call."""

    def open(self, call_id: str) -> CallMedia:
        """A fresh endpoint for ``call_id``; raises ``MediaUnavailable`` when none can be had (refuse the call)."""

    def in_use(self) -> int:
        """Endpoints open now (for the refusal log line)."""

    def external_media(self, media: CallMedia) -> ExternalMedia:
        """What ARI externalMedia must be asked for so that Asterisk's media channel reaches ``media``."""


class MediaUnavailable(RuntimeError):
    """No media endpoint can be opened for a new call (e.g. every RTP port is in use): refuse the call."""
