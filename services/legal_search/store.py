"""Database access for normativas: upsert by id, lookups by id, and the (id, digest) list the index syncs to."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.orm import Session

from legal_search.models import Normativa
from legal_search.records import Record

_CHUNK = 500


def _row_values(record: Record, digest: str, now: dt.datetime) -> dict:
    values = record.to_json()
    values["date"] = record.date
    values["municipality_key"] = record.municipality_key
    values["digest"] = digest
    values["updated_at"] = now
    return values


@dataclass
class Upserted:
    """What one upsert wrote: the column values of new and changed rows, and how many were identical."""

    new: list[dict] = field(default_factory=list)
    changed: list[dict] = field(default_factory=list)
    unchanged: int = 0

    def counts(self) -> tuple[int, int, int]:
        return len(self.new), len(self.changed), self.unchanged


def upsert(engine: Engine, records: Sequence[Record]) -> Upserted:
    """Insert new ids, update changed ones, skip identical ones; one transaction.

    Later duplicates of an id within the batch win, like a later line in a file would.
    """
    latest: dict[str, Record] = {}
    for rec in records:
        latest[rec.id] = rec
    if not latest:
        return Upserted()
    now = dt.datetime.now(dt.UTC)
    with Session(engine) as session, session.begin():
        existing: dict[str, str] = {}
        ids = list(latest)
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            stmt = select(Normativa.id, Normativa.digest).where(Normativa.id.in_(chunk))
            existing.update(session.execute(stmt).all())
        new_rows, changed_rows = [], []
        for rid, rec in latest.items():
            digest = rec.digest()
            if rid not in existing:
                new_rows.append(_row_values(rec, digest, now))
            elif existing[rid] != digest:
                changed_rows.append(_row_values(rec, digest, now))
        if new_rows:
            session.execute(insert(Normativa), new_rows)
        if changed_rows:
            session.execute(update(Normativa), changed_rows)
    return Upserted(new_rows, changed_rows, len(latest) - len(new_rows) - len(changed_rows))


def digests(engine: Engine) -> Iterator[tuple[str, str]]:
    """Every (id, digest) in the database, streamed."""
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=5000).execute(select(Normativa.id, Normativa.digest))
        yield from ((rid, digest) for rid, digest in result)


def load(engine: Engine, ids: Iterable[str]) -> dict[str, Normativa]:
    """Full rows by id (missing ids are simply absent)."""
    wanted = list(dict.fromkeys(ids))
    out: dict[str, Normativa] = {}
    with Session(engine, expire_on_commit=False) as session:
        for i in range(0, len(wanted), _CHUNK):
            chunk = wanted[i : i + _CHUNK]
            for row in session.scalars(select(Normativa).where(Normativa.id.in_(chunk))):
                session.expunge(row)
                out[row.id] = row
    return out


_HIT_COLUMNS = (Normativa.id, Normativa.municipality, Normativa.type, Normativa.number, Normativa.year,
                Normativa.title, Normativa.url, Normativa.content, Normativa.articles, Normativa.considerandos,
                Normativa.tables)


def load_hits(engine: Engine, ids: Sequence[str]) -> dict[str, Any]:
    """What a search result shows, for a handful of ids: plain rows, no ORM objects (it is per query)."""
    if not ids:
        return {}
    with engine.connect() as conn:
        return {r.id: r for r in conn.execute(select(*_HIT_COLUMNS).where(Normativa.id.in_(list(ids))))}


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Normativa)).scalar_one())


def body_text(row: Any) -> str:
    """Searchable text of a row (or its column values): content, plus articles, considerandos and tables
    not already in it.

    Generated and scraped documents often repeat their articles inside `content`; indexing them twice
    would double term frequencies (and indexing time) for nothing.
    """
    get = row.get if isinstance(row, dict) else lambda name: getattr(row, name)
    content = get("content") or ""
    parts = [content]
    for art in get("articles") or []:
        text = art.get("text", "")
        if text and text not in content:
            parts.append(f"ARTÍCULO {art.get('number', '')}: {text}")
    parts += [c for c in get("considerandos") or [] if c and c not in content]
    for table in get("tables") or []:
        parts.append(table.get("title", ""))
        parts += [" ".join(r) for r in table.get("rows", [])]
    return "\n".join(p for p in parts if p)
