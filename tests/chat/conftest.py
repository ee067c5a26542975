"""Live tool services for the chat and MCP tests: legal_search over a small generated corpus (SQLite,
real Whoosh index) and the kit's echo service; plus a dispatcher connected to both."""

from __future__ import annotations

import pytest

from centralita.dispatcher import Dispatcher
from centralita.server import ServiceSpec, start_server
from centralita_fixtures.echo_service import make_servicer
from centralita_fixtures.legal_sample import generate
from legal_search.ingest import ingest_records
from legal_search.server import service_spec
from legal_search.service import LegalSearch, open_store
from tests.kit import conftest as kit

CORPUS = 80
echo_build = kit.echo_build  # the kit's compiled echo protos, reused as they are


@pytest.fixture(scope="session")
def legal_corpus():
    pairs = list(generate(CORPUS, seed=11))
    return [d for d, _ in pairs], [t for _, t in pairs]


@pytest.fixture(scope="session")
def legal_service(legal_corpus, tmp_path_factory):
    """LegalSearch over the small corpus (SQLite file, real one-shard index)."""
    docs, _ = legal_corpus
    tmp = tmp_path_factory.mktemp("chat-legal")
    engine = open_store(f"sqlite:///{tmp / 'legal.db'}")
    report = ingest_records(engine, tmp / "index", docs, shards=1, progress=False)
    assert report.new == len(docs)
    svc = LegalSearch(engine, tmp / "index", shards=1, processes=False)
    yield svc
    svc.close()
    engine.dispose()


@pytest.fixture(scope="session")
def legal_server(legal_service):
    running = start_server([service_spec(legal_service)], port=0, host="127.0.0.1")
    yield running
    running.drain_and_stop(grace=0.5)


@pytest.fixture(scope="session")
def echo_server(echo_build):
    """The kit's echo service, once per session (the chat tests never change its state)."""
    pb2, pb2_grpc, descriptor_set = echo_build
    spec = ServiceSpec(
        pb2.DESCRIPTOR.services_by_name["EchoService"],
        make_servicer(pb2, pb2_grpc),
        pb2_grpc.add_EchoServiceServicer_to_server,
    )
    running = start_server([spec], port=0, host="127.0.0.1", descriptor_set=descriptor_set)
    yield running
    running.drain_and_stop(grace=0.2)


@pytest.fixture(scope="session")
def endpoints(legal_server, echo_server):
    return [f"127.0.0.1:{legal_server.port}", f"127.0.0.1:{echo_server.port}"]


@pytest.fixture(scope="session")
def dispatcher(endpoints):
    with Dispatcher.connect(endpoints) as d:
        yield d
