"""The operator's memory probe (``CENTRALITA_TRACEMALLOC``): off by default, SIGUSR2 dumps when armed."""

from __future__ import annotations

import json
import os
import signal
import time
import tracemalloc
from pathlib import Path

import pytest

from centralita import memdebug
from centralita.config import ConfigError


class _Kept:
    """Objects this test keeps alive, to be found in the dump's counts."""


def _wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.exists(), f"{path.name} never written"


@pytest.fixture
def restore_sigusr2():
    previous = signal.getsignal(signal.SIGUSR2)
    yield
    signal.signal(signal.SIGUSR2, previous)
    tracemalloc.stop()


def test_unset_it_installs_nothing(monkeypatch, restore_sigusr2):
    monkeypatch.delenv("CENTRALITA_TRACEMALLOC", raising=False)
    before = signal.getsignal(signal.SIGUSR2)
    assert memdebug.install("t") is False
    assert signal.getsignal(signal.SIGUSR2) is before and not tracemalloc.is_tracing()


def test_a_bad_value_is_refused_by_name(monkeypatch, restore_sigusr2):
    monkeypatch.setenv("CENTRALITA_TRACEMALLOC", "lots")
    with pytest.raises(ConfigError, match="CENTRALITA_TRACEMALLOC"):
        memdebug.install("t")


def test_first_signal_counts_and_starts_tracing_the_next_writes_a_snapshot(monkeypatch, tmp_path, restore_sigusr2):
    monkeypatch.setenv("CENTRALITA_TRACEMALLOC", "4")
    monkeypatch.setenv("CENTRALITA_TRACEMALLOC_DIR", str(tmp_path))
    assert memdebug.install("t") is True
    assert not tracemalloc.is_tracing()  # nothing traced until asked
    kept = [_Kept() for _ in range(37)]

    os.kill(os.getpid(), signal.SIGUSR2)
    first = tmp_path / f"t-{os.getpid()}-1"
    _wait_for(Path(f"{first}.types.json"))
    assert json.loads(Path(f"{first}.types.json").read_text())["_Kept"] == 37
    assert not Path(f"{first}.tracemalloc").exists() and tracemalloc.is_tracing()

    allocated_since = [bytearray(1000) for _ in range(50)]  # noqa: F841 - alive at the snapshot
    os.kill(os.getpid(), signal.SIGUSR2)
    second = tmp_path / f"t-{os.getpid()}-2"
    _wait_for(Path(f"{second}.types.json"))
    _wait_for(Path(f"{second}.tracemalloc"))
    snapshot = tracemalloc.Snapshot.load(f"{second}.tracemalloc")
    here = snapshot.filter_traces([tracemalloc.Filter(True, __file__)])
    assert sum(s.size for s in here.statistics("filename")) >= 50 * 1000
    del kept
