"""Process entry point: `centralita serve legal_search` runs `main()`."""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

from centralita.config import env_float, env_int, env_str, load_env, setup_logging
from centralita.legal.v1 import legal_pb2, legal_pb2_grpc
from centralita.server import ServiceSpec, serve
from legal_search.service import LegalSearch
from legal_search.servicer import LegalSearchServicer
from legal_search.settings import Settings

log = logging.getLogger("legal_search")


def service_spec(service: LegalSearch) -> ServiceSpec:
    """How the kit registers this service (also used by tests)."""
    return ServiceSpec(
        descriptor=legal_pb2.DESCRIPTOR.services_by_name["LegalSearchService"],
        servicer=LegalSearchServicer(service),
        register=legal_pb2_grpc.add_LegalSearchServiceServicer_to_server,
    )


def main() -> None:
    load_env()
    setup_logging("legal_search")
    settings = Settings.from_env()
    log.info(
        "database %s, index %s (%d shards, %s)",
        settings.db_url.split("@")[-1],
        settings.index_dir,
        settings.shards,
        f"search processes from {settings.processes_min_docs} docs"
        if settings.search_processes
        else "in-process search",
    )
    try:
        service = LegalSearch.open(settings)
    except SQLAlchemyError as exc:
        hint = "" if settings.migrate_on_start else " (LEGAL_MIGRATE_ON_START=false: run `centralita legal-migrate`)"
        log.error("the legal database cannot be used: %s%s", exc.__class__.__name__, hint)
        raise SystemExit(1) from None
    _ = service.searcher  # start the shard searchers now, not on the first call
    stop_watch = service.watch(env_float("LEGAL_SYNC_SECONDS", 30.0))
    try:
        serve(
            [service_spec(service)],
            port=env_int("LEGAL_SEARCH_PORT", 50052),
            metrics_port=env_int("LEGAL_SEARCH_METRICS_PORT", 9102),
            host=env_str("GRPC_BIND_HOST", "0.0.0.0"),
        )
    finally:
        stop_watch.set()
        service.close()


if __name__ == "__main__":
    main()
