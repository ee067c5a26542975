"""When a session must be renewed or ended before the server's 60-minute cap (pure arithmetic)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SessionLimit:
    """``limit`` is the server's cap; renewal is sought from ``limit - margin``, at a pause.

    Without renewal the call ends at that point; with it, the core keeps looking for a pause for 3/4 of
    the margin, then ends the call with the apology (the last quarter leaves time to speak it).
    """

    limit: float = 3600.0
    margin: float = 60.0
    renew: bool = True

    def renew_at(self, started_at: float) -> float:
        return started_at + self.limit - self.margin

    def hard_end_at(self, started_at: float) -> float:
        return self.renew_at(started_at) + (0.75 * self.margin if self.renew else 0.0)
