"""Process entry point: ``centralita serve mikrotik`` runs ``main()``."""

from __future__ import annotations

import logging
from collections.abc import Callable

from centralita.config import load_env, setup_logging
from centralita.mikrotik.v1 import mikrotik_pb2, mikrotik_pb2_grpc
from centralita.server import ServiceSpec, serve

from .client import safe_url
from .queries import MikrotikQueries
from .servicer import TOOL_NAME, MikrotikServicer
from .settings import Settings

log = logging.getLogger("mikrotik_tool")


def service_spec(queries: MikrotikQueries) -> ServiceSpec:
    """How the kit registers this service (also used by tests and ``make run``)."""
    return ServiceSpec(
        descriptor=mikrotik_pb2.DESCRIPTOR.services_by_name["MikrotikService"],
        servicer=MikrotikServicer(queries),
        register=mikrotik_pb2_grpc.add_MikrotikServiceServicer_to_server,
    )


def tool_filter(settings: Settings) -> Callable[[str], bool]:
    """``ENABLE_MIKROTIK_TOOLS=false`` keeps the RPC but removes the tool from the catalog."""
    return lambda name: settings.enable_tools or name != TOOL_NAME


def tool_filter_from_env() -> tuple[Callable[[str], bool], str]:
    """What ``centralita tools`` applies to the local protos: this server's filter, and why."""
    settings = Settings.from_env()
    return tool_filter(settings), f"ENABLE_MIKROTIK_TOOLS={'true' if settings.enable_tools else 'false'}"


def main() -> None:
    load_env()
    setup_logging("mikrotik_tool")
    settings = Settings.from_env()
    if not settings.api_url_set:
        log.warning("MIKROTIK_API_URL is not set: using the default %s", settings.api_url)
    log.info(
        "MikroTik API %s, pool %d (at most %d questions on the wire, %d waiting), cache ttl %.0fs (%d entries), "
        "timeouts %.0fs/%.0fs, tools %s",
        safe_url(settings.api_url),
        settings.pool_size,
        settings.max_connections,
        settings.max_waiting,
        settings.cache_ttl,
        settings.cache_size,
        settings.query_timeout,
        settings.broad_query_timeout,
        "on" if settings.enable_tools else "OFF",
    )
    queries = MikrotikQueries(settings)
    serve(
        [service_spec(queries)],
        port=settings.port,
        metrics_port=settings.metrics_port,
        host=settings.bind_host,
        max_workers=2,  # every handler is async: threads only for the odd sync servicer
        tool_filter=tool_filter(settings),
    )


if __name__ == "__main__":
    main()
