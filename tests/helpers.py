"""Small helpers shared by every part's tests."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

from centralita_fixtures.ari_spec import SPEC_FILES, ari_docs_dir
from centralita_fixtures.paths import REPO_ROOT, SHARED_DIR
from centralita_fixtures.ports import free_port, udp_port_range

__all__ = ["REPO_ROOT", "SHARED_DIR", "free_port", "udp_port_range"]  # re-exported: the tests' one import
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(condition: bool, reason: str) -> None:
    """Skip with ``reason`` locally; under CI=true the missing dependency is a failure, not a skip."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required under CI=true: {reason}")
    pytest.skip(f"LOUD SKIP: {reason}")


def postgres_url() -> str:
    return os.environ.get("CENTRALITA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def postgres_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def require_ari_docs() -> Path:
    """The folder of Asterisk's ARI API docs (read at test time, never copied into the project)."""
    d = ari_docs_dir()
    require(
        all((d / f).is_file() for f in SPEC_FILES), f"Asterisk ARI API docs not found in {d} (set CENTRALITA_ARI_DOCS)"
    )
    return d


def require_speech() -> None:
    """espeak-ng and sox synthesize the callers' speech (centralita_fixtures.speech)."""
    require(
        shutil.which("espeak-ng") is not None and shutil.which("sox") is not None,
        "espeak-ng and sox (Debian packages, installed by make setup) synthesize the callers' speech",
    )
