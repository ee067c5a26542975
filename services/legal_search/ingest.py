"""Ingest of .json/.jsonl normativas: validate, upsert into SQL (the truth), then sync the index.

Order is SQL first, index second; a crash at any point leaves rows whose digests the index lacks,
which the next sync (at start or at the next ingest) indexes. Nothing else needs to be atomic.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from legal_search import index, store
from legal_search.records import Record, RecordError, may_hold_control_chars, scrub, validate

BATCH = 1000


@dataclass
class BadRecord:
    source: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.message}"


@dataclass
class IngestReport:
    read: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    bad: list[BadRecord] = field(default_factory=list)
    indexed: int = 0
    removed: int = 0
    seconds: float = 0.0
    sql_seconds: float = 0.0  # reading, validating and storing (the index pipeline runs meanwhile)

    def summary(self) -> str:
        rate = self.read / self.seconds if self.seconds else 0.0
        return (
            f"{self.read} leídas, {self.new} nuevas, {self.changed} actualizadas, {self.unchanged} sin cambios, "
            f"{len(self.bad)} con errores; índice: {self.indexed} indexadas, {self.removed} quitadas; "
            f"{self.seconds:.1f} s ({rate:.0f} docs/s; SQL {self.sql_seconds:.1f} s, "
            f"índice {self.seconds - self.sql_seconds:.1f} s)"
        )


def iter_file(path: Path) -> Iterator[tuple[str, int, Any]]:
    """(source, line, decoded object or RecordError) for every record of a .json or .jsonl file."""
    src = str(path)
    if path.suffix == ".jsonl":
        with path.open(encoding="utf-8", errors="replace") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                    yield src, n, scrub(obj) if may_hold_control_chars(line) else obj
                except ValueError as exc:
                    yield src, n, RecordError(f"JSON inválido: {exc}")
        return
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
        data = json.loads(text)
    except ValueError as exc:
        yield src, getattr(exc, "lineno", 1), RecordError(f"JSON inválido: {exc}")
        return
    if may_hold_control_chars(text):
        data = scrub(data)
    items = data if isinstance(data, list) else [data]
    for n, item in enumerate(items, 1):
        yield src, n, item  # for .json the "line" is the position in the array


def iter_paths(path: Path) -> list[Path]:
    """The .json/.jsonl files at `path` (a file or a folder, searched recursively)."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in (".json", ".jsonl") and p.is_file())
    if path.suffix not in (".json", ".jsonl"):
        raise ValueError(f"{path}: solo se aceptan archivos .json o .jsonl")
    if not path.exists():
        raise FileNotFoundError(f"{path}: no existe")
    return [path]


def _bar(progress: bool | None, desc: str):
    from tqdm import tqdm

    show = sys.stderr.isatty() if progress is None else progress
    return tqdm(desc=desc, unit="doc", file=sys.stderr, disable=not show)


def ingest_items(
    engine: Engine,
    index_dir: Path,
    items: Iterable[tuple[str, int, Any]],
    *,
    shards: int,
    schema_name: str | None = None,
    progress: bool | None = None,
    scrubbed: bool = False,
) -> IngestReport:
    """Validate and upsert (source, line, object) items in batches, then bring the index in line.

    `scrubbed`: the items' strings are already free of control characters (iter_file sees to it).
    """
    started = time.perf_counter()
    report = IngestReport()
    batch: list[Record] = []
    bar = _bar(progress, "guardando")

    pipeline: index.Pipeline | None = None

    def flush() -> None:
        nonlocal pipeline
        written = store.upsert(engine, batch)
        new, changed, same = written.counts()
        report.new += new
        report.changed += changed
        report.unchanged += same
        bar.update(len(batch))
        if pipeline is None and len(batch) >= BATCH and new + changed:
            pipeline = index.Pipeline(index_dir, shards)  # a big ingest: index while reading on
        if pipeline is not None:
            pipeline.feed(written.new + written.changed)
        batch.clear()

    try:
        for source, line, obj in items:
            report.read += 1
            try:
                if isinstance(obj, RecordError):
                    raise obj
                batch.append(validate(obj, clean_text=not scrubbed))
            except RecordError as exc:
                report.bad.append(BadRecord(source, line, str(exc)))
                continue
            if len(batch) >= BATCH:
                flush()
        if batch:
            flush()
        report.sql_seconds = time.perf_counter() - started
    finally:
        bar.close()
        if pipeline is not None:
            pipeline.finish(progress)
    stats = index.sync(engine, index_dir, shards, schema_name=schema_name, progress=progress)
    report.indexed = stats.added + (pipeline.indexed if pipeline else 0)
    report.removed = stats.removed
    report.seconds = time.perf_counter() - started
    return report


def ingest_paths(
    engine: Engine,
    index_dir: Path,
    paths: Iterable[Path],
    *,
    shards: int,
    schema_name: str | None = None,
    progress: bool | None = None,
) -> IngestReport:
    files = [f for p in paths for f in iter_paths(Path(p))]
    items = (item for f in files for item in iter_file(f))
    return ingest_items(
        engine, index_dir, items, shards=shards, schema_name=schema_name, progress=progress, scrubbed=True
    )


def ingest_records(
    engine: Engine,
    index_dir: Path,
    docs: Iterable[dict],
    *,
    source: str = "<memoria>",
    shards: int = 2,
    schema_name: str | None = None,
    progress: bool | None = None,
) -> IngestReport:
    items = ((source, n, doc) for n, doc in enumerate(docs, 1))
    return ingest_items(engine, index_dir, items, shards=shards, schema_name=schema_name, progress=progress)
