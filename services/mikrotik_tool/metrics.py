"""Prometheus metrics of the tool (served by the kit's /metrics endpoint, default registry)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

UPSTREAM_REQUESTS = Counter(
    "mikrotik_api_requests_total",
    "Requests sent to the MikroTik API's POST /query, by outcome (ok or the error kind)",
    ["outcome"],
)
UPSTREAM_SECONDS = Histogram(
    "mikrotik_api_request_seconds",
    "Time the MikroTik API took for POST /query (failures included)",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 15, 25, 40),
)
CACHE_LOOKUPS = Counter(
    "mikrotik_cache_lookups_total",
    "Questions answered from the cache (hit), by sharing an in-flight request (shared) or upstream (miss)",
    ["result"],
)
