"""``RealtimeSettings``: the Realtime connection and the session's timings, from the environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

from call_gateway.realtime.usage import PriceTable
from centralita.config import ConfigError, env_bool, env_float, env_int, env_str


@dataclass(frozen=True)
class RealtimeSettings:
    url: str = "wss://api.openai.com/v1/realtime"
    model: str = "gpt-realtime"
    api_key: str = field(default="", repr=False)
    connect_timeout: float = 10.0
    holding_delay: float = 1.5  # a tool slower than this gets a holding phrase
    tool_timeout: float = 10.0  # for tools whose proto gives no timeout_ms
    tool_guard: float = 1.0  # extra time before the session itself gives up on a tool
    session_limit: float = 3600.0  # the server's hard cap
    session_margin: float = 60.0  # end (with an apology) this long before the cap
    ending_grace: float = 8.0  # time allowed for the closing apology response
    drain_timeout: float = 10.0  # time allowed for the sink to play the apology out
    renew: bool = True  # open a fresh session before the cap instead of ending the call
    barge_in_gate_ms: int = 250  # caller sound must last this long to interrupt the assistant; 0 = no gate
    barge_in_level_dbfs: float = -42.0  # a caller frame louder than this counts as voice (the gate's meter)
    prices: PriceTable = field(default_factory=PriceTable)  # estimated cost per token kind (usage.py)

    @classmethod
    def from_env(cls) -> RealtimeSettings:
        return cls(
            url=env_str("OPENAI_REALTIME_URL", cls.url),
            model=env_str("OPENAI_REALTIME_MODEL", cls.model),
            api_key=env_str("OPENAI_API_KEY", ""),
            connect_timeout=env_float("REALTIME_CONNECT_TIMEOUT", cls.connect_timeout),
            holding_delay=env_float("REALTIME_HOLDING_DELAY", cls.holding_delay),
            tool_timeout=env_float("REALTIME_TOOL_TIMEOUT", cls.tool_timeout),
            session_limit=env_float("REALTIME_SESSION_LIMIT", cls.session_limit),
            session_margin=env_float("REALTIME_SESSION_MARGIN", cls.session_margin),
            renew=env_bool("REALTIME_RENEW_SESSION", cls.renew),
            barge_in_gate_ms=_gate_ms(env_int("REALTIME_BARGE_IN_GATE_MS", cls.barge_in_gate_ms)),
            barge_in_level_dbfs=env_float("REALTIME_BARGE_IN_LEVEL_DBFS", cls.barge_in_level_dbfs),
            prices=PriceTable.from_env(),
        )

    def endpoint(self) -> str:
        return f"{self.url}{'&' if '?' in self.url else '?'}{urlencode({'model': self.model})}"


def _gate_ms(value: int) -> int:
    """The gate must leave time to stop within 400 ms of the caller's first sound (issue 14)."""
    if not 0 <= value <= 300:
        raise ConfigError(f"REALTIME_BARGE_IN_GATE_MS={value} must be between 0 (no gate) and 300")
    return value
