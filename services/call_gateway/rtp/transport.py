"""``MediaTransport`` over RTP: a UDP port from the pool, handed to the media engine (in or out of process)."""

from __future__ import annotations

from call_gateway.media_transport import CallMedia, ExternalMedia, MediaUnavailable

from .endpoint import PortAllocator, PortsExhausted
from .engine import MediaEngine
from .media_process import MediaProcess


class RtpTransport:
    """Per-call RTP endpoints for ARI externalMedia (``encapsulation=rtp``, ``transport=udp``)."""

    def __init__(
        self, ports: PortAllocator, media: MediaEngine | MediaProcess, *, batch_frames: int, external_media_host: str
    ) -> None:
        self.ports = ports
        self.media = media
        self.batch_frames = batch_frames
        self.external_media_host = external_media_host

    def open(self, call_id: str) -> CallMedia:
        try:
            sock = self.ports.allocate()
        except PortsExhausted as exc:
            raise MediaUnavailable(str(exc)) from exc
        return self.media.open_endpoint(
            sock, call_id=call_id, batch_frames=self.batch_frames, release=self.ports.release
        )

    def start(self) -> None:
        self.media.start()

    def alive(self) -> bool:
        return self.media.alive()

    def stop(self) -> None:
        self.media.stop()

    def in_use(self) -> int:
        return self.ports.in_use()

    def external_media(self, media: CallMedia) -> ExternalMedia:
        """Asterisk sends u-law RTP over UDP to this endpoint's port (it is the client; we bind)."""
        return ExternalMedia(
            format="ulaw",
            encapsulation="rtp",
            transport="udp",
            connection_type="client",
            direction="both",
            external_host=f"{self.external_media_host}:{media.port}",
        )
