"""legal_search benchmark: relevance and latency of our search vs an SQLite FTS5 bm25 baseline on the
same generated corpus, and ingest/latency figures at scale (metadata accuracy: bench/legal_metadata.py).

Relevance is judged twice: natural-language questions alone (centralita_fixtures.legal_quality) and questions with
explicit filters (centralita_fixtures/legal_judged_content.py), where FTS5 gets the same filters as SQL WHERE.

    .venv/bin/python bench/legal.py                       # 3,000, 5,000 and 100,000 documents
    .venv/bin/python bench/legal.py --sizes 3000,5000     # skip the slow 100k corpus
    .venv/bin/python bench/legal.py --sizes 100000 --workdir /tmp/lb --reuse   # search only, corpus kept

Everything is measured from outside, as a client would: ingest is the `centralita ingest` command
(process start included), search is a plain gRPC client calling `centralita serve legal_search` (a
real server process with its shard processes), against FTS5 bm25 queried in this process.
Documents are bulletin-length (centralita_fixtures.legal_sample.generate(long=True): ~3 KB of text, 6–7 KB JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import ClassVar

import grpc
from whoosh.lang import stopwords_for_language

from centralita.legal.v1 import legal_pb2, legal_pb2_grpc
from centralita_fixtures.legal_judged_content import filtered_questions
from centralita_fixtures.legal_quality import content_questions, ndcg_at, recall_at
from centralita_fixtures.legal_sample import generate, write_jsonl
from legal_search.text import fold

ROOT = Path(__file__).resolve().parent.parent

STOP = {fold(w) for w in stopwords_for_language("es")}
WORD = re.compile(r"\w+")


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (the shard processes), from /proc."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


# ---- FTS5 baseline ---------------------------------------------------------------------------------


class Fts5:
    """SQLite FTS5 with unicode61 remove_diacritics 2 and bm25(title 2.0, body 1.0); OR of the question's
    words minus Spanish stop words (the same list our analyzer drops)."""

    def __init__(self, path: Path, create: bool = True) -> None:
        self.db = sqlite3.connect(str(path))
        if not create:
            return
        self.db.executescript("""
            CREATE TABLE doc(rowid INTEGER PRIMARY KEY, id TEXT UNIQUE, municipality TEXT, type TEXT, year INT,
                             date TEXT);
            CREATE VIRTUAL TABLE doc_fts USING fts5(title, body, tokenize = "unicode61 remove_diacritics 2");
        """)

    def load(self, jsonl: Path) -> float:
        started = time.perf_counter()
        with jsonl.open(encoding="utf-8") as fh, self.db:
            for n, line in enumerate(fh, 1):
                d = json.loads(line)
                body = "\n".join([d["content"], *[" ".join(r) for t in d["tables"] for r in t["rows"]]])
                self.db.execute(
                    "INSERT INTO doc VALUES (?,?,?,?,?,?)",
                    (n, d["id"], d["municipality"], d["type"], d["year"], d["date"]),
                )
                self.db.execute("INSERT INTO doc_fts(rowid, title, body) VALUES (?,?,?)", (n, d["title"], body))
        return time.perf_counter() - started

    @staticmethod
    def match(text: str) -> str | None:
        words = [w for w in WORD.findall(fold(text)) if w not in STOP]
        return " OR ".join(f'"{w}"' for w in dict.fromkeys(words)) or None

    _WHERE: ClassVar[dict[str, str]] = {
        "municipality": "doc.municipality = ?",
        "type": "doc.type = ?",
        "year": "doc.year = ?",
        "date_from": "doc.date >= ?",
        "date_to": "doc.date <= ?",
    }

    def search(self, text: str, limit: int = 10, filters: dict | None = None) -> list[str]:
        """Best `limit` ids; `filters` (the judged set's explicit filters) become SQL WHERE conditions."""
        m = self.match(text)
        if m is None:
            return []
        filters = filters or {}
        where = "".join(f" AND {self._WHERE[k]}" for k in filters)
        rows = self.db.execute(
            "SELECT doc.id, snippet(doc_fts, 1, '**', '**', '…', 20) FROM doc_fts CROSS JOIN doc "
            f"ON doc.rowid = doc_fts.rowid WHERE doc_fts MATCH ?{where} ORDER BY bm25(doc_fts, 2.0, 1.0) LIMIT ?",
            (m, *filters.values(), limit),
        ).fetchall()
        return [r[0] for r in rows]


# ---- runs ------------------------------------------------------------------------------------------


def env_for(workdir: Path, n: int, seed: int, shards: int) -> dict:
    env = dict(os.environ)
    env.update(
        LEGAL_DB_URL=f"sqlite:///{workdir / f'legal-{n}-{seed}.db'}",
        LEGAL_INDEX_DIR=str(workdir / f"whoosh-{n}-{seed}-{shards}"),
        LEGAL_INDEX_SHARDS=str(shards),
        LEGAL_DATA_DIR=str(workdir),
        LEGAL_SYNC_SECONDS="3600",
        CENTRALITA_ENV_FILE=str(workdir / "none.env"),
        GRPC_BIND_HOST="127.0.0.1",
        LOG_LEVEL="WARNING",
    )
    return env


def build_corpus(workdir: Path, n: int, seed: int, shards: int, reuse: bool):
    """Generate bulletin-length documents, ingest them with the `centralita ingest` command (timed, process
    start included) and load FTS5. With `reuse`, an earlier run's corpus in `workdir` is kept."""
    jsonl = workdir / f"corpus-{n}-{seed}.jsonl"
    fts_path = workdir / f"fts-{n}-{seed}.db"
    env = env_for(workdir, n, seed, shards)
    if reuse and jsonl.exists() and fts_path.exists():
        return [t for _, t in generate(n, seed, long=True)], Fts5(fts_path, create=False), None, 0.0
    fts_path.unlink(missing_ok=True)
    Path(env["LEGAL_DB_URL"][len("sqlite:///") :]).unlink(missing_ok=True)
    shutil.rmtree(env["LEGAL_INDEX_DIR"], ignore_errors=True)
    truths = write_jsonl(jsonl, n, seed, long=True)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "centralita_suite.cli", "ingest", "--no-progress", str(jsonl)],
        env=env,
        check=True,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
    )
    ingest_s = time.perf_counter() - started
    fts = Fts5(fts_path)
    fts_s = fts.load(jsonl)
    return truths, fts, ingest_s, fts_s


class Server:
    """`centralita serve legal_search` in its own process, and a plain gRPC client to it."""

    def __init__(self, workdir: Path, n: int, seed: int, shards: int) -> None:
        port = free_port()
        env = env_for(workdir, n, seed, shards)
        env.update(LEGAL_SEARCH_PORT=str(port), LEGAL_SEARCH_METRICS_PORT=str(free_port()))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "centralita_suite.cli", "serve", "legal_search"], env=env, cwd=workdir
        )
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = legal_pb2_grpc.LegalSearchServiceStub(self.channel)
        deadline = time.monotonic() + 600
        while True:
            try:
                self.stub.GetDatabaseStats(legal_pb2.GetDatabaseStatsRequest(), timeout=5)
                break
            except grpc.RpcError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the legal_search server did not start") from None
                time.sleep(0.2)

    def search(self, text: str, filters: dict, limit: int = 10) -> list[str]:
        req = legal_pb2.SearchContentRequest(query=text, limit=limit)
        if filters:
            f = dict(filters)
            if "type" in f:
                f["type"] = legal_pb2.NormativaType.Value(f"NORMATIVA_TYPE_{f['type'].upper()}")
            req.filters.CopyFrom(legal_pb2.Filters(**f))
        return [r.id for r in self.stub.SearchContent(req, timeout=30).results]

    def close(self) -> None:
        self.channel.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def quality(srv: Server, fts: Fts5, truths) -> dict:
    """nDCG@10 / recall@10 of both engines on the natural-language set and on the explicit-filter set."""
    out = {}
    sets = {
        "nl": [(q.text, {}, q.relevance) for q in content_questions(truths)],
        "filtered": [(q.text, q.filters, q.relevance) for q in filtered_questions(truths)],
    }
    for name, questions in sets.items():
        ours_n, ours_r, base_n, base_r = [], [], [], []
        for text, filters, relevance in questions:
            ids = srv.search(text, filters)
            ours_n.append(ndcg_at(ids, relevance))
            ours_r.append(recall_at(ids, relevance))
            ids = fts.search(text, filters=filters)
            base_n.append(ndcg_at(ids, relevance))
            base_r.append(recall_at(ids, relevance))
        out[name] = {
            "questions": len(questions),
            "ndcg": statistics.mean(ours_n),
            "recall": statistics.mean(ours_r),
            "fts_ndcg": statistics.mean(base_n),
            "fts_recall": statistics.mean(base_r),
        }
    return out


def print_quality(q: dict, docs: int) -> None:
    for name, label in (("nl", "natural language only"), ("filtered", "with explicit filters")):
        r = q[name]
        print(f"\nrelevance on {docs} docs, {r['questions']} judged questions, {label}")
        print(f"  {'engine':<34}{'nDCG@10':>9}{'recall@10':>11}")
        print(f"  {'ours (Whoosh BM25F, Spanish)':<34}{r['ndcg']:>9.3f}{r['recall']:>11.3f}")
        print(f"  {'SQLite FTS5 bm25 (unicode61)':<34}{r['fts_ndcg']:>9.3f}{r['fts_recall']:>11.3f}")
        print(f"  nDCG@10 difference: {r['ndcg'] - r['fts_ndcg']:+.3f}   (target >= +0.10)")


def latency(srv: Server, fts: Fts5, truths, rounds: int) -> dict:
    """Per-query milliseconds of both engines over both question sets, interleaved (same load for both)."""
    questions = [(q.text, {}) for q in content_questions(truths)]
    questions += [(q.text, q.filters) for q in filtered_questions(truths)]
    for t, f in questions[:20]:  # warm caches and the shard processes
        srv.search(t, f)
        fts.search(t, filters=f)
    ours, base = [], []
    for _ in range(rounds):
        for t, f in questions:
            s = time.perf_counter()
            srv.search(t, f)
            ours.append((time.perf_counter() - s) * 1000)
            s = time.perf_counter()
            fts.search(t, filters=f)
            base.append((time.perf_counter() - s) * 1000)
    return {
        "queries": len(ours),
        **{f"p{p}": pct(ours, p) for p in (50, 95, 99)},
        **{f"fts_p{p}": pct(base, p) for p in (50, 95, 99)},
    }


def run_size(workdir: Path, n: int, args) -> dict:
    print(f"\n== {n} documents (bulletin-length texts)")
    truths, fts, ingest_s, fts_s = build_corpus(workdir, n, args.seed, args.shards, args.reuse)
    if ingest_s is None:
        print("  ingest: not measured (--reuse)")
    else:
        print(
            f"  ingest `centralita ingest` (process start + validate + SQL + {args.shards} index writers): "
            f"{ingest_s:.1f} s = {n / ingest_s:.0f} docs/s   (target >= 1500 at 100k)"
        )
        print(f"  FTS5 build in process (baseline): {fts_s:.1f} s = {n / fts_s:.0f} docs/s")
    srv = Server(workdir, n, args.seed, args.shards)
    try:
        q = quality(srv, fts, truths)
        print_quality(q, n)
        lat = latency(srv, fts, truths, args.rounds)
        rss = rss_mb(srv.proc.pid)
    finally:
        srv.close()
    print(
        f"\n  search_content via gRPC over {lat['queries']} queries: p50 {lat['p50']:.1f} ms, "
        f"p95 {lat['p95']:.1f} ms, p99 {lat['p99']:.1f} ms   (target p95 <= 50 ms at 100k)"
    )
    print(
        f"  FTS5 MATCH + snippet() in process:    p50 {lat['fts_p50']:.1f} ms, p95 {lat['fts_p95']:.1f} ms, "
        f"p99 {lat['fts_p99']:.1f} ms"
    )
    print(
        f"  ratio ours/FTS5: p50 {lat['p50'] / lat['fts_p50']:.2f}x, p95 {lat['p95'] / lat['fts_p95']:.2f}x"
        f"   (target p50 <= 3x)"
    )
    print(f"  server RSS (main + shard processes) after the run: {rss:.0f} MB")
    return {"quality": q, "latency": lat, "ingest_s": ingest_s, "rss_mb": rss}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="3000,5000,100000", help="comma-separated corpus sizes")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--shards", type=int, default=int(os.environ.get("LEGAL_INDEX_SHARDS", "2")))
    ap.add_argument("--rounds", type=int, default=2, help="passes over the question sets for latency")
    ap.add_argument("--workdir", type=Path, help="keep the corpora here (default: a temporary folder)")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="with --workdir: reuse corpora built by an earlier run (ingest is then not timed)",
    )
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="legal-bench-") if args.workdir is None else None
    workdir = args.workdir or Path(tmp.name)
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        print(f"== legal_search bench (shards={args.shards}, cpu={os.cpu_count()}, load {os.getloadavg()[0]:.1f})")
        for n in (int(x) for x in args.sizes.split(",")):
            run_size(workdir, n, args)
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
