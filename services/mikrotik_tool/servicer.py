"""gRPC face of the tool: proto in, ``MikrotikQueries`` call, domain errors to status codes.

The status details are the Spanish sentence of the error: that is what the dispatcher passes
to the model and what the caller may hear.
"""

from __future__ import annotations

import grpc

from centralita.mikrotik.v1 import mikrotik_pb2, mikrotik_pb2_grpc

from .errors import (
    ApiBadResponse,
    ApiBusy,
    ApiFailed,
    ApiHttpError,
    ApiTimeout,
    ApiUnreachable,
    InvalidQuestion,
    MikrotikError,
)
from .queries import MikrotikQueries

SERVICE_NAME = mikrotik_pb2.DESCRIPTOR.services_by_name["MikrotikService"].full_name
TOOL_NAME = "consultar_mikrotik"


def status_for(error: MikrotikError) -> grpc.StatusCode:
    """The gRPC code of a domain error (retryable dependency problems are UNAVAILABLE)."""
    if isinstance(error, InvalidQuestion):
        return grpc.StatusCode.INVALID_ARGUMENT
    if isinstance(error, ApiBusy):
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    if isinstance(error, ApiTimeout):
        return grpc.StatusCode.DEADLINE_EXCEEDED
    if isinstance(error, ApiUnreachable):
        return grpc.StatusCode.UNAVAILABLE
    if isinstance(error, ApiHttpError):
        return grpc.StatusCode.UNAVAILABLE if error.status >= 500 else grpc.StatusCode.INTERNAL
    if isinstance(error, ApiBadResponse):
        return grpc.StatusCode.INTERNAL
    if isinstance(error, ApiFailed):
        # The API worked and said no (a router it cannot reach, a question it cannot parse). Not
        # UNKNOWN: that is what an unhandled exception becomes, and the kit logs it as a crash and
        # drops its sentence; FAILED_PRECONDITION keeps the API's reason in what the caller hears.
        return grpc.StatusCode.FAILED_PRECONDITION
    return grpc.StatusCode.INTERNAL


class MikrotikServicer(mikrotik_pb2_grpc.MikrotikServiceServicer):
    """Implements centralita.mikrotik.v1.MikrotikService."""

    def __init__(self, queries: MikrotikQueries) -> None:
        self.queries = queries

    async def aclose(self) -> None:
        """Called by the kit when the server stops: closes the HTTP client on its own loop."""
        await self.queries.aclose()

    async def ConsultarMikrotik(
        self, request: mikrotik_pb2.ConsultarMikrotikRequest, context: grpc.ServicerContext
    ) -> mikrotik_pb2.ConsultarMikrotikResponse:
        timeout = request.timeout if request.HasField("timeout") else None
        try:
            answer = await self.queries.ask(request.question, timeout=timeout, remaining=context.time_remaining())
        except MikrotikError as exc:
            await context.abort(status_for(exc), exc.sentence)
        return mikrotik_pb2.ConsultarMikrotikResponse(
            response=answer.response,
            cached=answer.cached,
            age_seconds=answer.age_seconds,
            upstream_ms=answer.upstream_ms,
        )

    async def GetApiHealth(
        self, request: mikrotik_pb2.GetApiHealthRequest, context: grpc.ServicerContext
    ) -> mikrotik_pb2.GetApiHealthResponse:
        report = await self.queries.health(remaining=context.time_remaining())
        return mikrotik_pb2.GetApiHealthResponse(
            healthy=report.healthy,
            status=report.status,
            service=report.service,
            version=report.version,
            latency_ms=round(report.latency_ms, 1),
            error=report.error,
        )
