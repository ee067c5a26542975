"""gRPC client channels to the tool services: DNS-aware round robin, retries on UNAVAILABLE."""

from __future__ import annotations

import json

import grpc

_SERVICE_CONFIG = json.dumps(
    {
        "loadBalancingConfig": [{"round_robin": {}}],
        "methodConfig": [
            {
                "name": [{}],
                "retryPolicy": {
                    "maxAttempts": 3,
                    "initialBackoff": "0.05s",
                    "maxBackoff": "0.5s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ],
    }
)


def target_for(endpoint: str) -> str:
    """``host:port`` → ``dns:///host:port`` (so headless Services resolve to every pod); others as given."""
    endpoint = endpoint.strip()
    return (
        endpoint
        if "://" in endpoint or endpoint.startswith(("dns:", "ipv4:", "ipv6:", "unix:"))
        else f"dns:///{endpoint}"
    )


def open_channel(endpoint: str) -> grpc.Channel:
    return grpc.insecure_channel(
        target_for(endpoint),
        options=[
            ("grpc.service_config", _SERVICE_CONFIG),
            ("grpc.enable_retries", 1),
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.keepalive_timeout_ms", 10_000),
            ("grpc.max_receive_message_length", 8 * 1024 * 1024),
        ],
    )
