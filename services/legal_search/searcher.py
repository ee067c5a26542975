"""Searching the shards: one long-lived Whoosh searcher per shard, optionally each in its own process.

Whoosh is pure Python, so threads cannot search shards at the same time; processes can. Whoosh keeps
the index (term dictionary, postings, lengths, filter fields); ranking is BM25F computed here with numpy
over each term's postings, read once per index generation and cached: Whoosh's own matchers cost
microseconds per posting and scored every match before applying the filter (p95 79 ms at 100k).
The query plan is bounded: only the rarest few terms of the question are matched (postings read grow
with each term's document frequency, and common words add little to ranking).
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

import numpy as np
from whoosh import index as windex
from whoosh.query import And, NumericRange, Or, Query, Term

from legal_search.errors import Unavailable
from legal_search.index import shard_dir

MAX_TERMS = 8
# Postings budget per shard: beyond the rarest term, further terms are added while the postings read
# stay under this many (matching cost is linear in postings read, a few µs each in Whoosh). Small
# indexes never hit it; at 50k documents per shard it drops only very common words.
POSTINGS_BUDGET = 15_000
# BM25F parameters (the title's own B: titles are short and similar in length).
K1, B, TITLE_B = 1.2, 0.75, 0.4
TITLE_BOOST = 1.0  # on top of the schema's field_boost (already in the title's posting weights)
COORD = 0.0  # coordination bonus: score × (1 + COORD × idf-weighted share of the question's words matched)
DERIVED_WEIGHT = 0.5  # weight of a stem's derivational family (presupuesto ~ presupuestaria); 0 = off
DERIVED_MIN_STEM, DERIVED_MAX_EXTRA = 5, 4
_TERM_CACHE = 4096  # (field, term) posting arrays kept per shard
_REFRESH_SECONDS = 1.0
_FILTER_CACHE = 64  # a few MB per shard at 50k documents


@dataclass(frozen=True)
class TermGroup:
    """One word of the question: its index term (accent-less spellings are indexed too) and the terms of
    its other grammatical number, which the stemmer does not always join (préstamo/préstamos)."""

    term: str
    alts: tuple[str, ...] = ()
    weight: float = 1.0  # < 1 for words added by feedback (content.expand), not said by the caller

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


class Postings:
    """Per-generation arrays of one shard: BM25F term scores are computed with numpy over cached postings.

    Whoosh's matchers cost microseconds per posting in Python (and they score every match before the
    filter); here a term's postings are read once per index generation into arrays, and a query is a
    handful of vector operations whatever the number of matches.
    """

    FIELDS = ("title", "body")

    def __init__(self, reader) -> None:
        self.reader = reader
        self.n = reader.doc_count_all()
        self.live = np.zeros(self.n, dtype=bool)
        self.live[list(reader.all_doc_ids())] = True
        self.norm: dict[str, np.ndarray] = {}
        for fname in self.FIELDS:
            lengths = np.fromiter(
                (reader.doc_field_length(d, fname, 0) for d in range(self.n)), dtype=np.float32, count=self.n
            )
            avg = float(lengths[self.live].mean()) if self.live.any() else 1.0
            b = TITLE_B if fname == "title" else B
            self.norm[fname] = (K1 * (1 - b + b * lengths / max(avg, 1.0))).astype(np.float32)
        self.live_count = int(self.live.sum())
        ids = reader.column_reader("id")
        self.ids = [ids[d] for d in range(self.n)]
        self.year = self._column("year")
        self.date = self._column("date")
        self._terms: OrderedDict[tuple[str, str], tuple[np.ndarray, np.ndarray, int]] = OrderedDict()
        self._derived: dict[str, tuple[str, ...]] = {}
        self._df: dict[tuple[str, str], int] = {}
        self._keys: dict[tuple[str, str], np.ndarray] = {}  # term dictionary lookups cost ~15 µs each in Whoosh

    def _column(self, fname: str) -> np.ndarray | None:
        """Per-document values of a column-stored numeric field (None in an index built without it).
        Filters compare these arrays: Whoosh's numeric range queries cost ~6 ms per new filter."""
        if not self.reader.has_column(fname):
            return None
        col = self.reader.column_reader(fname)
        return np.fromiter((col[d] or 0 for d in range(self.n)), dtype=np.int64, count=self.n)

    def mask(self, filters: FilterSpec) -> np.ndarray:
        """Live documents a filter allows: term postings for keys, column comparisons for year and date."""
        mask = self.live.copy()
        if filters.municipalities:
            any_of = np.zeros(self.n, dtype=bool)
            for m in filters.municipalities:
                any_of[self._key_docs("municipality", m)] = True
            mask &= any_of
        for name in ("type", "number", "status"):
            value = getattr(filters, name)
            if value:
                one = np.zeros(self.n, dtype=bool)
                one[self._key_docs(name, value)] = True
                mask &= one
        if filters.year is not None or filters.date_from is not None or filters.date_to is not None:
            if self.year is None or self.date is None:  # layouts before es-4 are rebuilt at start (index.py)
                raise RuntimeError("el índice no tiene las columnas de año y fecha; ejecute centralita legal-index")
            if filters.year is not None:
                mask &= self.year == filters.year
            if filters.date_from is not None:
                mask &= self.date >= filters.date_from
            if filters.date_to is not None:
                mask &= self.date <= filters.date_to
        return mask

    def _key_docs(self, fname: str, text: str) -> np.ndarray:
        """Documents having one filter key (municipality, type, number, status), cached per generation:
        a new filter combination then costs a few vector operations instead of reading postings."""
        key = (fname, text)
        hit = self._keys.get(key)
        if hit is None:
            if len(self._keys) > 4096:
                self._keys.clear()
            hit = self._keys[key] = self._read(fname, text)[0]
        return hit

    def _read(self, fname: str, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(docnums, weights) of one term, block by block (the public matcher API is per posting)."""
        ids_parts, w_parts = [], []
        for leaf, offset in self.reader.leaf_readers():
            if (fname, text) not in leaf:
                continue
            m = leaf.postings(fname, text)
            if hasattr(m, "_read_ids") and hasattr(m, "_read_weights") and hasattr(m, "_next_block"):
                while m.is_active():
                    m._read_ids()
                    m._read_weights()
                    ids_parts.append(np.asarray(m._ids, dtype=np.int64) + offset)
                    w_parts.append(np.asarray(m._weights, dtype=np.float32))
                    m._next_block()
            else:  # another codec or a wrapped matcher: the generic (slower) path
                ids, ws = [], []
                while m.is_active():
                    ids.append(m.id() + offset)
                    ws.append(m.weight())
                    m.next()
                ids_parts.append(np.asarray(ids, dtype=np.int64))
                w_parts.append(np.asarray(ws, dtype=np.float32))
        if not ids_parts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        return np.concatenate(ids_parts), np.concatenate(w_parts)

    def term(self, fname: str, text: str) -> tuple[np.ndarray, np.ndarray, int]:
        """(docnums, BM25F scores, document frequency) of one term in one field, cached (LRU)."""
        key = (fname, text)
        hit = self._terms.get(key)
        if hit is not None:
            self._terms.move_to_end(key)
            return hit
        docs, weights = self._read(fname, text)
        keep = self.live[docs] if len(docs) else docs.astype(bool)
        docs, weights = docs[keep], weights[keep]
        df = len(docs)
        idf = np.log1p((self.live_count - df + 0.5) / (df + 0.5)) if df else 0.0
        scores = (idf * weights * (K1 + 1) / (weights + self.norm[fname][docs])).astype(np.float32)
        out = (docs, scores, df)
        self._terms[key] = out
        if len(self._terms) > _TERM_CACHE:
            self._terms.popitem(last=False)
        return out

    def derived(self, term: str) -> tuple[str, ...]:
        """Index terms that extend a stem by a short derivational ending the Snowball stemmer keeps
        (presupuest -> presupuestari, salari -> salarial, municipi... ): same word family."""
        if len(term) < DERIVED_MIN_STEM or not DERIVED_WEIGHT:
            return ()
        hit = self._derived.get(term)
        if hit is None:
            found = []
            for fname in self.FIELDS:
                for t in self.reader.expand_prefix(fname, term):
                    t = t.decode() if isinstance(t, bytes) else t
                    if 0 < len(t) - len(term) <= DERIVED_MAX_EXTRA and t not in found:
                        found.append(t)
            hit = self._derived[term] = tuple(found[:6])
        return hit

    def doc_frequency(self, group: TermGroup) -> int:
        """Postings a group would read (from the term dictionary: no postings are read)."""
        return sum(self.df(f, t) for t in group.terms() for f in self.FIELDS)

    def df(self, fname: str, text: str) -> int:
        """Documents (live or deleted) having a term, from the term dictionary, cached per generation."""
        key = (fname, text)
        hit = self._df.get(key)
        if hit is None:
            if len(self._df) > 100_000:
                self._df.clear()
            hit = self._df[key] = self.reader.doc_frequency(fname, text)
        return hit


class ShardSearcher:
    """A reusable searcher over one shard, reopened when the index changes (checked at most once a second)."""

    def __init__(self, path: Path) -> None:
        self.ix = windex.open_dir(str(path))
        self.searcher = self.ix.searcher()
        self._checked = time.monotonic()
        self._filters: OrderedDict[FilterSpec, np.ndarray] = OrderedDict()
        self._postings: Postings | None = None

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < _REFRESH_SECONDS:
            return
        self._checked = now
        if not self.searcher.up_to_date():
            self.searcher = self.searcher.refresh()
            self._filters.clear()
            self._postings = None

    @property
    def postings(self) -> Postings:
        if self._postings is None:
            self._postings = Postings(self.searcher.reader())
        return self._postings

    def _allowed(self, filters: FilterSpec) -> np.ndarray | None:
        """Mask of the live documents a filter allows, cached per searcher generation (filters repeat a lot)."""
        if filters.is_empty():
            return None
        mask = self._filters.get(filters)
        if mask is None:
            mask = self._filters[filters] = self.postings.mask(filters)
            if len(self._filters) > _FILTER_CACHE:
                self._filters.popitem(last=False)
        else:
            self._filters.move_to_end(filters)
        return mask

    def _bounded(self, groups: list[TermGroup]) -> list[TermGroup]:
        """The rarest term, plus the next rarest while they fit the postings budget (at most MAX_TERMS).

        Rare terms carry most of BM25's weight; very common ones cost the most to read and change
        the ranking least.
        """
        scored = []
        for pos, g in enumerate(groups):
            df = self.postings.doc_frequency(g)
            if df:
                scored.append((df, pos, g))
        scored.sort(key=lambda x: (x[0], x[1]))
        kept, spent = [], 0
        for df, _, g in scored[:MAX_TERMS]:
            if kept and spent + df > POSTINGS_BUDGET:
                break
            kept.append(g)
            spent += df
        return kept

    def search(self, groups: list[TermGroup], filters: FilterSpec, limit: int) -> ShardHits:
        self._refresh()
        allowed = self._allowed(filters)
        if allowed is not None and not allowed.any():
            return ShardHits()
        post = self.postings
        if not groups:  # every allowed document, in index order (a named norm, whatever its words)
            docs = np.flatnonzero(allowed if allowed is not None else post.live)
            return ShardHits(total=len(docs), hits=[(0.0, post.ids[d]) for d in docs[:limit]])
        kept = self._bounded(groups)
        if not kept:
            return ShardHits()
        score = np.zeros(post.n, dtype=np.float32)
        matched = np.zeros(post.n, dtype=np.float32)
        weight_total = 0.0
        for g in kept:
            group_score = np.zeros(post.n, dtype=np.float32)
            idf_max = 0.0
            own = g.terms()
            for t in (*own, *(d for o in own for d in post.derived(o) if d not in own)):
                w = 1.0 if t in own else DERIVED_WEIGHT
                for fname in Postings.FIELDS:
                    docs, scores, df = post.term(fname, t)
                    if df:
                        group_score[docs] += scores * (w * (TITLE_BOOST if fname == "title" else 1.0))
                        idf_max = max(idf_max, float(np.log1p((post.live_count - df + 0.5) / (df + 0.5))))
            score += group_score * g.weight if g.weight != 1.0 else group_score
            matched += (group_score > 0) * idf_max
            weight_total += idf_max
        if weight_total > 0 and COORD:
            # Coordination: a document that has more of the question's (idf-weighted) words ranks higher
            # than one repeating a single word: "licencia de conducir" over many "licencia" alone.
            score *= 1.0 + COORD * matched / weight_total
        if allowed is not None:
            score[~allowed] = 0.0
        candidates = np.flatnonzero(score > 0)
        total = len(candidates)
        top = candidates[np.argpartition(-score[candidates], limit - 1)[:limit]] if total > limit else candidates
        order = sorted(top.tolist(), key=lambda d: (float(score[d]), post.ids[d]), reverse=True)
        return ShardHits(total=total, hits=[(float(score[d]), post.ids[d]) for d in order])

    def doc_frequencies(self, terms: list[str]) -> tuple[int, list[int]]:
        """(live documents, documents having each term in the body) of this shard."""
        self._refresh()
        post = self.postings
        return post.live_count, [post.df("body", t) for t in terms]

    def close(self) -> None:
        self.searcher.close()


def _sum_frequencies(parts: list[tuple[int, list[int]]]) -> tuple[int, list[int]]:
    return sum(p[0] for p in parts), [sum(col) for col in zip(*(p[1] for p in parts), strict=True)]


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

    def doc_frequencies(self, terms: list[str]) -> tuple[int, list[int]]:
        with self._lock:
            return _sum_frequencies([s.doc_frequencies(terms) for s in self._shards])

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
            kind, args = msg
            conn.send(("ok", shard.search(*args) if kind == "search" else shard.doc_frequencies(*args)))
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
        return _merge(self._ask("search", (groups, filters, limit)), limit)

    def doc_frequencies(self, terms: list[str]) -> tuple[int, list[int]]:
        return _sum_frequencies(self._ask("df", (terms,)))

    def _ask(self, kind: str, args: tuple) -> list:
        """Send one request to every shard process and gather the answers (in shard order)."""
        with self._lock:
            for i, (proc, _conn) in enumerate(self._workers):
                if not proc.is_alive():
                    self._workers[i] = self._start(self._paths[i], 60.0)
            parts, errors = [], []
            try:
                for _, conn in self._workers:
                    conn.send((kind, args))
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
            return parts

    def close(self) -> None:
        with self._lock:
            for proc, conn in self._workers:
                with contextlib.suppress(OSError):
                    conn.send(None)
                proc.join(timeout=5)
                if proc.is_alive():
                    proc.kill()
            self._workers = []
