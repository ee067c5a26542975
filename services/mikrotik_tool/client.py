"""HTTP client of the MikroTik API: one pooled keep-alive session per process.

The seed opened a new TCP connection per question (plain ``requests.post``). Here one
``requests.Session`` with an ``HTTPAdapter`` pool keeps up to ``pool_size`` idle connections
alive; more concurrent calls still proceed (extra connections are opened and dropped) so a
slow or hung API can never make unrelated callers queue for a pooled connection.

Every call gets a total budget in seconds (already capped by the caller's gRPC deadline): it
bounds the connect, each socket read and the whole body read. Failures become the typed errors
of ``errors`` and never leak the URL or library messages to the caller.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from dataclasses import dataclass
from http.client import RemoteDisconnected
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ProtocolError, ReadTimeoutError
from urllib3.util.retry import Retry

from .errors import ApiBadResponse, ApiFailed, ApiHttpError, ApiTimeout, ApiUnreachable, MikrotikError

log = logging.getLogger(__name__)


class _QuietPoolFull(logging.Filter):
    """Extra connections beyond the pool are dropped on purpose (see module doc): not a warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Connection pool is full")


logging.getLogger("urllib3.connectionpool").addFilter(_QuietPoolFull())

MAX_BODY_BYTES = 1 << 20
_CHUNK = 16 * 1024


@dataclass(frozen=True)
class ApiAnswer:
    """A successful answer of ``POST /query``."""

    response: str
    upstream_ms: float


@dataclass(frozen=True)
class HealthReport:
    """Result of ``GET /health``; ``error`` is empty when healthy."""

    healthy: bool
    status: str = ""
    service: str = ""
    version: str = ""
    latency_ms: float = 0.0
    error: str = ""


def safe_url(url: str) -> str:
    """The URL without user:password, for logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class MikrotikClient:
    """Talks to one MikroTik API base URL; thread-safe, share one instance per process."""

    def __init__(self, base_url: str, *, pool_size: int = 8, connect_timeout: float = 3.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = connect_timeout
        self.pool_size = pool_size
        session = requests.Session()
        # No environment proxies or .netrc: the API lives on the ISP's LAN.
        session.trust_env = False
        # No library retries: a failed question is retried by the caller (the model), not behind its
        # back. The one exception is in ``_exchange``: a dropped keep-alive connection.
        retry = Retry(total=0, connect=0, read=0, redirect=0, status=0, other=0, raise_on_status=False)
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, pool_block=False, max_retries=retry)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers.update({"Accept": "application/json", "User-Agent": "centralita-mikrotik-tool/1"})
        self._session = session

    def close(self) -> None:
        self._session.close()

    # -- public calls -------------------------------------------------------------------------

    def query(self, question: str, *, timeout: float) -> ApiAnswer:
        """``POST /query``; ``timeout`` is the total budget in seconds. Raises ``MikrotikError``."""
        if timeout <= 0:
            raise ApiTimeout("no time left before the caller's deadline")
        started = time.monotonic()
        payload = {"question": question, "timeout": max(1, math.floor(timeout))}
        status, body = self._exchange("POST", "/query", timeout, json_body=payload)
        if not 200 <= status < 300:
            raise ApiHttpError(status)
        data = _parse_json_object(body)
        success = data.get("success")
        if success is False:
            raise ApiFailed(data.get("response") or data.get("error") or data.get("message") or "")
        response = data.get("response")
        if success is not True or not isinstance(response, str):
            raise ApiBadResponse("answer lacks success:true or a string response")
        return ApiAnswer(response=response, upstream_ms=(time.monotonic() - started) * 1000.0)

    def health(self, *, timeout: float) -> HealthReport:
        """``GET /health``; never raises, a failure is reported in the result."""
        started = time.monotonic()

        def elapsed() -> float:
            return (time.monotonic() - started) * 1000.0

        try:
            if timeout <= 0:
                raise ApiTimeout("no time left before the caller's deadline")
            status, body = self._exchange("GET", "/health", timeout)
            if not 200 <= status < 300:
                raise ApiHttpError(status)
            data = _parse_json_object(body)
        except MikrotikError as exc:
            return HealthReport(healthy=False, latency_ms=elapsed(), error=f"{exc.kind}: {exc.detail}")
        fields = {k: v if isinstance(v := data.get(k), str) else "" for k in ("status", "service", "version")}
        healthy = fields["status"] == "ok"
        return HealthReport(
            healthy=healthy,
            latency_ms=elapsed(),
            error="" if healthy else f"bad_response: status is {fields['status']!r}",
            **fields,
        )

    # -- plumbing -----------------------------------------------------------------------------

    def _exchange(
        self, method: str, path: str, budget: float, *, json_body: dict[str, Any] | None = None
    ) -> tuple[int, bytes]:
        """One HTTP exchange bounded by ``budget`` seconds in total; returns (status, body)."""
        deadline = time.monotonic() + budget
        for attempt in (1, 2):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ApiTimeout("no time left for the request")
            try:
                resp = self._send(method, path, remaining, json_body)
                break
            except ApiUnreachable as exc:
                # A pooled keep-alive connection the server closed just as we reused it fails at
                # once with a disconnect; one immediate retry on a fresh connection covers it.
                if attempt == 2 or not _is_stale_disconnect(exc.__cause__):
                    raise
                log.debug("retrying once after a dropped keep-alive connection")
        try:
            body = self._read_body(resp, deadline)
        finally:
            resp.close()
        return resp.status_code, body

    def _send(self, method: str, path: str, budget: float, json_body: dict[str, Any] | None) -> requests.Response:
        """Send the request and read the headers within ``budget``; the body is left to stream."""
        deadline = time.monotonic() + budget
        connect = min(self.connect_timeout, budget)
        try:
            return self._session.request(
                method, self.base_url + path, json=json_body, timeout=(connect, budget), stream=True,
                allow_redirects=False,  # a redirect is not an answer (and would turn the POST into a GET)
            )
        except requests.exceptions.ConnectTimeout as exc:
            if time.monotonic() >= deadline - 0.01:
                raise ApiTimeout(f"connect did not finish within the budget of {budget:.2f} s") from exc
            raise ApiUnreachable(f"connect timed out after {connect:.2f} s") from exc
        except requests.exceptions.ReadTimeout as exc:
            raise ApiTimeout(f"no answer within {budget:.2f} s") from exc
        except requests.exceptions.ConnectionError as exc:
            if isinstance(_root(exc), TimeoutError):  # a read timeout reported as "connection aborted"
                raise ApiTimeout(f"no answer within {budget:.2f} s") from exc
            raise ApiUnreachable(f"connection failed: {_reason(exc)}") from exc
        except requests.exceptions.RequestException as exc:
            raise ApiUnreachable(f"request failed: {type(exc).__name__}") from exc

    @staticmethod
    def _read_body(resp: requests.Response, deadline: float) -> bytes:
        """Read the whole body, never past ``deadline`` and never more than ``MAX_BODY_BYTES``."""
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ApiTimeout("the answer's body did not arrive before the deadline")
                _shrink_socket_timeout(resp, remaining)
                # read1: whatever has arrived, so a trickling body cannot outlive the deadline.
                chunk = resp.raw.read1(_CHUNK, decode_content=True)
                if not chunk:
                    break
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise ApiBadResponse(f"body larger than {MAX_BODY_BYTES} bytes")
                chunks.append(chunk)
        except (ReadTimeoutError, TimeoutError) as exc:
            raise ApiTimeout("the answer's body stopped arriving") from exc
        except (ProtocolError, ConnectionError, OSError) as exc:
            raise ApiUnreachable(f"connection lost mid-response: {type(exc).__name__}") from exc
        return b"".join(chunks)


def _shrink_socket_timeout(resp: requests.Response, remaining: float) -> None:
    """Bound the next socket read by the time left (urllib3 resets it on the next request)."""
    conn = getattr(resp.raw, "connection", None)
    sock = getattr(conn, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.settimeout(max(remaining, 0.001))


def _root(exc: BaseException | None) -> BaseException | None:
    """The innermost cause (requests wraps urllib3, which wraps the socket error)."""
    seen = exc
    for _ in range(10):
        if seen is None:
            return None
        nxt = seen.__cause__ or seen.__context__
        if nxt is None and seen.args and isinstance(seen.args[-1], BaseException):
            nxt = seen.args[-1]
        reason = getattr(seen, "reason", None)
        if nxt is None and isinstance(reason, BaseException):
            nxt = reason
        if nxt is None or nxt is seen:
            return seen
        seen = nxt
    return seen


def _is_stale_disconnect(exc: BaseException | None) -> bool:
    """The server dropped a connection before answering anything (not a refusal or a timeout)."""
    root = _root(exc)
    return isinstance(root, (RemoteDisconnected, ConnectionResetError, BrokenPipeError))


def _reason(exc: BaseException) -> str:
    """Innermost exception type name: enough for a log line, no URL."""
    return type(_root(exc) or exc).__name__


def _parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiBadResponse("body is not JSON") from exc
    if not isinstance(data, dict):
        raise ApiBadResponse("body is not a JSON object")
    return data
