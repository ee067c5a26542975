"""Realtime token usage and its estimated cost: ``response.usage`` of each ``response.done`` split into
kinds (modality x input/cached/output) and priced from a table (USD per million tokens).

Pure: no I/O except ``PriceTable.from_env`` reading the optional JSON file. The figures are estimates
for dashboards and alerts (seed 003: "Costo < $0.05 por query"); the invoice is the truth.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from centralita.config import ConfigError, env_str

# Kinds a response's tokens are counted under. ``*_unknown``: tokens the usage did not break down
# (a server that sends only totals); priced as audio, the dearest modality, so the estimate errs high.
KINDS = (
    "input_text",
    "input_audio",
    "input_image",
    "cached_text",
    "cached_audio",
    "cached_image",
    "output_text",
    "output_audio",
    "input_unknown",
    "output_unknown",
)

# Public gpt-realtime prices, USD per 1M tokens (developers.openai.com model page). Change them with
# REALTIME_PRICES_FILE, a JSON object of the kinds above to USD per 1M tokens (missing kinds keep these).
DEFAULT_PRICES: Mapping[str, float] = {
    "input_text": 4.0,
    "input_audio": 32.0,
    "input_image": 5.0,
    "cached_text": 0.4,
    "cached_audio": 0.4,
    "cached_image": 0.5,
    "output_text": 16.0,
    "output_audio": 64.0,
    "input_unknown": 32.0,
    "output_unknown": 64.0,
}


@dataclass(frozen=True)
class PriceTable:
    """USD per million tokens of each kind."""

    per_million: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_PRICES))

    @classmethod
    def from_json(cls, text: str, source: str = "prices") -> PriceTable:
        try:
            given = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"{source}: not JSON ({exc})") from None
        if not isinstance(given, dict):
            raise ConfigError(f"{source}: must be a JSON object of kind → USD per 1M tokens")
        unknown = sorted(set(given) - set(KINDS))
        if unknown:
            raise ConfigError(f"{source}: unknown kinds {unknown}; known: {list(KINDS)}")
        for kind, price in given.items():
            if isinstance(price, bool) or not isinstance(price, int | float) or price < 0:
                raise ConfigError(f"{source}: {kind} must be a number >= 0 (USD per 1M tokens), got {price!r}")
        return cls({**DEFAULT_PRICES, **{k: float(v) for k, v in given.items()}})

    @classmethod
    def from_env(cls) -> PriceTable:
        """``REALTIME_PRICES_FILE`` (JSON) if set, else the defaults."""
        path = env_str("REALTIME_PRICES_FILE", "")
        if not path:
            return cls()
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"REALTIME_PRICES_FILE={path}: {exc.strerror or exc}") from None
        return cls.from_json(text, f"REALTIME_PRICES_FILE={path}")

    def cost(self, tokens: Mapping[str, int]) -> float:
        return sum(n * self.per_million.get(kind, 0.0) for kind, n in tokens.items()) / 1_000_000


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def split_usage(usage: Mapping[str, Any] | None) -> dict[str, int]:
    """Tokens by kind (only kinds > 0) from a ``response.usage`` object (``RealtimeResponseUsage``).

    Cached tokens are a subset of the input tokens: ``input_*`` here are the uncached ones.
    """
    if not isinstance(usage, Mapping):
        return {}
    out: dict[str, int] = {}
    ins = _mapping(usage.get("input_token_details"))
    cached = _mapping(ins.get("cached_tokens_details"))
    outs = _mapping(usage.get("output_token_details"))
    seen_in = 0
    for modality in ("text", "audio", "image"):
        total, hit = _int(ins.get(f"{modality}_tokens")), _int(cached.get(f"{modality}_tokens"))
        hit = min(hit, total)
        out[f"cached_{modality}"] = hit
        out[f"input_{modality}"] = total - hit
        seen_in += total
    out["input_unknown"] = max(0, _int(usage.get("input_tokens")) - seen_in)
    seen_out = 0
    for modality in ("text", "audio"):
        n = _int(outs.get(f"{modality}_tokens"))
        out[f"output_{modality}"] = n
        seen_out += n
    out["output_unknown"] = max(0, _int(usage.get("output_tokens")) - seen_out)
    return {kind: n for kind, n in out.items() if n}
