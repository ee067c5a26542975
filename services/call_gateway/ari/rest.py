"""ARI REST: one method per endpoint the gateway uses, over one pooled ``requests.Session``.

Credentials live only in the session's auth object: never in a URL, a log line or an exception.
Every error comes back as ``AriError`` with the HTTP status and Asterisk's ``{"message"}``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter

if TYPE_CHECKING:
    from call_gateway.media_transport import ExternalMedia

log = logging.getLogger(__name__)


class AriError(RuntimeError):
    def __init__(self, status: int, message: str, method: str = "", path: str = "") -> None:
        super().__init__(f"ARI {method} {path} -> {status}: {message}")
        self.status = status
        self.message = message


def _q(segment: str) -> str:
    return quote(segment, safe="")


class AriRest:
    def __init__(
        self, base_url: str, username: str, password: str, *, timeout: float = 5.0, pool_size: int = 32
    ) -> None:
        self.base = base_url.rstrip("/") + "/ari"
        self.timeout = timeout
        self._http = requests.Session()
        self._http.auth = (username, password)
        self._http.headers["Accept"] = "application/json"
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
        self._http.mount("http://", adapter)
        self._http.mount("https://", adapter)
        self.requests_total = 0

    def close(self) -> None:
        self._http.close()

    def _call(
        self, method: str, path: str, params: dict[str, Any] | None = None, body: dict[str, Any] | None = None
    ) -> Any:
        clean = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        self.requests_total += 1
        try:
            resp = self._http.request(method, self.base + path, params=clean, json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            raise AriError(0, f"transport error: {type(exc).__name__}", method, path) from None
        if resp.status_code >= 400:
            try:
                message = resp.json().get("message", "")
            except ValueError:
                message = resp.text[:200]
            raise AriError(resp.status_code, message, method, path)
        if resp.status_code == 204 or not resp.content:
            return None
        return resp.json()

    # -- channels ----------------------------------------------------------------------------------
    def list_channels(self) -> list[dict]:
        return self._call("GET", "/channels") or []

    def get_channel(self, channel_id: str) -> dict:
        return self._call("GET", f"/channels/{_q(channel_id)}")

    def answer(self, channel_id: str) -> None:
        self._call("POST", f"/channels/{_q(channel_id)}/answer")

    def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self._call("DELETE", f"/channels/{_q(channel_id)}", {"reason": reason})

    def continue_in_dialplan(self, channel_id: str) -> None:
        self._call("POST", f"/channels/{_q(channel_id)}/continue")

    def set_variable(self, channel_id: str, variable: str, value: str) -> None:
        self._call("POST", f"/channels/{_q(channel_id)}/variable", {"variable": variable, "value": value})

    def play(self, channel_id: str, media: str, *, lang: str | None = None, playback_id: str | None = None) -> dict:
        """Start playing ``media`` (e.g. ``sound:an-error-has-occurred``) to the channel; the returned
        Playback ends with a ``PlaybackFinished`` event carrying the same id."""
        return self._call(
            "POST",
            f"/channels/{_q(channel_id)}/play",
            {"media": media, "lang": lang or None, "playbackId": playback_id},
        )

    def external_media(self, *, app: str, channel_id: str, media: ExternalMedia, data: str = "") -> dict:
        """Create the media channel with the parameters the media transport asked for (``media``)."""
        params = {"app": app, "channelId": channel_id, **media.params(), "data": data or None}
        return self._call("POST", "/channels/externalMedia", params)

    # -- sounds -------------------------------------------------------------------------------------
    def get_sound(self, sound_id: str) -> dict:
        """A sound's formats and languages (404 when Asterisk has no such sound in any language)."""
        return self._call("GET", f"/sounds/{_q(sound_id)}")

    # -- bridges -----------------------------------------------------------------------------------
    def list_bridges(self) -> list[dict]:
        return self._call("GET", "/bridges") or []

    def create_bridge(self, bridge_id: str, name: str = "", bridge_type: str = "mixing") -> dict:
        params = {"type": bridge_type, "bridgeId": bridge_id, "name": name or None}
        return self._call("POST", "/bridges", params)

    def add_channel(self, bridge_id: str, channel_ids: list[str] | str) -> None:
        channels = channel_ids if isinstance(channel_ids, str) else ",".join(channel_ids)
        self._call("POST", f"/bridges/{_q(bridge_id)}/addChannel", {"channel": channels})

    def destroy_bridge(self, bridge_id: str) -> None:
        self._call("DELETE", f"/bridges/{_q(bridge_id)}")


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
