"""query_metadata_sql accuracy on the judged Spanish question set, natural-language-only and structured.

The questions (centralita_fixtures/data/legal_metadata_questions.jsonl) and their corpus
(centralita_fixtures/legal_judged.py) are our own; answers are judged against the generated records, never
against our SQL. Prints accuracy per mode, per category and for the held-out part, the misses, and query latency.

    .venv/bin/python bench/legal_metadata.py [--postgres] [--misses]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

from sqlalchemy import create_engine, text

from centralita_fixtures import legal_judged as judged
from legal_search.filters import build
from legal_search.ingest import ingest_records
from legal_search.nlq import parse_metadata
from legal_search.service import LegalSearch, open_store

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def run_mode(svc: LegalSearch, docs, questions, structured: bool):
    by_cat: dict[str, list[bool]] = defaultdict(list)
    held: dict[str, list[bool]] = defaultdict(list)
    misses, times = [], []
    for q in questions:
        args = q.structured() if structured else {}
        filters = build(**args.pop("filters", {}))
        started = time.perf_counter()
        r = svc.query_metadata(q.text, filters, **args)
        times.append((time.perf_counter() - started) * 1000)
        ok = judged.judge(q, docs, r.total, r.groups, [(row.id, row.status) for row in r.rows])
        by_cat[q.category].append(ok)
        if q.held_out:
            held[q.held_out if isinstance(q.held_out, str) else "held out"].append(ok)
        if not ok:
            misses.append(f"  {q.text!r}\n      -> {r.interpretation}")
    right = sum(sum(v) for v in by_cat.values())
    return right, len(questions), by_cat, held, misses, times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--postgres", action="store_true", help="also run on PostgreSQL at 127.0.0.1:5432")
    ap.add_argument("--misses", action="store_true", help="print every wrong answer")
    ap.add_argument("--quick", action="store_true", help="accepted for make bench; the set is small anyway")
    args = ap.parse_args()
    docs, questions = judged.corpus(), judged.load()
    backends = ["sqlite"] + (["postgres"] if args.postgres else [])
    for backend in backends:
        with tempfile.TemporaryDirectory() as tmp:
            schema = None
            if backend == "sqlite":
                engine = open_store(f"sqlite:///{tmp}/legal.db")
            else:
                schema = f"bench_meta_{uuid.uuid4().hex[:10]}"
                admin = create_engine(PG_URL)
                with admin.begin() as conn:
                    conn.execute(text(f'CREATE SCHEMA "{schema}"'))
                engine = open_store(PG_URL, schema)
            try:
                ingest_records(engine, Path(tmp) / "index", docs, shards=1, schema_name=schema, progress=False)
                svc = LegalSearch(engine, Path(tmp) / "index", shards=1, processes=False, schema=schema)
                svc.clock = lambda: judged.TODAY
                svc.query_metadata("cuantas normas hay desde el 1/1/2023", build())  # warm: grammar, dateparser
                print(
                    f"== {backend}: {len(docs)} documents, {len(questions)} questions "
                    f"({sum(bool(q.held_out) for q in questions)} held out), clock {judged.TODAY}"
                )
                gaz = svc.gazetteer()
                reader = []
                for q in questions:
                    started = time.perf_counter()
                    parse_metadata(q.text, gaz, judged.TODAY)
                    reader.append((time.perf_counter() - started) * 1000)
                print(
                    f"{'reader alone':>22}: p50 {statistics.median(reader):.2f} ms, "
                    f"p95 {statistics.quantiles(reader, n=20)[-1]:.2f} ms per question (parse_metadata)"
                )
                for mode, structured in (("natural language only", False), ("with explicit filters", True)):
                    qs = questions if structured else [q for q in questions if not q.structured_only]
                    right, n, by_cat, held, misses, times = run_mode(svc, docs, qs, structured)
                    cats = ", ".join(f"{c} {sum(v)}/{len(v)}" for c, v in sorted(by_cat.items()))
                    parts = "; ".join(f"{k} {sum(v)}/{len(v)}" for k, v in sorted(held.items()))
                    print(
                        f"{mode:>22}: {right}/{n} = {right / n:.1%}  ({parts}; "
                        f"p50 {statistics.median(times):.2f} ms, "
                        f"p95 {statistics.quantiles(times, n=20)[-1]:.2f} ms)"
                    )
                    print(f"{'':>24}{cats}")
                    if args.misses and misses:
                        print("\n".join(misses))
                svc.close()
            finally:
                if schema:
                    with admin.begin() as conn:
                        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                    admin.dispose()


if __name__ == "__main__":
    main()
