"""The two choices a call does not make itself: which media transport carries its audio
(``MEDIA_TRANSPORT``) and which voice engine talks to the caller (a profile's ``backend``).

Each is one table here: a new transport or engine is a new module plus one entry, and ``CallSession``
does not change. Unknown values are refused at startup with the accepted ones named.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from call_gateway.audio import AudioSink
from call_gateway.settings import GatewaySettings
from call_gateway.voice_engine import VoiceEngine, VoiceEngineFactory
from centralita.config import ConfigError
from centralita.profiles import Profile, ProfileBook

if TYPE_CHECKING:
    from call_gateway.realtime.settings import RealtimeSettings
    from call_gateway.rtp.transport import RtpTransport
    from centralita.dispatcher import Dispatcher

MEDIA_TRANSPORTS = ("rtp",)  # MEDIA_TRANSPORT values
VOICE_BACKENDS = ("realtime",)  # a profile's "backend" values


def media_transport_for(settings: GatewaySettings) -> RtpTransport:
    """The media transport ``settings.media_transport`` names (raises ``ConfigError`` for any other)."""
    if settings.media_transport not in MEDIA_TRANSPORTS:
        raise ConfigError(
            f"MEDIA_TRANSPORT={settings.media_transport!r} is not supported; accepted: {', '.join(MEDIA_TRANSPORTS)}"
        )
    from call_gateway.rtp import MediaEngine, MediaProcess, PortAllocator, RtpTransport

    ports = PortAllocator(settings.rtp_bind_host, settings.rtp_port_min, settings.rtp_port_max)
    prio = settings.rtp_realtime_priority
    media = MediaProcess(realtime_priority=prio) if settings.media_process else MediaEngine(realtime_priority=prio)
    return RtpTransport(
        ports, media, batch_frames=settings.rtp_batch_frames, external_media_host=settings.external_media_host
    )


def check_backends(profiles: ProfileBook) -> None:
    """Every profile names a voice backend this gateway has (raises ``ConfigError`` naming the profile)."""
    for profile in profiles.profiles.values():
        if profile.backend not in VOICE_BACKENDS:
            raise ConfigError(
                f"profile {profile.name!r}: backend {profile.backend!r} is not supported; "
                f"accepted: {', '.join(VOICE_BACKENDS)}"
            )


def voice_engine_factory(
    profiles: ProfileBook, dispatcher: Dispatcher, realtime: RealtimeSettings
) -> VoiceEngineFactory:
    """Builds each call's engine by its profile's ``backend`` (checked here, once, for every profile)."""
    check_backends(profiles)
    from call_gateway.realtime.engine import RealtimeEngine

    def make(*, profile: Profile, sink: AudioSink, on_end: Callable[[str], None], call_id: str) -> VoiceEngine:
        # one backend today; a second is one more branch on profile.backend
        return RealtimeEngine(
            profile=profile, dispatcher=dispatcher, sink=sink, settings=realtime, on_end=on_end, call_id=call_id
        )

    return make
