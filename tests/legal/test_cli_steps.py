"""The deployment steps as commands: `legal-migrate`, `legal-index`, and a server that must not migrate."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.helpers import free_port


def _run(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "centralita_suite.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_index_step_refuses_an_unmigrated_database_then_works_after_migrate(tmp_path):
    env = {
        "LEGAL_DB_URL": f"sqlite:///{tmp_path / 'legal.db'}",
        "LEGAL_INDEX_DIR": str(tmp_path / "ix"),
        "CENTRALITA_ENV_FILE": str(tmp_path / "none.env"),
    }
    before = _run(["legal-index"], env)
    assert before.returncode == 1 and "migraciones" in before.stderr and "Traceback" not in before.stderr
    assert _run(["legal-migrate"], env).returncode == 0
    assert _run(["legal-migrate"], env).returncode == 0  # idempotent
    sample = tmp_path / "sample.jsonl"
    assert _run(["legal-sample", "--docs", "20", "--out", str(sample)], env).returncode == 0
    assert _run(["ingest", "--no-progress", str(sample)], env).returncode == 0
    after = _run(["legal-index"], env)
    assert after.returncode == 0, after.stderr


def test_server_that_must_not_migrate_says_why_and_exits(tmp_path):
    env = {
        "LEGAL_DB_URL": f"sqlite:///{tmp_path / 'legal.db'}",
        "LEGAL_INDEX_DIR": str(tmp_path / "ix"),
        "LEGAL_MIGRATE_ON_START": "false",
        "LEGAL_SEARCH_PORT": str(free_port()),
        "LEGAL_SEARCH_METRICS_PORT": str(free_port()),
        "LEGAL_SEARCH_PROCESSES": "false",
        "CENTRALITA_ENV_FILE": str(tmp_path / "none.env"),
    }
    result = _run(["serve", "legal_search"], env, timeout=60)
    assert result.returncode == 1
    assert "centralita legal-migrate" in result.stderr and "Traceback" not in result.stderr
