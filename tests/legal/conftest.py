"""Fixtures: a generated corpus ingested into a real database (SQLite file or a throwaway PostgreSQL
schema) and a real Whoosh index on disk. Session-scoped: built once per backend."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from centralita_fixtures.legal_sample import generate
from legal_search.ingest import ingest_records
from legal_search.service import LegalSearch, open_store
from tests.helpers import postgres_available, postgres_url, require

CORPUS_SIZE = 400
SHARDS = 2


@pytest.fixture(scope="session")
def corpus():
    pairs = list(generate(CORPUS_SIZE, seed=3))
    return [d for d, _ in pairs], [t for _, t in pairs]


class Backend:
    """Where one test database lives; `new_engine()` gives a migrated engine on a fresh, empty store."""

    def __init__(self, name: str, tmp: Path) -> None:
        self.name, self.tmp = name, tmp
        self._schemas: list[str] = []
        self._n = 0

    def new_store(self) -> tuple[str, str | None]:
        self._n += 1
        if self.name == "sqlite":
            return f"sqlite:///{self.tmp / f'legal-{self._n}.db'}", None
        schema = f"legal_test_{uuid.uuid4().hex[:12]}"
        admin = create_engine(postgres_url())
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        self._schemas.append(schema)
        return postgres_url(), schema

    def new_engine(self):
        url, schema = self.new_store()
        return open_store(url, schema), schema

    def cleanup(self) -> None:
        if not self._schemas:
            return
        admin = create_engine(postgres_url())
        with admin.begin() as conn:
            for schema in self._schemas:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend(request, tmp_path_factory):
    if request.param == "postgres":
        require(postgres_available(), "PostgreSQL is not reachable at 127.0.0.1:5432")
    b = Backend(request.param, tmp_path_factory.mktemp(f"legal-{request.param}"))
    yield b
    b.cleanup()


@pytest.fixture(scope="session")
def loaded(backend, corpus, tmp_path_factory):
    """(LegalSearch over the ingested corpus, truths) for one backend."""
    docs, truths = corpus
    engine, schema = backend.new_engine()
    index_dir = tmp_path_factory.mktemp(f"index-{backend.name}")
    report = ingest_records(engine, index_dir, docs, shards=SHARDS, schema_name=schema, progress=False)
    assert report.new == len(docs) and not report.bad
    svc = LegalSearch(engine, index_dir, shards=SHARDS, processes=False, schema=schema)
    yield svc, truths
    svc.close()


@pytest.fixture
def fresh(backend, tmp_path):
    """An empty migrated store and index folder: (engine, index_dir, schema)."""
    engine, schema = backend.new_engine()
    yield engine, tmp_path / "index", schema
    engine.dispose()
