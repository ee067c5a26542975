"""Live tool services for the end-to-end calls: mikrotik_tool over its simulator and legal_search over
a small generated corpus (SQLite + Whoosh in a temp dir), both real gRPC servers on free ports."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def tool_services(tmp_path_factory):
    from sqlalchemy import create_engine  # noqa: F401 - fail early if the stack is missing

    from centralita.dispatcher import Dispatcher
    from centralita.server import start_server
    from centralita_fixtures.legal_sample import generate
    from centralita_fixtures.mikrotik_simulator import MikrotikSimulator
    from legal_search.ingest import ingest_records
    from legal_search.server import service_spec as legal_spec
    from legal_search.service import LegalSearch, open_store
    from mikrotik_tool.queries import MikrotikQueries
    from mikrotik_tool.server import service_spec as mikrotik_spec
    from mikrotik_tool.server import tool_filter
    from mikrotik_tool.settings import Settings

    sim = MikrotikSimulator()
    sim.start()
    settings = Settings(
        api_url=sim.url,
        cache_ttl=30.0,
        pool_size=4,
        connect_timeout=1.0,
        query_timeout=5.0,
        broad_query_timeout=10.0,
        health_timeout=2.0,
    )
    queries = MikrotikQueries(settings)
    mk = start_server([mikrotik_spec(queries)], port=0, host="127.0.0.1", tool_filter=tool_filter(settings))

    tmp = tmp_path_factory.mktemp("legal-e2e")
    engine = open_store(f"sqlite:///{tmp / 'legal.db'}")
    docs = [d for d, _ in generate(60, seed=3)]
    ingest_records(engine, tmp / "index", docs, shards=1, progress=False)
    legal = LegalSearch(engine, tmp / "index", shards=1, processes=False)
    lg = start_server([legal_spec(legal)], port=0, host="127.0.0.1")

    dispatcher = Dispatcher.connect([f"127.0.0.1:{mk.port}", f"127.0.0.1:{lg.port}"])
    yield dispatcher
    dispatcher.close()
    mk.server.stop(0)
    lg.server.stop(0)
    queries.close()
    legal.close()
    sim.stop()
