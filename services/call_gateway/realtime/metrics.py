"""Per-call metrics (seed 000's end-of-call figures plus turn latency) and their Prometheus export."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from prometheus_client import Counter, Histogram

from call_gateway.realtime.usage import PriceTable, split_usage

_P = "centralita_gateway_realtime_"
FUNCTION_CALLS = Counter(f"{_P}function_calls", "Function calls run by the model", ["tool", "code"])
AUDIO_CHUNKS = Counter(f"{_P}audio_chunks", "Audio chunks exchanged with Realtime", ["direction"])
SESSIONS_ENDED = Counter(f"{_P}sessions_ended", "Realtime sessions ended, by reason", ["reason"])
SERVER_ERRORS = Counter(f"{_P}server_errors", "Realtime error events, by code", ["code"])
BARGE_INS = Counter(f"{_P}barge_ins", "Caller speech that interrupted the assistant")
HOLDING_PHRASES = Counter(f"{_P}holding_phrases", "Holding phrases spoken while a tool was slow")
NOISES_IGNORED = Counter(f"{_P}noises_ignored", "Short sounds over an answer that did not interrupt it")
RENEWALS = Counter(f"{_P}renewals", "Sessions replaced before the 60-minute cap")
TURN_LATENCY = Histogram(
    f"{_P}turn_latency_seconds",
    "Caller stops speaking (speech_stopped) to first model audio",
    buckets=(0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0),
)
TOOL_LATENCY = Histogram(
    f"{_P}function_call_seconds",
    "A function call's arguments complete to its result back in the session (results that came back)",
    ["tool"],
    buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0),
)
TOKENS = Counter(f"{_P}tokens", "Realtime tokens from response.done usage, by kind (cached_* not in input_*)", ["kind"])
COST = Counter(f"{_P}cost_usd", "Estimated Realtime cost in USD (REALTIME_PRICES_FILE; an estimate, not the invoice)")
SESSION_COST = Histogram(
    f"{_P}session_cost_usd",
    "Estimated Realtime cost of one call's session in USD",
    buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
)
CALL_DURATION = Histogram(
    f"{_P}session_duration_seconds",
    "Realtime session duration",
    buckets=(5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600),
)


@dataclass
class CallMetrics:
    call_id: str = ""
    profile: str = ""
    started_at: float | None = None  # monotonic seconds, set by the driver
    ended_at: float | None = None
    end_reason: str = ""
    function_calls: int = 0
    tool_errors: int = 0
    audio_chunks_in: int = 0  # caller audio sent to Realtime (input_audio_buffer.append)
    audio_chunks_out: int = 0  # model audio received (response.output_audio.delta)
    audio_ms_out: int = 0
    responses: int = 0
    barge_ins: int = 0
    truncates: int = 0
    holding_phrases: int = 0
    server_errors: int = 0
    noises_ignored: int = 0  # barge-in gate: a short sound over the answer, the answer went on
    renewals: int = 0  # sessions replaced before the server's 60-minute cap
    dropped_events: int = 0  # unknown types, late deltas of cancelled responses
    turn_latencies_ms: list[float] = field(default_factory=list)
    prices: PriceTable = field(default_factory=PriceTable, repr=False)
    tokens: dict[str, int] = field(default_factory=dict)  # by kind (usage.KINDS)
    cost_usd: float = 0.0  # estimated

    @property
    def duration_s(self) -> float:
        if self.started_at is None:
            return 0.0
        end = self.ended_at if self.ended_at is not None else self.started_at
        return max(0.0, end - self.started_at)

    def record_function_call(self, tool: str, code: str) -> None:
        self.function_calls += 1
        if code != "OK":
            self.tool_errors += 1
        FUNCTION_CALLS.labels(tool=tool, code=code).inc()

    def record_tool_latency(self, tool: str, seconds: float) -> None:
        TOOL_LATENCY.labels(tool=tool).observe(max(0.0, seconds))

    def record_usage(self, usage: dict | None) -> None:
        """A ``response.done``'s ``response.usage``: tokens by kind and their estimated cost."""
        tokens = split_usage(usage)
        for kind, n in tokens.items():
            self.tokens[kind] = self.tokens.get(kind, 0) + n
            TOKENS.labels(kind=kind).inc(n)
        cost = self.prices.cost(tokens)
        if cost:
            self.cost_usd += cost
            COST.inc(cost)

    def record_audio_in(self) -> None:
        self.audio_chunks_in += 1
        AUDIO_CHUNKS.labels(direction="in").inc()

    def record_audio_out(self, ms: int) -> None:
        self.audio_chunks_out += 1
        self.audio_ms_out += ms
        AUDIO_CHUNKS.labels(direction="out").inc()

    def record_turn_latency(self, seconds: float) -> None:
        self.turn_latencies_ms.append(seconds * 1000.0)
        TURN_LATENCY.observe(seconds)

    def record_server_error(self, code: str) -> None:
        self.server_errors += 1
        SERVER_ERRORS.labels(code=code or "unknown").inc()

    def record_barge_in(self) -> None:
        self.barge_ins += 1
        BARGE_INS.inc()

    def record_noise_ignored(self) -> None:
        self.noises_ignored += 1
        NOISES_IGNORED.inc()

    def record_holding_phrase(self) -> None:
        self.holding_phrases += 1
        HOLDING_PHRASES.inc()

    def record_renewal(self) -> None:
        self.renewals += 1
        RENEWALS.inc()

    def finish(self, now: float, reason: str) -> None:
        """Called once by the driver when the session ends."""
        self.ended_at = now
        self.end_reason = reason
        SESSIONS_ENDED.labels(reason=reason).inc()
        CALL_DURATION.observe(self.duration_s)
        SESSION_COST.observe(self.cost_usd)

    def log_line(self) -> str:
        lat = self.turn_latencies_ms
        p50 = f"{statistics.median(lat):.0f}ms" if lat else "-"
        worst = f"{max(lat):.0f}ms" if lat else "-"
        return (
            f"call {self.call_id or '-'} ended ({self.end_reason or '-'}) profile={self.profile or '-'} "
            f"duration={self.duration_s:.1f}s function_calls={self.function_calls} tool_errors={self.tool_errors} "
            f"audio_chunks_in={self.audio_chunks_in} audio_chunks_out={self.audio_chunks_out} "
            f"responses={self.responses} barge_ins={self.barge_ins} noises_ignored={self.noises_ignored} "
            f"truncates={self.truncates} "
            f"holding_phrases={self.holding_phrases} server_errors={self.server_errors} renewals={self.renewals} "
            f"turn_latency_p50={p50} turn_latency_max={worst} turns={len(lat)} "
            f"tokens={sum(self.tokens.values())} cost_usd={self.cost_usd:.4f}"
        )
