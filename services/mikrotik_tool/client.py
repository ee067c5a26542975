"""HTTP client of the MikroTik API: one asyncio ``httpx.AsyncClient`` per process.

The seed opened a new TCP connection per question (plain ``requests.post``). Here one pooled
client keeps up to ``pool_size`` idle connections alive, and at most ``max_connections``
questions are on the wire at once: that is the real capacity of the API, so more questions wait
(a future each, no thread) for a free connection, and only when ``max_waiting`` are already
waiting is a question refused at once (``ApiBusy``). ``GET /health`` does not queue behind
questions: it has connections of its own above that bound.

Every call gets a total budget in seconds (already capped by the caller's gRPC deadline): it
bounds the wait for a connection, the connect, the headers and the whole body. Failures become
the typed errors of ``errors`` and never leak the URL or library messages to the caller.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from .errors import ApiBadResponse, ApiBusy, ApiFailed, ApiHttpError, ApiTimeout, ApiUnreachable, MikrotikError

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20
HEALTH_CONNECTIONS = 2  # beyond max_connections, so a saturated API can still be probed


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
    """Talks to one MikroTik API base URL; share one instance per process, use it from one event loop."""

    def __init__(
        self,
        base_url: str,
        *,
        pool_size: int = 8,
        connect_timeout: float = 3.0,
        max_connections: int = 32,
        max_waiting: int = 1000,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = connect_timeout
        self.pool_size = pool_size
        self.max_connections = max(1, max_connections)
        self.max_waiting = max(0, max_waiting)
        self.waiting = 0  # questions waiting for a free connection right now
        self.in_use = 0  # questions on the wire right now
        self._slots = asyncio.Semaphore(self.max_connections)
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        """Created on first use, inside the event loop that will drive it."""
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.base_url,
                # No environment proxies or .netrc: the API lives on the ISP's LAN.
                trust_env=False,
                follow_redirects=False,  # a redirect is not an answer (and would turn the POST into a GET)
                limits=httpx.Limits(
                    max_connections=self.max_connections + HEALTH_CONNECTIONS,
                    max_keepalive_connections=self.pool_size,
                ),
                headers={"Accept": "application/json", "User-Agent": "centralita-mikrotik-tool/2"},
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            http, self._http = self._http, None
            await http.aclose()

    def forget(self) -> None:
        """Drop the client without awaiting (its loop may be gone); its sockets close with it."""
        self._http = None

    # -- public calls -------------------------------------------------------------------------

    async def query(self, question: str, *, timeout: float) -> ApiAnswer:
        """``POST /query``; ``timeout`` is the total budget in seconds. Raises ``MikrotikError``."""
        if timeout <= 0:
            raise ApiTimeout("no time left before the caller's deadline")
        started = time.monotonic()
        deadline = started + timeout
        payload = {"question": question, "timeout": max(1, math.floor(timeout))}
        await self._take_slot(deadline)
        try:
            status, body = await self._exchange("POST", "/query", deadline, json_body=payload)
        finally:
            self.in_use -= 1
            self._slots.release()
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

    async def health(self, *, timeout: float) -> HealthReport:
        """``GET /health``; never raises, a failure is reported in the result."""
        started = time.monotonic()

        def elapsed() -> float:
            return (time.monotonic() - started) * 1000.0

        try:
            if timeout <= 0:
                raise ApiTimeout("no time left before the caller's deadline")
            status, body = await self._exchange("GET", "/health", started + timeout)
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

    async def _take_slot(self, deadline: float) -> None:
        """A connection slot, waited for until ``deadline``; refused at once when the queue is full."""
        if self._slots.locked():
            if self.waiting >= self.max_waiting:
                raise ApiBusy(
                    f"{self.max_connections} questions on the wire and {self.waiting} waiting for a connection"
                )
            self.waiting += 1
            try:
                async with asyncio.timeout_at(_loop_time(deadline)):
                    await self._slots.acquire()
            except TimeoutError:
                raise ApiTimeout("no connection to the API became free within the budget") from None
            finally:
                self.waiting -= 1
        else:
            await self._slots.acquire()
        self.in_use += 1

    async def _exchange(
        self, method: str, path: str, deadline: float, *, json_body: dict[str, Any] | None = None
    ) -> tuple[int, bytes]:
        """One HTTP exchange finished by ``deadline`` (monotonic); returns (status, body)."""
        for attempt in (1, 2):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ApiTimeout("no time left for the request")
            try:
                return await self._send(method, path, deadline, json_body)
            except _StaleConnection as exc:
                # A pooled keep-alive connection the server closed just as we reused it fails at
                # once with a disconnect; one immediate retry on a fresh connection covers it.
                if attempt == 2:
                    raise ApiUnreachable(f"connection failed: {exc.reason}") from None
                log.debug("retrying once after a dropped keep-alive connection")
        raise AssertionError("unreachable")

    async def _send(
        self, method: str, path: str, deadline: float, json_body: dict[str, Any] | None
    ) -> tuple[int, bytes]:
        remaining = deadline - time.monotonic()
        connect = min(self.connect_timeout, remaining)
        timeout = httpx.Timeout(remaining, connect=connect, pool=remaining)
        client = self._client()
        request = client.build_request(method, path, json=json_body, timeout=timeout)
        headers_seen = False
        try:
            async with asyncio.timeout_at(_loop_time(deadline)):
                response = await client.send(request, stream=True)
                headers_seen = True
                try:
                    return response.status_code, await _read_body(response)
                finally:
                    await response.aclose()
        except TimeoutError:
            raise ApiTimeout(
                "the answer did not arrive before the deadline"
                if headers_seen
                else f"no answer within {remaining:.2f} s"
            ) from None
        except httpx.ConnectTimeout:
            if time.monotonic() >= deadline - 0.01:
                raise ApiTimeout(f"connect did not finish within the budget of {remaining:.2f} s") from None
            raise ApiUnreachable(f"connect timed out after {connect:.2f} s") from None
        except httpx.TimeoutException:
            raise ApiTimeout(f"no answer within {remaining:.2f} s") from None
        except httpx.ConnectError as exc:
            raise ApiUnreachable(f"connection failed: {_reason(exc)}") from None
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            if not headers_seen:
                raise _StaleConnection(_reason(exc)) from None
            raise ApiUnreachable(f"connection lost mid-response: {_reason(exc)}") from None
        except httpx.HTTPError as exc:
            raise ApiUnreachable(f"request failed: {type(exc).__name__}") from None


class _StaleConnection(Exception):
    """The server dropped the connection before answering anything (retried once)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def _read_body(response: httpx.Response) -> bytes:
    """The whole body, never more than ``MAX_BODY_BYTES`` (the deadline is the caller's timeout)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiBadResponse(f"body larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _loop_time(deadline: float) -> float:
    """A ``time.monotonic`` deadline on the running loop's clock."""
    loop = asyncio.get_running_loop()
    return loop.time() + (deadline - time.monotonic())


def _reason(exc: BaseException) -> str:
    """Innermost exception type name: enough for a log line, no URL."""
    seen: BaseException = exc
    for _ in range(10):
        nxt = seen.__cause__ or seen.__context__
        if nxt is None or nxt is seen:
            break
        seen = nxt
    return type(seen).__name__


def _parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiBadResponse("body is not JSON") from exc
    if not isinstance(data, dict):
        raise ApiBadResponse("body is not a JSON object")
    return data
