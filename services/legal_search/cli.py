"""`centralita ingest PATH...`, `legal-migrate`, `legal-index`: loading normativas from the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from legal_search.settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `ingest`, `legal-migrate` and `legal-index` to the `centralita` CLI."""
    ingest = subparsers.add_parser(
        "ingest",
        help="load .json/.jsonl normativas into the legal database and index",
        description="Validates every record (bad ones are reported as FILE:LINE and skipped), upserts by id, "
        "then brings the Whoosh index in line with the database (LEGAL_DB_URL, LEGAL_INDEX_DIR).",
    )
    ingest.add_argument("paths", nargs="+", type=Path, help=".json/.jsonl files or folders")
    ingest.add_argument("--no-progress", action="store_true", help="no progress bar")
    ingest.set_defaults(func=run_ingest)

    migrate = subparsers.add_parser(
        "legal-migrate", help="apply the legal database's Alembic migrations (LEGAL_DB_URL) and exit"
    )
    migrate.set_defaults(func=run_migrate)

    build_index = subparsers.add_parser(
        "legal-index",
        help="bring this replica's Whoosh index in line with the database and exit",
        description="Builds the index when missing, repairs it when stale (what a replica's init step runs). "
        "It does not migrate: an unmigrated database is an error.",
    )
    build_index.set_defaults(func=run_index)


def run_ingest(args: argparse.Namespace) -> int:
    from legal_search.ingest import ingest_paths
    from legal_search.service import open_store

    settings = Settings.from_env()
    engine = open_store(settings.db_url)
    try:
        report = ingest_paths(
            engine, settings.index_dir, args.paths, shards=settings.shards, progress=False if args.no_progress else None
        )
    except (OSError, ValueError) as exc:
        print(f"centralita ingest: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    for bad in report.bad[:200]:
        print(f"error: {bad}", file=sys.stderr)
    if len(report.bad) > 200:
        print(f"... y {len(report.bad) - 200} errores más", file=sys.stderr)
    print(report.summary())
    return 1 if report.bad else 0


def run_migrate(args: argparse.Namespace) -> int:
    from legal_search.service import open_store

    open_store(Settings.from_env().db_url).dispose()
    print("migraciones aplicadas")
    return 0


def run_index(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from legal_search import index
    from legal_search.db import make_engine

    settings = Settings.from_env()
    engine = make_engine(settings.db_url)
    try:
        stats = index.sync(engine, settings.index_dir, settings.shards)
    except SQLAlchemyError as exc:
        print(
            f"centralita legal-index: la base no está lista (¿faltan las migraciones?): {exc.__class__.__name__}",
            file=sys.stderr,
        )
        return 1
    finally:
        engine.dispose()
    print(stats, flush=True)
    return 0
