"""The sharded Whoosh index as a projection of the database, and the sync that repairs it.

SQL is the truth. Each index entry carries the digest of the row it was built from, so "is the index
current?" is a comparison of (id, digest) sets, done per shard under the shard's writer lock. That
makes any crash (kill -9 between the SQL commit and the index commit, or mid-commit: Whoosh commits
atomically) repairable by the next sync, without any bookkeeping write to SQL — which matters since
every replica keeps its own index of one shared database.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import queue
import shutil
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from whoosh import index as windex

from legal_search import store
from legal_search.analysis import ANALYZER_VERSION, number_key, schema
from legal_search.models import Normativa
from legal_search.text import fold

log = logging.getLogger(__name__)
FORMAT = 1
_IN_PROCESS_LIMIT = 1500  # below this many changes, spawning writer processes costs more than it saves
_LOAD_CHUNK = 400


@dataclass
class SyncStats:
    added: int = 0
    removed: int = 0
    shards: int = 0
    rebuilt: bool = False

    def merge(self, other: SyncStats) -> None:
        self.added += other.added
        self.removed += other.removed


def writer_mb() -> int:
    """Whoosh writer buffer (LEGAL_INDEX_WRITER_MB, default 1024). Below what a shard's postings need,
    the writer spills sorted runs to disk and merges them: at 25k documents 192 MB halved throughput."""
    try:
        return max(64, int(os.environ.get("LEGAL_INDEX_WRITER_MB", "1024")))
    except ValueError:
        return 1024


def segment_docs() -> int:
    """Documents per index segment written by a big ingest or rebuild (LEGAL_INDEX_SEGMENT_DOCS, default
    10,000). A writer keeps every posting of its segment in memory until the commit; past the writer
    buffer it spills sorted runs to disk and merges them back one posting at a time in Python. Committing
    every N documents as its own segment (not merged: Whoosh's policy only merges small ones) keeps each
    sort in memory; the searcher reads a term's postings segment by segment either way."""
    try:
        return max(500, int(os.environ.get("LEGAL_INDEX_SEGMENT_DOCS", "10000")))
    except ValueError:
        return 10_000


class SegmentedWriter:
    """A shard writer that commits every `segment_docs()` added documents as a segment of its own and
    carries on with a new writer (deleting by document number stays valid: unmerged segments keep their
    numbers, and an id is added at most once per run)."""

    def __init__(self, ix) -> None:
        self.ix = ix
        self.per_segment = segment_docs()
        self.writer = self._open()
        self.pending = 0

    def _open(self):
        return self.ix.writer(timeout=120.0, delay=0.25, limitmb=writer_mb())

    def delete_document(self, docnum: int) -> None:
        self.writer.delete_document(docnum)

    def add_document(self, **doc) -> None:
        self.writer.add_document(**doc)
        self.pending += 1
        if self.pending >= self.per_segment:
            self.writer.commit(merge=False)
            self.writer = self._open()
            self.pending = 0

    def commit(self) -> None:
        self.writer.commit()  # Whoosh's default policy: merges only small segments (many small ingests)

    def cancel(self) -> None:
        self.writer.cancel()


def shard_of(doc_id: str, shards: int) -> int:
    """Stable shard of an id (crc32, not hash(): the latter changes between processes)."""
    return zlib.crc32(doc_id.encode()) % shards


def shard_dir(index_dir: Path, shard: int) -> Path:
    return Path(index_dir) / f"shard-{shard}"


def _manifest(shards: int) -> dict:
    return {"format": FORMAT, "analyzer": ANALYZER_VERSION, "shards": shards}


def ensure_layout(index_dir: Path, shards: int) -> bool:
    """Create the shard indexes if missing or built with another layout/analyzer. True if (re)created."""
    index_dir = Path(index_dir)
    path = index_dir / "manifest.json"
    try:
        current = json.loads(path.read_text())
    except (OSError, ValueError):
        current = None
    ok = current == _manifest(shards) and all(windex.exists_in(str(shard_dir(index_dir, s))) for s in range(shards))
    if ok:
        return False
    if index_dir.exists():
        for child in index_dir.glob("shard-*"):
            shutil.rmtree(child, ignore_errors=True)
    index_dir.mkdir(parents=True, exist_ok=True)
    for s in range(shards):
        d = shard_dir(index_dir, s)
        d.mkdir(parents=True, exist_ok=True)
        windex.create_in(str(d), schema())
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(_manifest(shards)))
    tmp.replace(path)
    return True


def document(row: Normativa | dict) -> dict:
    """The index entry of one row (an ORM row or the column values the upsert wrote)."""
    get = row.get if isinstance(row, dict) else lambda name: getattr(row, name)
    date = get("date")
    return {
        "id": get("id"),
        "digest": get("digest"),
        "title": get("title"),
        "body": store.body_text(row),
        "municipality": get("municipality_key"),
        "type": get("type"),
        "number": number_key(get("number")),
        "status": fold(get("status")),
        "year": get("year"),
        "date": date.year * 10000 + date.month * 100 + date.day if date else 0,
    }


def docnums_by_id(reader) -> dict[str, list[int]]:
    """Live document numbers per id. Deleting by number avoids Whoosh opening a searcher for every
    delete_by_term/update_document call (which made replacing documents twice as slow as adding)."""
    out: dict[str, list[int]] = {}
    if reader.doc_count_all() == 0:
        return out
    ids = reader.column_reader("id")
    for n in reader.all_doc_ids():
        out.setdefault(ids[n], []).append(n)
    return out


def indexed_digests(reader) -> dict[str, str]:
    """(id -> digest) of the live documents of one shard, read from the columns (no stored-field reads)."""
    if reader.doc_count_all() == 0:
        return {}
    ids, digests = reader.column_reader("id"), reader.column_reader("digest")
    return {ids[n]: digests[n] for n in reader.all_doc_ids()}


def sync_shard(
    db_url: str,
    schema_name: str | None,
    index_dir: str,
    shard: int,
    shards: int,
    wanted: dict[str, str],
    progress: Callable[[int], None] | None = None,
) -> SyncStats:
    """Make one shard hold exactly `wanted` (id -> digest), loading changed rows from the database."""
    from legal_search.db import make_engine  # local: this runs in spawned writer processes too

    ix = windex.open_dir(str(shard_dir(Path(index_dir), shard)))
    writer = SegmentedWriter(ix)
    stats = SyncStats()
    engine = None
    try:
        with writer.writer.reader() as reader:
            have = indexed_digests(reader)
            numbers = docnums_by_id(reader)
        stale = [i for i, d in have.items() if wanted.get(i) != d]
        missing = [i for i, d in wanted.items() if have.get(i) != d]
        for doc_id in stale:
            for n in numbers.get(doc_id, ()):
                writer.delete_document(n)
        stats.removed = len(stale)
        if missing:
            engine = make_engine(db_url, schema=schema_name)
            for i in range(0, len(missing), _LOAD_CHUNK):
                rows = store.load(engine, missing[i : i + _LOAD_CHUNK])
                for row in rows.values():
                    writer.add_document(**document(row))
                stats.added += len(rows)
                if progress:
                    progress(len(missing[i : i + _LOAD_CHUNK]))
        if stale or missing:
            writer.commit()
        else:
            writer.cancel()
    except BaseException:
        writer.cancel()
        raise
    finally:
        if engine is not None:
            engine.dispose()
    return stats


def _shard_worker(args: tuple, out: mp.Queue) -> None:
    shard = args[3]
    try:
        stats = sync_shard(*args, progress=lambda n: out.put(("progress", shard, n)))
        out.put(("done", shard, stats))
    except BaseException as exc:  # reported to the parent, which raises
        out.put(("error", shard, f"{type(exc).__name__}: {exc}"))


def _pipeline_worker(index_dir: str, shard: int, inbox: mp.Queue, out: mp.Queue, parent: int) -> None:
    """Index documents as the ingest commits them; commit when told to. Gives up (cancel, lock freed)
    if the ingest process disappears: the next sync rebuilds from SQL whatever was not committed."""
    try:
        ix = windex.open_dir(str(shard_dir(Path(index_dir), shard)))
        writer = SegmentedWriter(ix)
    except BaseException as exc:
        out.put(("error", shard, f"{type(exc).__name__}: {exc}"))
        return
    count = 0
    try:
        with writer.writer.reader() as reader:
            numbers = docnums_by_id(reader)
        while True:
            try:
                docs = inbox.get(timeout=2.0)
            except queue.Empty:
                if os.getppid() != parent:
                    writer.cancel()
                    return
                continue
            if docs is None:
                break
            for doc in docs:
                for n in numbers.pop(doc["id"], ()):  # replacing a committed version
                    writer.delete_document(n)
                writer.add_document(**doc)
            count += len(docs)
            out.put(("progress", shard, len(docs)))
        writer.commit()
        out.put(("done", shard, SyncStats(added=count)))
    except BaseException as exc:
        writer.cancel()
        out.put(("error", shard, f"{type(exc).__name__}: {exc}"))


class Pipeline:
    """Index writer processes, one per shard, fed with documents as soon as their SQL batch commits,
    so that analysing and writing the index overlaps reading, validating and storing the input.

    Only an optimisation: the sync that follows an ingest verifies (and repairs) the result.
    """

    def __init__(self, index_dir: Path, shards: int) -> None:
        ensure_layout(index_dir, shards)
        self.shards = shards
        self._sent: set[str] = set()
        ctx = mp.get_context("spawn")
        self._out = ctx.Queue()
        self._inboxes = [ctx.Queue(maxsize=8) for _ in range(shards)]
        self._procs = [
            ctx.Process(
                target=_pipeline_worker, daemon=True, args=(str(index_dir), s, self._inboxes[s], self._out, os.getpid())
            )
            for s in range(shards)
        ]
        for p in self._procs:
            p.start()
        self.indexed = 0
        self.errors: list[str] = []
        self._fed = self._progressed = 0

    def feed(self, rows: list[dict]) -> None:
        """Send rows just committed to their shards (an id sent twice in one run is left to the sync:
        Whoosh cannot replace a document still in the same writer's buffer)."""
        per_shard: list[list[dict]] = [[] for _ in range(self.shards)]
        for row in rows:
            if row["id"] in self._sent:
                continue
            self._sent.add(row["id"])
            per_shard[shard_of(row["id"], self.shards)].append(document(row))
        for s, docs in enumerate(per_shard):
            if docs and self._procs[s].is_alive():
                self._inboxes[s].put(docs)
                self._fed += len(docs)
        self._drain(block=False)

    def _drain(self, block: bool, bar=None) -> set[int]:
        done: set[int] = set()
        while True:
            try:
                kind, shard, payload = self._out.get(timeout=1.0) if block else self._out.get_nowait()
            except queue.Empty:
                return done
            if kind == "progress":
                self._progressed += payload
                if bar is not None:
                    bar.update(payload)
            elif kind == "done":
                self.indexed += payload.added
                done.add(shard)
            else:
                self.errors.append(f"shard {shard}: {payload}")
                done.add(shard)
            if block:
                return done

    def finish(self, progress: bool | None = None) -> None:
        """Commit every shard and wait for the writers (errors are kept, the sync repairs)."""
        for s, inbox in enumerate(self._inboxes):
            if self._procs[s].is_alive():
                inbox.put(None)
        pending = {s for s in range(self.shards) if self._procs[s].is_alive()}
        bar = _progress_bar(self._fed, progress)
        bar.update(self._progressed)
        try:
            while pending:
                pending -= self._drain(block=True, bar=bar)
                for s in list(pending):
                    if not self._procs[s].is_alive() and self._procs[s].exitcode not in (None, 0):
                        self.errors.append(f"shard {s}: writer exited with {self._procs[s].exitcode}")
                        pending.discard(s)
        finally:
            bar.close()
        for p in self._procs:
            p.join(timeout=30)
        if self.errors:
            log.warning("index pipeline: %s (the sync repairs it)", "; ".join(self.errors))


def _progress_bar(total: int, enabled: bool | None):
    from tqdm import tqdm

    show = sys.stderr.isatty() if enabled is None else enabled
    return tqdm(total=total, desc="indexando", unit="doc", file=sys.stderr, disable=not show or total == 0)


def sync(
    engine: Engine,
    index_dir: Path,
    shards: int,
    *,
    schema_name: str | None = None,
    parallel: bool | None = None,
    progress: bool | None = None,
) -> SyncStats:
    """Repair the index from the database: add/replace what differs, remove orphans.

    Shards are written in parallel processes when there is enough to do (`parallel=None` decides).
    """
    rebuilt = ensure_layout(index_dir, shards)
    wanted: list[dict[str, str]] = [{} for _ in range(shards)]
    for doc_id, digest in store.digests(engine):
        wanted[shard_of(doc_id, shards)][doc_id] = digest
    db_url = engine.url.render_as_string(hide_password=False)
    total = SyncStats(shards=shards, rebuilt=rebuilt)
    # A cheap estimate of the work: how many ids differ from the index.
    todo = _estimate_changes(index_dir, wanted)
    use_procs = parallel if parallel is not None else (shards > 1 and todo >= _IN_PROCESS_LIMIT)
    bar = _progress_bar(todo, progress)
    try:
        if not use_procs:
            for s in range(shards):
                total.merge(sync_shard(db_url, schema_name, str(index_dir), s, shards, wanted[s], bar.update))
            return total
        ctx = mp.get_context("spawn")
        out = ctx.Queue()
        procs = [
            ctx.Process(
                target=_shard_worker,
                daemon=True,
                args=((db_url, schema_name, str(index_dir), s, shards, wanted[s]), out),
            )
            for s in range(shards)
        ]
        for p in procs:
            p.start()
        pending, errors = set(range(shards)), []
        while pending:
            try:
                kind, shard, payload = out.get(timeout=1.0)
            except queue.Empty:
                dead = [s for s in pending if not procs[s].is_alive() and procs[s].exitcode not in (None, 0)]
                if dead:
                    errors += [f"shard {s}: writer exited with {procs[s].exitcode}" for s in dead]
                    pending -= set(dead)
                continue
            if kind == "progress":
                bar.update(payload)
            elif kind == "done":
                total.merge(payload)
                pending.discard(shard)
            else:
                errors.append(f"shard {shard}: {payload}")
                pending.discard(shard)
        for p in procs:
            p.join(timeout=30)
        if errors:
            raise RuntimeError("index sync failed: " + "; ".join(errors))
        return total
    finally:
        bar.close()


def _estimate_changes(index_dir: Path, wanted: list[dict[str, str]]) -> int:
    todo = 0
    for s, want in enumerate(wanted):
        ix = windex.open_dir(str(shard_dir(index_dir, s)))
        with ix.reader() as reader:
            have = indexed_digests(reader)
        todo += sum(1 for i, d in want.items() if have.get(i) != d)
    return todo


def size(index_dir: Path, shards: int) -> int:
    """Live documents in the index (0 when it does not exist yet)."""
    total = 0
    for s in range(shards):
        d = shard_dir(Path(index_dir), s)
        if windex.exists_in(str(d)):
            with windex.open_dir(str(d)).reader() as reader:
                total += reader.doc_count()
    return total


def check(engine: Engine, index_dir: Path, shards: int) -> tuple[int, int]:
    """(rows missing or stale in the index, orphan entries): (0, 0) means SQL and index agree."""
    wanted: list[dict[str, str]] = [{} for _ in range(shards)]
    for doc_id, digest in store.digests(engine):
        wanted[shard_of(doc_id, shards)][doc_id] = digest
    missing = orphans = 0
    for s, want in enumerate(wanted):
        ix = windex.open_dir(str(shard_dir(index_dir, s)))
        with ix.reader() as reader:
            have = indexed_digests(reader)
        missing += sum(1 for i, d in want.items() if have.get(i) != d)
        orphans += sum(1 for i, d in have.items() if want.get(i) != d)
    return missing, orphans
