"""legal_search benchmark: relevance and latency of our search vs an SQLite FTS5 bm25 baseline on the
same generated corpus, metadata accuracy, and ingest/latency figures at scale.

    .venv/bin/python bench/legal.py              # quality on 5,000 docs, scale figures at 100,000
    .venv/bin/python bench/legal.py --quick      # 2,000 / 10,000 docs
    .venv/bin/python bench/legal.py --docs 50000 --quality-docs 5000
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from whoosh.lang import stopwords_for_language

from legal_search.filters import build
from legal_search.ingest import ingest_paths
from legal_search.quality import check, content_questions, metadata_questions, ndcg_at, recall_at
from legal_search.sample import generate, write_jsonl
from legal_search.service import LegalSearch, open_store
from legal_search.text import fold

STOP = {fold(w) for w in stopwords_for_language("es")}
WORD = re.compile(r"\w+")


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


# ---- FTS5 baseline ---------------------------------------------------------------------------------

class Fts5:
    """SQLite FTS5 with unicode61 remove_diacritics 2 and bm25(title 2.0, body 1.0); OR of the question's
    words minus Spanish stop words (the same list our analyzer drops)."""

    def __init__(self, path: Path, create: bool = True) -> None:
        self.db = sqlite3.connect(str(path))
        if not create:
            return
        self.db.executescript("""
            CREATE TABLE doc(rowid INTEGER PRIMARY KEY, id TEXT UNIQUE, municipality TEXT, type TEXT, year INT);
            CREATE VIRTUAL TABLE doc_fts USING fts5(title, body, tokenize = "unicode61 remove_diacritics 2");
        """)

    def load(self, jsonl: Path) -> float:
        started = time.perf_counter()
        with jsonl.open(encoding="utf-8") as fh, self.db:
            for n, line in enumerate(fh, 1):
                d = json.loads(line)
                body = "\n".join([d["content"], *[" ".join(r) for t in d["tables"] for r in t["rows"]]])
                self.db.execute("INSERT INTO doc VALUES (?,?,?,?,?)", (n, d["id"], d["municipality"], d["type"],
                                                                         d["year"]))
                self.db.execute("INSERT INTO doc_fts(rowid, title, body) VALUES (?,?,?)", (n, d["title"], body))
        return time.perf_counter() - started

    @staticmethod
    def match(text: str) -> str | None:
        words = [w for w in WORD.findall(fold(text)) if w not in STOP]
        return " OR ".join(f'"{w}"' for w in dict.fromkeys(words)) or None

    def search(self, text: str, limit: int = 10) -> list[str]:
        m = self.match(text)
        if m is None:
            return []
        rows = self.db.execute(
            "SELECT doc.id, snippet(doc_fts, 1, '**', '**', '…', 20) FROM doc_fts CROSS JOIN doc "
            "ON doc.rowid = doc_fts.rowid WHERE doc_fts MATCH ? ORDER BY bm25(doc_fts, 2.0, 1.0) LIMIT ?",
            (m, limit)).fetchall()
        return [r[0] for r in rows]


# ---- runs ------------------------------------------------------------------------------------------

def build_corpus(workdir: Path, n: int, seed: int, shards: int, processes: bool, reuse: bool = False):
    """Generate, ingest (timed) and load FTS5; with `reuse`, an earlier run's files in `workdir` are kept."""
    jsonl = workdir / f"corpus-{n}-{seed}.jsonl"
    url = f"sqlite:///{workdir / f'legal-{n}-{seed}.db'}"
    index_dir = workdir / f"whoosh-{n}-{seed}-{shards}"
    fts_path = workdir / f"fts-{n}-{seed}.db"
    t0 = time.perf_counter()
    if reuse and jsonl.exists() and fts_path.exists():
        truths = [t for _, t in generate(n, seed)]
        engine = open_store(url)
        report = None
        fts = Fts5(fts_path, create=False)
        fts_s = 0.0
    else:
        for old in (fts_path, Path(url[len("sqlite:///"):])):
            old.unlink(missing_ok=True)
        shutil.rmtree(index_dir, ignore_errors=True)
        truths = write_jsonl(jsonl, n, seed)
        engine = open_store(url)
        report = ingest_paths(engine, index_dir, [jsonl], shards=shards, progress=False)
        fts = Fts5(fts_path)
        fts_s = fts.load(jsonl)
    gen_s = time.perf_counter() - t0
    svc = LegalSearch(engine, index_dir, shards=shards, processes=processes)
    return truths, svc, fts, report, fts_s, gen_s


def quality(svc: LegalSearch, fts: Fts5, truths) -> dict:
    cq = content_questions(truths)
    ours_n, ours_r, base_n, base_r = [], [], [], []
    for q in cq:
        ids = [h.id for h in svc.search_content(q.text, build(), 10).results]
        ours_n.append(ndcg_at(ids, q.relevance))
        ours_r.append(recall_at(ids, q.relevance))
        ids = fts.search(q.text)
        base_n.append(ndcg_at(ids, q.relevance))
        base_r.append(recall_at(ids, q.relevance))
    mq = metadata_questions(truths)
    nl_ok = st_ok = 0
    for q in mq:
        r = svc.query_metadata(q.text, build())
        nl_ok += check(q, r.total, r.groups, [x.id for x in r.rows])
        s = dict(q.structured)
        r = svc.query_metadata("", build(**s.pop("filters", {})), **s)
        st_ok += check(q, r.total, r.groups, [x.id for x in r.rows])
    return {"content_questions": len(cq), "ndcg": statistics.mean(ours_n), "recall": statistics.mean(ours_r),
            "fts_ndcg": statistics.mean(base_n), "fts_recall": statistics.mean(base_r),
            "metadata_questions": len(mq), "nl_acc": nl_ok / len(mq), "structured_acc": st_ok / len(mq)}


def latency(svc: LegalSearch, fts: Fts5, truths, rounds: int) -> dict:
    texts = [q.text for q in content_questions(truths)]
    for t in texts[:5]:  # warm caches and the shard processes
        svc.search_content(t, build(), 10)
        fts.search(t)
    ours, base, meta = [], [], []
    for _ in range(rounds):
        for t in texts:
            s = time.perf_counter()
            svc.search_content(t, build(), 10)
            ours.append((time.perf_counter() - s) * 1000)
            s = time.perf_counter()
            fts.search(t)
            base.append((time.perf_counter() - s) * 1000)
    mq = [q.text for q in metadata_questions(truths)]
    for _ in range(rounds):
        for t in mq:
            s = time.perf_counter()
            svc.query_metadata(t, build())
            meta.append((time.perf_counter() - s) * 1000)
    return {"queries": len(ours), "p50": pct(ours, 50), "p95": pct(ours, 95), "fts_p50": pct(base, 50),
            "fts_p95": pct(base, 95), "meta_p50": pct(meta, 50), "meta_p95": pct(meta, 95)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=100_000, help="corpus size for the scale figures")
    ap.add_argument("--quality-docs", type=int, default=5_000, help="corpus size for relevance judgements")
    ap.add_argument("--quick", action="store_true", help="2,000 / 10,000 documents")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--shards", type=int, default=int(os.environ.get("LEGAL_INDEX_SHARDS", "2")))
    ap.add_argument("--rounds", type=int, default=3, help="passes over the question sets for latency")
    ap.add_argument("--workdir", type=Path, help="keep the corpora here (default: a temporary folder)")
    ap.add_argument("--reuse", action="store_true", help="with --workdir: reuse corpora built by an earlier run "
                    "(ingest is then not timed)")
    args = ap.parse_args()
    if args.quick:
        args.docs, args.quality_docs, args.rounds = 10_000, 2_000, 2
    tmp = tempfile.TemporaryDirectory(prefix="legal-bench-") if args.workdir is None else None
    workdir = args.workdir or Path(tmp.name)
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        print(f"== legal_search bench (shards={args.shards}, cpu={os.cpu_count()})")
        truths, svc, fts, rep, fts_s, _ = build_corpus(workdir, args.quality_docs, args.seed, args.shards, False,
                                                       args.reuse)
        q = quality(svc, fts, truths)
        svc.close()
        print(f"\nrelevance on {args.quality_docs} docs, {q['content_questions']} judged content questions")
        print(f"  {'engine':<34}{'nDCG@10':>9}{'recall@10':>11}")
        print(f"  {'ours (Whoosh BM25F, Spanish)':<34}{q['ndcg']:>9.3f}{q['recall']:>11.3f}")
        print(f"  {'SQLite FTS5 bm25 (unicode61)':<34}{q['fts_ndcg']:>9.3f}{q['fts_recall']:>11.3f}")
        print(f"  nDCG@10 difference: {q['ndcg'] - q['fts_ndcg']:+.3f}   (target >= +0.10)")
        print(f"metadata accuracy, {q['metadata_questions']} questions: NL-only {q['nl_acc']:.1%}, "
              f"structured {q['structured_acc']:.1%}")

        truths, svc, fts, rep, fts_s, _ = build_corpus(workdir, args.docs, args.seed, args.shards, True,
                                                       args.reuse)
        print(f"\nscale: {args.docs} docs")
        if rep is None:
            print("  ingest: not measured (--reuse)")
        else:
            print(f"  ingest (validate + SQL upsert + {args.shards} parallel index writers): {rep.seconds:.1f} s "
                  f"= {rep.read / rep.seconds:.0f} docs/s   (target >= 1500)")
            print(f"    of which validate + SQL {rep.sql_seconds:.1f} s, index {rep.seconds - rep.sql_seconds:.1f} s")
            print(f"  FTS5 build: {fts_s:.1f} s = {args.docs / fts_s:.0f} docs/s")
        lat = latency(svc, fts, truths, args.rounds)
        qs = quality(svc, fts, truths)
        svc.close()
        print(f"  search_content over {lat['queries']} queries (incl. SQL rows + snippets): p50 {lat['p50']:.1f} ms, "
              f"p95 {lat['p95']:.1f} ms   (target p95 <= 50 ms)")
        print(f"  FTS5 MATCH + snippet():                 p50 {lat['fts_p50']:.1f} ms, p95 {lat['fts_p95']:.1f} ms")
        print(f"  ratio ours/FTS5: p50 {lat['p50'] / lat['fts_p50']:.2f}x, p95 {lat['p95'] / lat['fts_p95']:.2f}x"
              f"   (target p50 <= 3x)")
        print(f"  query_metadata_sql (NL questions): p50 {lat['meta_p50']:.2f} ms, p95 {lat['meta_p95']:.2f} ms"
              f"   (target p50 <= 5 ms)")
        print(f"  relevance at this size: ours nDCG@10 {qs['ndcg']:.3f} / recall@10 {qs['recall']:.3f}; "
              f"FTS5 {qs['fts_ndcg']:.3f} / {qs['fts_recall']:.3f}; metadata NL {qs['nl_acc']:.1%}, "
              f"structured {qs['structured_acc']:.1%}")
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
