"""Raw latency samples of one call's Realtime conversation, read by ``bench/realtime.py`` (seconds)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

MAX_SAMPLES = 10_000  # samples kept per call and series


def _samples() -> deque[float]:
    return deque(maxlen=MAX_SAMPLES)


@dataclass
class Timings:
    """Latency samples (seconds); the benchmarks take percentiles of them."""

    # arguments done → output written, minus the tool's own time (submit → result)
    tool_overhead: deque[float] = field(default_factory=_samples)
    # speech_started received → sink emptied
    barge_in: deque[float] = field(default_factory=_samples)
    gate_pause: deque[float] = field(default_factory=_samples)  # paused → resumed
