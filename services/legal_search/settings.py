"""Runtime settings from the environment, resolved once so every module agrees on paths."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from centralita.config import env_bool, env_int, env_str


@dataclass(frozen=True)
class Settings:
    """Where the database and index live and how the index is split."""

    data_dir: Path
    db_url: str
    index_dir: Path
    shards: int
    search_processes: bool
    migrate_on_start: bool = True  # false where a Job owns migrations (no race during a rolling update)
    # Below this many indexed documents the shards are searched in process even with search_processes:
    # a pipe round trip per shard costs more than searching a small shard.
    processes_min_docs: int = 20_000

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = Path(env_str("LEGAL_DATA_DIR", "./data/run"))
        db_url = env_str("LEGAL_DB_URL", f"sqlite:///{data_dir / 'legal.db'}")
        index_dir = Path(env_str("LEGAL_INDEX_DIR", str(data_dir / "whoosh")))
        shards = max(1, min(16, env_int("LEGAL_INDEX_SHARDS", 2)))
        search_processes = env_bool("LEGAL_SEARCH_PROCESSES", True)
        migrate = env_bool("LEGAL_MIGRATE_ON_START", True)
        min_docs = max(0, env_int("LEGAL_SEARCH_PROCESSES_MIN_DOCS", 20_000))
        return cls(data_dir, db_url, index_dir, shards, search_processes, migrate, min_docs)
