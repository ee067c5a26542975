"""Database access for normativas: upsert by id, lookups by id, and the (id, digest) list the index syncs to."""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from legal_search.models import Normativa
from legal_search.records import Record
from legal_search.snippets import search_key

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
        if new_rows:  # Core executemany: the ORM bulk path costs more per row and builds nothing we use
            session.connection().execute(insert(Normativa.__table__), new_rows)
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


_HIT_COLUMNS = (
    Normativa.id,
    Normativa.municipality,
    Normativa.type,
    Normativa.number,
    Normativa.year,
    Normativa.title,
    Normativa.url,
    Normativa.content,
    Normativa.articles,
    Normativa.considerandos,
    Normativa.tables,
    Normativa.digest,
)
_IDS = bindparam("ids", expanding=True)
_DIGESTS_OF = select(Normativa.id, Normativa.digest).where(Normativa.id.in_(_IDS))
_HITS_OF = select(*_HIT_COLUMNS).where(Normativa.id.in_(_IDS))
HIT_CACHE = 4096  # rows kept ready to show (~5 KB each)


@dataclass
class HitRow:
    """What a search result shows of one row version, ready to use: the body text is joined once."""

    id: str
    municipality: str
    type: str
    number: str
    year: int
    title: str
    url: str
    content: str
    body: str
    body_key: str | None = None  # snippets.search_key(body): snippets are found with str.find
    lead_terms: Any = None  # feedback's term counts of the lead (content.related), filled on first use


class _HitCache:
    """Rows by (id, digest). The digest is a hash of the row's content, so an entry can never be stale:
    a changed row has another digest and is read again; deleted rows are not asked for (SQL is still
    asked, per request, which ids exist and with which digest)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._rows: OrderedDict[tuple[str, str], HitRow] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> HitRow | None:
        with self._lock:
            row = self._rows.get(key)
            if row is not None:
                self._rows.move_to_end(key)
            return row

    def put(self, key: tuple[str, str], row: HitRow) -> None:
        with self._lock:
            self._rows[key] = row
            if len(self._rows) > self.size:
                self._rows.popitem(last=False)


_hit_cache = _HitCache(HIT_CACHE)


def load_hits(engine: Engine, ids: Sequence[str]) -> dict[str, HitRow]:
    """What a search result shows, for a handful of ids (in id order). Per query: the (id, digest) pairs come from SQL
    (an index key lookup), the full rows (JSON columns, joined body) only for versions not seen yet."""
    if not ids:
        return {}
    out: dict[str, HitRow] = {}
    with engine.connect() as conn:
        missing = []
        for rid, digest in conn.execute(_DIGESTS_OF, {"ids": list(ids)}):
            row = _hit_cache.get((rid, digest))
            if row is None:
                missing.append(rid)
            else:
                out[rid] = row
        if missing:
            for r in conn.execute(_HITS_OF, {"ids": missing}):
                body = body_text(r)
                row = HitRow(
                    r.id,
                    r.municipality,
                    r.type,
                    r.number,
                    r.year,
                    r.title,
                    r.url,
                    r.content or "",
                    body,
                    search_key(body),
                )
                _hit_cache.put((r.id, r.digest), row)
                out[r.id] = row
    # In id order whatever was cached (SQLite's order for `id IN`): feedback counts words over these rows,
    # and ties among equally frequent words must not depend on the cache.
    return {rid: out[rid] for rid in sorted(out)}


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
