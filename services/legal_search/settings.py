"""Runtime settings from the environment, resolved once so every module agrees on paths."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


@dataclass(frozen=True)
class Settings:
    """Where the database and index live and how the index is split."""

    data_dir: Path
    db_url: str
    index_dir: Path
    shards: int
    search_processes: bool
    migrate_on_start: bool = True  # false where a Job owns migrations (no race during a rolling update)

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = Path(_env("LEGAL_DATA_DIR", "./data/run"))
        db_url = _env("LEGAL_DB_URL", f"sqlite:///{data_dir / 'legal.db'}")
        index_dir = Path(_env("LEGAL_INDEX_DIR", str(data_dir / "whoosh")))
        shards = max(1, min(16, int(_env("LEGAL_INDEX_SHARDS", "2"))))
        search_processes = _env("LEGAL_SEARCH_PROCESSES", "true").lower() in ("1", "true", "yes", "on")
        migrate = _env("LEGAL_MIGRATE_ON_START", "true").lower() in ("1", "true", "yes", "on")
        return cls(data_dir, db_url, index_dir, shards, search_processes, migrate)
