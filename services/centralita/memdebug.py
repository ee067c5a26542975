"""An operator's memory probe: with ``CENTRALITA_TRACEMALLOC=<frames>`` set, SIGUSR2 writes the
process's live-object counts by type; the first signal also starts tracemalloc, and every later one
writes a tracemalloc snapshot too.

Why: a slow RSS creep (a few KB per call) cannot be told from allocator fragmentation by RSS alone.
Tracing from the first signal (sent once the process is warm) means a later snapshot holds only what
was allocated since and is still alive: per-call leftovers, named by the line that allocated them.
Off by default; even when set, nothing is traced until the first signal (tracing costs CPU).
"""

from __future__ import annotations

import gc
import json
import logging
import os
import signal
import tempfile
import threading
import tracemalloc
from collections import Counter
from pathlib import Path

from centralita.config import env_int, env_str

log = logging.getLogger(__name__)


def type_counts() -> dict[str, int]:
    """Live objects tracked by the cyclic GC, by type name (not the ones `gc.freeze()` set aside at start).

    A full collection first, so cycles merely waiting for the collector are not counted as kept.
    """
    gc.collect()
    counts: Counter[str] = Counter(type(o).__qualname__ for o in gc.get_objects())
    return dict(counts)


def write_dump(directory: Path, tag: str, *, snapshot: bool) -> Path:
    """Write ``<tag>.tracemalloc`` when ``snapshot`` (tracing must be on), then ``<tag>.types.json``."""
    directory.mkdir(parents=True, exist_ok=True)
    base = directory / tag
    if snapshot:
        tracemalloc.take_snapshot().dump(str(base) + ".tracemalloc")
    partial = Path(str(base) + ".types.json.part")  # written last, and whole: it marks the dump complete
    partial.write_text(json.dumps(type_counts(), sort_keys=True))
    partial.rename(Path(str(base) + ".types.json"))
    return base


def install(name: str) -> bool:
    """Start tracing and the SIGUSR2 handler when ``CENTRALITA_TRACEMALLOC`` is set; True if installed.

    Dumps go to ``CENTRALITA_TRACEMALLOC_DIR`` (default: the temp dir) as ``<name>-<pid>-<n>.*``.
    Call from the main thread (signal handlers can only be set there).
    """
    frames = env_int("CENTRALITA_TRACEMALLOC", 0)
    if frames <= 0:
        return False
    directory = Path(env_str("CENTRALITA_TRACEMALLOC_DIR", tempfile.gettempdir()))
    count = iter(range(1, 1_000_000))

    def on_signal(_signum, _frame) -> None:
        tag = f"{name}-{os.getpid()}-{next(count)}"
        tracing = tracemalloc.is_tracing()
        # Off the signal handler: the snapshot walks every traced block and takes seconds.
        threading.Thread(target=_dump, args=(directory, tag, tracing), name="memdebug", daemon=True).start()
        if not tracing:
            tracemalloc.start(frames)

    signal.signal(signal.SIGUSR2, on_signal)
    log.warning("memory probe armed: SIGUSR2 starts tracemalloc (%d frames) and writes dumps to %s", frames, directory)
    return True


def _dump(directory: Path, tag: str, snapshot: bool) -> None:
    try:
        log.warning("memory dump written: %s.*", write_dump(directory, tag, snapshot=snapshot))
    except Exception:
        log.exception("memory snapshot failed")
