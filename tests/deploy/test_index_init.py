"""The legal_search data path of the production manifests, against a real PostgreSQL.

Steps, each one the rendered container's own command and environment: a replica's `build-index` init
container before the load Job has run (fails: no schema yet, the kubelet retries it); the Job's
`migrate` init container and `ingest` container (a small corpus on the corpus volume); then two
replicas, each with its own emptyDir: `build-index` builds the Whoosh index from PostgreSQL, the server
starts on it (no rebuild) and answers search_content.
"""

from __future__ import annotations

import signal
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from centralita_fixtures.legal_sample import write_jsonl
from tests.deploy.test_containers import SERVING, Pod, grpc_probe, probe_budget, wait_for
from tests.helpers import postgres_available, postgres_url, require

DOCS = 120
pytestmark = pytest.mark.postgres


@pytest.fixture
def database():
    """A fresh PostgreSQL database (what LEGAL_DB_URL names in production), dropped afterwards."""
    require(postgres_available(), "PostgreSQL on 127.0.0.1:5432 (postgresql+psycopg://postgres@.../test)")
    name = f"centralita_deploy_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_url()).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_load_job_then_index_init_per_replica_serves_search(prod, tmp_path, database):
    secrets = {"LEGAL_DB_URL": database}

    early = Pod(prod, "Deployment", "legal-search", "build-index", tmp_path / "early", secrets=secrets)
    before = early.run()
    assert before.returncode != 0, "the index init must not create the schema (the load Job migrates)"

    migrate = Pod(prod, "Job", "legal-search-load", "migrate", tmp_path / "job", secrets=secrets)
    done = migrate.run()
    assert done.returncode == 0, done.stdout + done.stderr
    ingest = Pod(prod, "Job", "legal-search-load", "ingest", tmp_path / "job", secrets=secrets)
    write_jsonl(ingest.mounts["corpus"] / "normativas.jsonl", DOCS, seed=5)
    loaded = ingest.run(timeout=120)
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    with create_engine(database).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM normativas")).scalar() == DOCS

    for replica in ("replica-a", "replica-b"):
        init = Pod(prod, "Deployment", "legal-search", "build-index", tmp_path / replica, secrets=secrets)
        built = init.run(timeout=120)
        assert built.returncode == 0, built.stdout + built.stderr
        assert f"added={DOCS}" in built.stdout and "rebuilt=True" in built.stdout, built.stdout
        index_dir = init.env["LEGAL_INDEX_DIR"]
        assert index_dir.startswith(str(init.mounts["data"])), "the index lives on the pod's emptyDir"

    server = Pod(prod, "Deployment", "legal-search", "legal-search", tmp_path / "replica-b", secrets=secrets)
    assert server.env["LEGAL_INDEX_DIR"] == index_dir, "init container and server share the volume"
    server.start(GRPC_DRAIN_DELAY="0")  # the drain itself is test_containers' business
    try:
        c = server.c
        port = server.port(c["readinessProbe"]["grpc"]["port"])
        wait_for(
            lambda: grpc_probe(port, c["readinessProbe"]["grpc"]["service"]) == SERVING,
            probe_budget(c["startupProbe"]),
            "legal-search ready",
            server.process,
        )
        from centralita.dispatcher import Dispatcher

        with Dispatcher.connect([f"127.0.0.1:{port}"]) as tools:
            found = tools.call("search_content", {"query": "habilitación de comercios", "limit": 5})
            stats = tools.call("get_database_stats", {})
        assert found.ok, found.output
        assert found.output["results"], found.output
        assert stats.ok and int(stats.output["total_documents"]) == DOCS, stats.output
        log = server.process.log()
        assert make_url(database).database in log
        assert "reconstruido" not in log, "the server found the index built by the init container"
        server.process.proc.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=server.grace) == 0
    finally:
        server.stop()
