"""kill -9 during ingest, then the next start repairs: SQL and index agree and everything is searchable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from centralita_fixtures.legal_sample import generate
from legal_search import index, store
from legal_search.filters import build
from legal_search.service import LegalSearch

REPO = Path(__file__).resolve().parents[2]
N = 1600
SCRIPT = """
import sys
from pathlib import Path
from legal_search.ingest import ingest_paths
from legal_search.service import open_store
url, schema, index_dir, path = sys.argv[1], sys.argv[2] or None, Path(sys.argv[3]), Path(sys.argv[4])
engine = open_store(url, schema)
print("started", flush=True)
ingest_paths(engine, index_dir, [path], shards=2, schema_name=schema, progress=False)
print("finished", flush=True)
"""


def _start(engine, schema, index_dir: Path, path: Path) -> subprocess.Popen:
    url = engine.url.render_as_string(hide_password=False)
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, url, schema or "", str(index_dir), str(path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)  # the ingest and its spawned index writers
    proc.wait(timeout=30)


def _wait(cond, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return False


def _assert_repaired(engine, index_dir: Path, schema) -> None:
    svc = LegalSearch(engine, index_dir, shards=2, schema=schema)
    svc.sync(progress=False)  # what every start does
    try:
        assert index.check(engine, index_dir, 2) == (0, 0)
        rows = store.count(engine)
        assert (
            svc.search_content("", build(type="ordenanza"), None).total_hits
            == svc.query_metadata("", build(type="ordenanza"), operation="count").total
        )
        out = svc.search_content("", build(municipality="Merlo"), 50)
        assert out.total_hits == svc.query_metadata("", build(municipality="Merlo"), operation="count").total
        assert rows > 0
    finally:
        svc.searcher.close()


def test_kill_during_sql_then_during_index(fresh, tmp_path):
    engine, index_dir, schema = fresh
    path = tmp_path / "big.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for doc, _ in generate(N, seed=9):
            fh.write(json.dumps(doc, ensure_ascii=False) + "\n")

    # 1) killed while rows are being written (first batch committed, others not)
    proc = _start(engine, schema, index_dir, path)
    assert _wait(lambda: store.count(engine) > 0, 60), "ingest never wrote a row"
    _kill(proc)
    _assert_repaired(engine, index_dir, schema)

    # 2) an update of every row, killed while the index writers are busy
    with path.open("w", encoding="utf-8") as fh:
        for doc, _ in generate(N, seed=9):
            doc["title"] += " (texto ordenado)"
            fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
    proc = _start(engine, schema, index_dir, path)

    probe = [d["id"] for d, _ in generate(3, seed=9)]

    def all_rows_updated() -> bool:
        rows = store.load(engine, probe).values()
        return store.count(engine) == N and all("(texto ordenado)" in r.title for r in rows)

    assert _wait(all_rows_updated, 60)
    time.sleep(0.4)
    _kill(proc)
    missing, orphans = index.check(engine, index_dir, 2)
    assert missing > 0 and orphans > 0, "the kill should have left the index behind the database"
    _assert_repaired(engine, index_dir, schema)
