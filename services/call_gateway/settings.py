"""The gateway's settings (environment variables of ``call_gateway/README.md``), a plain value.

Apart from ``app.py`` so that ``CallSession`` can name the type without importing the ``Gateway``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from centralita.config import env_bool, env_float, env_int, env_str


@dataclass(frozen=True)
class GatewaySettings:
    ari_url: str = "http://127.0.0.1:8088"
    ari_app: str = "centralita"
    ari_username: str = ""
    ari_password: str = field(default="", repr=False)
    media_transport: str = "rtp"  # how a call's audio reaches Asterisk: call_gateway.factories.MEDIA_TRANSPORTS
    external_media_host: str = "127.0.0.1"
    rtp_bind_host: str = "0.0.0.0"
    rtp_port_min: int = 20000
    rtp_port_max: int = 20999
    rtp_batch_frames: int = 3  # caller audio is appended to Realtime every 60 ms
    http_port: int = 8080
    http_host: str = "0.0.0.0"
    drain_seconds: float = 30.0  # SIGTERM: time active calls get to finish
    ari_ping_interval: float = 10.0
    ari_ping_timeout: float = 5.0
    ari_timeout: float = 5.0
    media_ready_timeout: float = 5.0  # externalMedia channel must reach Stasis within this
    drain_audio_timeout: float = 5.0  # Realtime ended: let the queued goodbye play this long at most
    workers: int = 32
    refuse_action: str = "continue"  # refused calls: "continue" in the dialplan or "hangup"
    profiles_path: str = ""
    media_process: bool = True  # RTP pacer/receiver in their own process (no GIL contention)
    rtp_realtime_priority: int = 10  # SCHED_RR priority for the pacer thread if allowed; 0 = never ask
    apology_media: str = "prompt"  # Realtime lost: "prompt" (ours, RTP), "sound:<id>" (Asterisk), "" = off
    apology_lang: str = "es"
    apology_timeout: float = 6.0  # ARI: wait this for PlaybackFinished; prompt: this beyond its length
    prompts_dir: str = ""  # "" = the prompts shipped in call_gateway/prompts

    @classmethod
    def from_env(cls) -> GatewaySettings:
        d = cls()
        return cls(
            ari_url=env_str("ARI_URL", d.ari_url),
            ari_app=env_str("ARI_APP", d.ari_app),
            ari_username=env_str("ASTERISK_USERNAME", ""),
            ari_password=env_str("ASTERISK_PASSWORD", ""),
            media_transport=env_str("MEDIA_TRANSPORT", d.media_transport).strip().lower(),
            external_media_host=env_str("EXTERNAL_MEDIA_HOST", d.external_media_host),
            rtp_bind_host=env_str("RTP_BIND_HOST", d.rtp_bind_host),
            rtp_port_min=env_int("RTP_PORT_MIN", d.rtp_port_min),
            rtp_port_max=env_int("RTP_PORT_MAX", d.rtp_port_max),
            rtp_batch_frames=env_int("RTP_INPUT_BATCH_FRAMES", d.rtp_batch_frames),
            http_port=env_int("GATEWAY_HTTP_PORT", d.http_port),
            http_host=env_str("GATEWAY_HTTP_HOST", d.http_host),
            drain_seconds=env_float("GATEWAY_DRAIN_SECONDS", d.drain_seconds),
            ari_ping_interval=env_float("ARI_PING_INTERVAL", d.ari_ping_interval),
            ari_ping_timeout=env_float("ARI_PING_TIMEOUT", d.ari_ping_timeout),
            media_ready_timeout=env_float("ARI_MEDIA_READY_TIMEOUT", d.media_ready_timeout),
            workers=env_int("GATEWAY_WORKERS", d.workers),
            refuse_action=env_str("GATEWAY_REFUSE_ACTION", d.refuse_action),
            profiles_path=env_str("PROFILES_PATH", ""),
            media_process=env_bool("RTP_MEDIA_PROCESS", d.media_process),
            rtp_realtime_priority=env_int("RTP_REALTIME_PRIORITY", d.rtp_realtime_priority),
            apology_media=env_str("GATEWAY_APOLOGY_MEDIA", d.apology_media, allow_empty=True),
            apology_lang=env_str("GATEWAY_APOLOGY_LANG", d.apology_lang),
            apology_timeout=env_float("GATEWAY_APOLOGY_TIMEOUT", d.apology_timeout),
            prompts_dir=env_str("GATEWAY_PROMPTS_DIR", ""),
        )
