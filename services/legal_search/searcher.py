"""Searching the shards: one long-lived Whoosh searcher per shard, optionally each in its own process.

Whoosh is pure Python, so threads cannot search shards at the same time; processes can. The query
plan is bounded: only the rarest few terms of the question are matched (postings read grow with
each term's document frequency, and common words add little to ranking).
"""

from __future__ import annotations

import contextlib
import heapq
import multiprocessing as mp
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from whoosh import index as windex
from whoosh import scoring
from whoosh.query import And, Every, NumericRange, Or, Query, Term

from legal_search.errors import Unavailable
from legal_search.index import shard_dir

MAX_TERMS = 4
# Postings budget per shard: beyond the rarest term, further terms are added while the postings read
# stay under this many (matching cost is linear in postings read, a few µs each in Whoosh). Small
# indexes never hit it; at 50k documents per shard it drops only very common words.
POSTINGS_BUDGET = 15_000
_REFRESH_SECONDS = 1.0
_FILTER_CACHE = 64  # a few MB per shard at 50k documents


@dataclass(frozen=True)
class TermGroup:
    """One word of the question: its index term (accent-less spellings are indexed too) and the terms of
    its other grammatical number, which the stemmer does not always join (préstamo/préstamos)."""

    term: str
    alts: tuple[str, ...] = ()

    def terms(self) -> tuple[str, ...]:
        return (self.term, *self.alts)


@dataclass(frozen=True)
class FilterSpec:
    """Metadata constraints, in index form (folded keys, yyyymmdd dates)."""

    municipalities: tuple[str, ...] = ()
    type: str | None = None
    number: str | None = None
    status: str | None = None
    year: int | None = None
    date_from: int | None = None
    date_to: int | None = None

    def is_empty(self) -> bool:
        return self == FilterSpec()

    def to_query(self) -> Query | None:
        parts: list[Query] = []
        if self.municipalities:
            terms = [Term("municipality", m) for m in self.municipalities]
            parts.append(terms[0] if len(terms) == 1 else Or(terms))
        for name in ("type", "number", "status"):
            value = getattr(self, name)
            if value:
                parts.append(Term(name, value))
        if self.year is not None:
            parts.append(NumericRange("year", self.year, self.year))
        if self.date_from is not None or self.date_to is not None:
            parts.append(NumericRange("date", self.date_from, self.date_to))
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else And(parts)


@dataclass
class ShardHits:
    total: int = 0
    hits: list[tuple[float, str]] = field(default_factory=list)


class ShardSearcher:
    """A reusable searcher over one shard, reopened when the index changes (checked at most once a second)."""

    def __init__(self, path: Path) -> None:
        self.ix = windex.open_dir(str(path))
        self.weighting = scoring.BM25F(B=0.75, K1=1.2, title_B=0.4)
        self.searcher = self.ix.searcher(weighting=self.weighting)
        self._checked = time.monotonic()
        self._filters: OrderedDict[FilterSpec, set[int]] = OrderedDict()

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < _REFRESH_SECONDS:
            return
        self._checked = now
        if not self.searcher.up_to_date():
            self.searcher = self.searcher.refresh()
            self._filters.clear()

    def _allowed(self, filters: FilterSpec) -> set[int] | None:
        """Document numbers a filter allows, cached per searcher generation (filters repeat a lot)."""
        if filters.is_empty():
            return None
        docs = self._filters.get(filters)
        if docs is None:
            q = filters.to_query()
            docs = set(q.docs(self.searcher)) if q is not None else set()
            self._filters[filters] = docs
            if len(self._filters) > _FILTER_CACHE:
                self._filters.popitem(last=False)
        else:
            self._filters.move_to_end(filters)
        return docs

    def _bounded(self, groups: list[TermGroup]) -> list[TermGroup]:
        """The rarest term, plus the next rarest while they fit the postings budget (at most MAX_TERMS).

        Rare terms carry most of BM25's weight; very common ones cost the most to read and change
        the ranking least.
        """
        scored = []
        for pos, g in enumerate(groups):
            df = sum(self.searcher.doc_frequency(f, t) for t in g.terms() for f in ("body", "title"))
            if df:
                scored.append((df, pos, g))
        scored.sort(key=lambda x: (x[0], x[1]))
        budget = POSTINGS_BUDGET
        kept, spent = [], 0
        for df, _, g in scored[:MAX_TERMS]:
            if kept and spent + df > budget:
                break
            kept.append(g)
            spent += df
        return kept

    def search(self, groups: list[TermGroup], filters: FilterSpec, limit: int) -> ShardHits:
        self._refresh()
        allowed = self._allowed(filters)
        # Whoosh counts every match when the filter matches nothing (an empty allow-set reads as "no
        # filter" in its counting path), so an empty filter is answered here.
        if allowed is not None and not allowed:
            return ShardHits()
        if groups:
            kept = self._bounded(groups)
            if not kept:
                return ShardHits()
            clauses: list[Query] = []
            for g in kept:
                clauses.append(Or([Term(f, t) for t in g.terms() for f in ("title", "body")]))
            q: Query = clauses[0] if len(clauses) == 1 else Or(clauses)
        else:
            q = Every()
        # optimize=False: block-max skipping saves nothing on these queries and makes len() recount.
        results = self.searcher.search(q, filter=allowed, limit=limit, optimize=False)
        return ShardHits(total=len(results), hits=[(float(h.score or 0.0), h["id"]) for h in results])

    def close(self) -> None:
        self.searcher.close()


def _merge(parts: list[ShardHits], limit: int) -> ShardHits:
    hits = heapq.nlargest(limit, (h for p in parts for h in p.hits), key=lambda h: (h[0], h[1]))
    return ShardHits(total=sum(p.total for p in parts), hits=hits)


class LocalSearcher:
    """All shards searched one after the other in this process (tests, small corpora, one core)."""

    def __init__(self, index_dir: Path, shards: int) -> None:
        self._shards = [ShardSearcher(shard_dir(index_dir, s)) for s in range(shards)]
        self._lock = threading.Lock()

    def search(self, groups: list[TermGroup], filters: FilterSpec, limit: int) -> ShardHits:
        with self._lock:
            return _merge([s.search(groups, filters, limit) for s in self._shards], limit)

    def close(self) -> None:
        for s in self._shards:
            s.close()


def _serve_shard(path: str, conn) -> None:
    shard = ShardSearcher(Path(path))
    conn.send(("ready", None))
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        try:
            conn.send(("ok", shard.search(*msg)))
        except Exception as exc:  # reported to the caller, the worker stays up
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class ParallelSearcher:
    """One process per shard (spawned: safe next to gRPC threads); a query goes to all and is merged."""

    def __init__(self, index_dir: Path, shards: int, *, start_timeout: float = 60.0) -> None:
        self._ctx = mp.get_context("spawn")
        self._paths = [str(shard_dir(index_dir, s)) for s in range(shards)]
        self._lock = threading.Lock()
        self._workers = [self._start(p, start_timeout) for p in self._paths]

    def _start(self, path: str, timeout: float):
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=_serve_shard, args=(path, child), daemon=True)
        proc.start()
        child.close()
        if not parent.poll(timeout):
            proc.kill()
            raise RuntimeError(f"el proceso de búsqueda de {path} no arrancó")
        parent.recv()
        return proc, parent

    def search(self, groups: list[TermGroup], filters: FilterSpec, limit: int) -> ShardHits:
        with self._lock:
            for i, (proc, _conn) in enumerate(self._workers):
                if not proc.is_alive():
                    self._workers[i] = self._start(self._paths[i], 60.0)
            parts, errors = [], []
            try:
                for _, conn in self._workers:
                    conn.send((groups, filters, limit))
                for _, conn in self._workers:
                    kind, payload = conn.recv()
                    (parts if kind == "ok" else errors).append(payload)
            except (EOFError, OSError) as exc:  # a worker died mid-query: replace them all next time
                for proc, _conn in self._workers:
                    proc.kill()
                    proc.join(timeout=5)
                raise Unavailable("La búsqueda no está disponible en este momento; intente de nuevo.") from exc
            if errors:
                raise RuntimeError("; ".join(errors))
            return _merge(parts, limit)

    def close(self) -> None:
        with self._lock:
            for proc, conn in self._workers:
                with contextlib.suppress(OSError):
                    conn.send(None)
                proc.join(timeout=5)
                if proc.is_alive():
                    proc.kill()
            self._workers = []
