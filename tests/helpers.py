"""Small helpers shared by every part's tests."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = Path(os.environ.get("CENTRALITA_SHARED_DIR", REPO_ROOT.parent / "shared"))
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port that was free a moment ago on 127.0.0.1 (prefer port 0 where the server allows it)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def udp_port_range(n: int) -> tuple[int, int]:
    """``n`` consecutive UDP ports on 127.0.0.1 that were all free a moment ago (an RTP range)."""
    for _ in range(100):
        base = free_port(socket.SOCK_DGRAM)
        if base + n > 65535:
            continue
        probes: list[socket.socket] = []
        try:
            for port in range(base, base + n):
                probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                probes.append(probe)
                probe.bind(("127.0.0.1", port))
            return base, base + n - 1
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
    raise RuntimeError(f"no {n} consecutive free UDP ports")
