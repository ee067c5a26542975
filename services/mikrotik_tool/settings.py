"""Configuration of the tool service, read from the environment (names of the seed kept)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_API_URL = "http://192.168.1.100:5050"


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    return int(_float(env, name, default))


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    return raw in {"1", "true", "yes", "on", "si", "sí"}


@dataclass(frozen=True)
class Settings:
    """Every knob of mikrotik_tool; defaults are what production wants."""

    api_url: str = DEFAULT_API_URL
    api_url_set: bool = False  # MIKROTIK_API_URL was given explicitly (make run starts the simulator if not)
    enable_tools: bool = True
    cache_ttl: float = 30.0  # seconds; 0 disables the cache (single-flight stays on)
    cache_size: int = 256
    pool_size: int = 8
    connect_timeout: float = 3.0
    query_timeout: float = 10.0  # simple questions (seed: 10 s)
    broad_query_timeout: float = 25.0  # "todos" / "completo" (seed: 25 s)
    health_timeout: float = 3.0
    workers: int = 32  # gRPC worker threads
    max_pending: int = 0  # questions waiting for the API at once; 0 = workers - 4
    port: int = 50051
    metrics_port: int = 9101
    bind_host: str = "0.0.0.0"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        url = env.get("MIKROTIK_API_URL", "").strip()
        return cls(
            api_url=(url or DEFAULT_API_URL).rstrip("/"),
            api_url_set=bool(url),
            enable_tools=_bool(env, "ENABLE_MIKROTIK_TOOLS", True),
            cache_ttl=max(0.0, _float(env, "MIKROTIK_CACHE_TTL", 30.0)),
            cache_size=max(1, _int(env, "MIKROTIK_CACHE_SIZE", 256)),
            pool_size=max(1, _int(env, "MIKROTIK_POOL_SIZE", 8)),
            connect_timeout=_float(env, "MIKROTIK_CONNECT_TIMEOUT", 3.0),
            query_timeout=_float(env, "MIKROTIK_QUERY_TIMEOUT", 10.0),
            broad_query_timeout=_float(env, "MIKROTIK_BROAD_QUERY_TIMEOUT", 25.0),
            health_timeout=_float(env, "MIKROTIK_HEALTH_TIMEOUT", 3.0),
            workers=max(2, _int(env, "MIKROTIK_TOOL_WORKERS", 32)),
            max_pending=max(0, _int(env, "MIKROTIK_MAX_PENDING", 0)),
            port=_int(env, "MIKROTIK_TOOL_PORT", 50051),
            metrics_port=_int(env, "MIKROTIK_TOOL_METRICS_PORT", 9101),
            bind_host=env.get("GRPC_BIND_HOST", "").strip() or "0.0.0.0",
        )

    @property
    def pending_limit(self) -> int:
        """Questions allowed to wait for the API at once; the other workers stay free."""
        return self.max_pending or max(1, self.workers - 4)
