"""Configuration of the tool service, read from the environment (names of the seed kept)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from centralita.config import env_bool, env_float, env_int, env_str

DEFAULT_API_URL = "http://192.168.1.100:5050"


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
    max_connections: int = 32  # questions on the wire to the API at once (its real capacity)
    max_waiting: int = 1000  # questions allowed to wait for a free connection; more get RESOURCE_EXHAUSTED
    port: int = 50051
    metrics_port: int = 9101
    bind_host: str = "0.0.0.0"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        url = env_str("MIKROTIK_API_URL", env=env)
        return cls(
            api_url=(url or DEFAULT_API_URL).rstrip("/"),
            api_url_set=bool(url),
            enable_tools=env_bool("ENABLE_MIKROTIK_TOOLS", True, env=env),
            cache_ttl=max(0.0, env_float("MIKROTIK_CACHE_TTL", 30.0, env=env)),
            cache_size=max(1, env_int("MIKROTIK_CACHE_SIZE", 256, env=env)),
            pool_size=max(1, env_int("MIKROTIK_POOL_SIZE", 8, env=env)),
            connect_timeout=env_float("MIKROTIK_CONNECT_TIMEOUT", 3.0, env=env),
            query_timeout=env_float("MIKROTIK_QUERY_TIMEOUT", 10.0, env=env),
            broad_query_timeout=env_float("MIKROTIK_BROAD_QUERY_TIMEOUT", 25.0, env=env),
            health_timeout=env_float("MIKROTIK_HEALTH_TIMEOUT", 3.0, env=env),
            max_connections=max(1, env_int("MIKROTIK_MAX_CONNECTIONS", 32, env=env)),
            max_waiting=max(0, env_int("MIKROTIK_MAX_WAITING", 1000, env=env)),
            port=env_int("MIKROTIK_TOOL_PORT", 50051, env=env),
            metrics_port=env_int("MIKROTIK_TOOL_METRICS_PORT", 9101, env=env),
            bind_host=env_str("GRPC_BIND_HOST", "0.0.0.0", env=env),
        )
