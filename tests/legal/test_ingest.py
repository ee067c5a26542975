"""Ingest: validation with file:line reports, upsert/idempotency, index kept equal to SQL, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from centralita_fixtures.legal_sample import generate
from legal_search import index
from legal_search.filters import build
from legal_search.ingest import ingest_paths
from legal_search.service import LegalSearch

REPO = Path(__file__).resolve().parents[2]


def _docs(n: int) -> list[dict]:
    return [d for d, _ in generate(n, seed=5)]


def _write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_broken_lines_are_reported_and_the_rest_kept(fresh, tmp_path):
    engine, index_dir, schema = fresh
    docs = _docs(6)
    no_title = dict(docs[3])
    del no_title["title"]
    bad_type = dict(docs[4], type="ley")
    bad_date = dict(docs[5], date="2024-02-31")
    lines = [
        json.dumps(docs[0]),
        "{not json",
        json.dumps(docs[1]),
        json.dumps(no_title),
        "",
        json.dumps(bad_type),
        json.dumps(bad_date),
        json.dumps(docs[2]),
        json.dumps([1, 2]),
        json.dumps(dict(docs[0], year=1999)),
    ]
    path = _write_jsonl(tmp_path / "mixed.jsonl", lines)
    report = ingest_paths(engine, index_dir, [path], shards=2, schema_name=schema, progress=False)
    bad = {b.line: b.message for b in report.bad}
    assert set(bad) == {2, 4, 6, 7, 9, 10}
    assert "JSON" in bad[2] and "title" in bad[4] and "ley" in bad[6] and "fecha" in bad[7]
    assert "no coincide" in bad[10]
    assert all(str(b).startswith(f"{path}:{b.line}: ") for b in report.bad)
    assert report.new == 3
    assert index.check(engine, index_dir, 2) == (0, 0)


def test_reingest_is_idempotent_and_updates_replace(fresh, tmp_path):
    engine, index_dir, schema = fresh
    docs = _docs(40)
    path = _write_jsonl(tmp_path / "a.jsonl", [json.dumps(d) for d in docs])
    first = ingest_paths(engine, index_dir, [path], shards=2, schema_name=schema, progress=False)
    assert (first.new, first.indexed) == (40, 40)
    again = ingest_paths(engine, index_dir, [path], shards=2, schema_name=schema, progress=False)
    assert (again.new, again.changed, again.unchanged, again.indexed, again.removed) == (0, 0, 40, 0, 0)
    changed = dict(docs[7], title=docs[7]["title"] + " zanahoria")
    upd = _write_jsonl(tmp_path / "b.jsonl", [json.dumps(changed)])
    rep = ingest_paths(engine, index_dir, [upd], shards=2, schema_name=schema, progress=False)
    assert (rep.new, rep.changed, rep.indexed, rep.removed) == (0, 1, 1, 1)
    svc = LegalSearch(engine, index_dir, shards=2, schema=schema)
    try:
        out = svc.search_content("zanahoria", build(), None)
        assert [h.id for h in out.results] == [docs[7]["id"]]
        assert svc.stats().total == 40
    finally:
        svc.searcher.close()
    assert index.check(engine, index_dir, 2) == (0, 0)


def test_json_array_file_and_folder(fresh, tmp_path):
    engine, index_dir, schema = fresh
    folder = tmp_path / "in"
    folder.mkdir()
    docs = _docs(5)
    (folder / "arr.json").write_text(json.dumps(docs[:3], ensure_ascii=False), encoding="utf-8")
    (folder / "one.json").write_text(json.dumps(docs[3]), encoding="utf-8")
    (folder / "skip.txt").write_text("ignored")
    report = ingest_paths(engine, index_dir, [folder], shards=2, schema_name=schema, progress=False)
    assert report.new == 4 and not report.bad


def test_parallel_writers_build_the_same_index(fresh, tmp_path):
    engine, index_dir, schema = fresh
    from legal_search import store
    from legal_search.records import validate

    store.upsert(engine, [validate(d) for d in _docs(120)])
    stats = index.sync(engine, index_dir, 2, schema_name=schema, parallel=True, progress=False)
    assert stats.added == 120 and stats.rebuilt
    assert index.check(engine, index_dir, 2) == (0, 0)


def test_orphans_removed_and_layout_change_rebuilds(fresh, tmp_path):
    engine, index_dir, schema = fresh
    from legal_search import store
    from legal_search.records import validate

    store.upsert(engine, [validate(d) for d in _docs(30)])
    index.sync(engine, index_dir, 2, schema_name=schema, progress=False)
    with engine.begin() as conn:  # rows deleted behind the index's back
        from sqlalchemy import delete

        from legal_search.models import Normativa

        conn.execute(delete(Normativa).where(Normativa.id.in_([_docs(30)[i]["id"] for i in (1, 2, 3)])))
    assert index.check(engine, index_dir, 2) == (0, 3)
    stats = index.sync(engine, index_dir, 2, schema_name=schema, progress=False)
    assert stats.removed == 3 and index.check(engine, index_dir, 2) == (0, 0)
    stats = index.sync(engine, index_dir, 3, schema_name=schema, progress=False)  # other shard count
    assert stats.rebuilt and stats.added == 27 and index.check(engine, index_dir, 3) == (0, 0)


def test_cli_ingest_reports_bad_lines(tmp_path):
    docs = _docs(4)
    path = _write_jsonl(tmp_path / "cli.jsonl", [json.dumps(docs[0]), "oops", json.dumps(docs[1])])
    env = dict(os.environ, LEGAL_DATA_DIR=str(tmp_path / "run"), LEGAL_DB_URL="", LEGAL_INDEX_DIR="")
    proc = subprocess.run(
        [sys.executable, "-m", "centralita_suite.cli", "ingest", "--no-progress", str(path)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert f"{path}:2:" in proc.stderr
    assert "2 nuevas" in proc.stdout
    assert (tmp_path / "run" / "legal.db").exists() and (tmp_path / "run" / "whoosh" / "manifest.json").exists()
    proc = subprocess.run(
        [sys.executable, "-m", "centralita_suite.cli", "ingest", str(tmp_path / "missing.jsonl")],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "no existe" in proc.stderr


def test_running_service_picks_up_changes_made_elsewhere(fresh, tmp_path):
    from legal_search import store
    from legal_search.records import validate

    engine, index_dir, schema = fresh
    docs = _docs(12)
    first = _write_jsonl(tmp_path / "first.jsonl", [json.dumps(d) for d in docs[:10]])
    ingest_paths(engine, index_dir, [first], shards=2, schema_name=schema, progress=False)
    svc = LegalSearch(engine, index_dir, shards=2, schema=schema)
    stop = svc.watch(0.2)
    try:
        marked = dict(docs[10], title=docs[10]["title"] + " berenjena")
        store.upsert(engine, [validate(marked)])  # another process wrote SQL only
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not svc.search_content("berenjena", build(), None).results:
            time.sleep(0.2)
        assert [h.id for h in svc.search_content("berenjena", build(), None).results] == [docs[10]["id"]]
    finally:
        stop.set()
        svc.searcher.close()


def test_control_characters_are_removed_on_ingest(fresh, tmp_path):
    from legal_search import store

    engine, index_dir, schema = fresh
    doc = dict(_docs(1)[0], title="Título con\u0000nulo\u0007", content="texto\u0000 con NUL y\ttab")
    path = _write_jsonl(tmp_path / "nul.jsonl", [json.dumps(doc)])  # written escaped, as JSON must
    report = ingest_paths(engine, index_dir, [path], shards=2, schema_name=schema, progress=False)
    assert report.new == 1 and not report.bad
    row = store.load(engine, [doc["id"]])[doc["id"]]
    assert "\x00" not in row.title and "\x07" not in row.title and "\t" in row.content


def test_big_ingest_in_several_segments_replaces_across_them(fresh, tmp_path, monkeypatch):
    from whoosh import index as windex

    engine, index_dir, schema = fresh
    monkeypatch.setenv("LEGAL_INDEX_SEGMENT_DOCS", "500")
    docs = _docs(2400)
    path = _write_jsonl(tmp_path / "a.jsonl", [json.dumps(d) for d in docs])
    first = ingest_paths(engine, index_dir, [path], shards=2, schema_name=schema, progress=False)
    assert (first.new, first.indexed) == (2400, 2400)
    segments = windex.open_dir(str(index.shard_dir(index_dir, 0))).reader().leaf_readers()
    assert len(segments) >= 2
    changed = [dict(d, title=d["title"] + " zanahoria") for d in docs[100:1300]]
    upd = _write_jsonl(tmp_path / "b.jsonl", [json.dumps(d) for d in changed])
    rep = ingest_paths(engine, index_dir, [upd], shards=2, schema_name=schema, progress=False)
    assert (rep.changed, rep.indexed) == (1200, 1200)
    assert index.check(engine, index_dir, 2) == (0, 0)
    svc = LegalSearch(engine, index_dir, shards=2, schema=schema)
    try:
        assert svc.search_content("zanahoria", build(), 50).total_hits == 1200
    finally:
        svc.searcher.close()


def test_a_changed_row_is_shown_as_it_is_now_and_small_indexes_search_in_process(fresh, tmp_path):
    """Hit rows are cached by (id, digest): a changed row has another digest, so its new text shows."""
    from legal_search.searcher import LocalSearcher

    engine, index_dir, schema = fresh
    docs = _docs(30)
    ingest_paths(
        engine,
        index_dir,
        [_write_jsonl(tmp_path / "a.jsonl", [json.dumps(d) for d in docs])],
        shards=2,
        schema_name=schema,
        progress=False,
    )
    svc = LegalSearch(engine, index_dir, shards=2, schema=schema, processes=True, processes_min_docs=1000)
    try:
        assert isinstance(svc.searcher, LocalSearcher)  # 30 documents: shard processes would cost more
        first = svc.search_content(docs[3]["title"], build(), 1).results[0]
        assert first.id == docs[3]["id"]
        changed = dict(docs[3], title=docs[3]["title"] + " (texto ordenado)")
        ingest_paths(
            engine,
            index_dir,
            [_write_jsonl(tmp_path / "b.jsonl", [json.dumps(changed)])],
            shards=2,
            schema_name=schema,
            progress=False,
        )
        svc.sync(progress=False)
        time.sleep(1.1)  # searchers look for a new index generation at most once a second
        again = svc.search_content(docs[3]["title"], build(), 1).results[0]
        assert (again.id, again.title) == (docs[3]["id"], changed["title"])
    finally:
        svc.close()
