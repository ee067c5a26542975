"""Free local ports for the servers tests and benchmarks start."""

from __future__ import annotations

import socket


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port that was free a moment ago on 127.0.0.1 (prefer port 0 where the server allows it)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def udp_port_range(n: int) -> tuple[int, int]:
    """``n`` consecutive UDP ports on 127.0.0.1 that were all free a moment ago (an RTP range)."""
    for _ in range(100):
        base = free_port(socket.SOCK_DGRAM)
        if base + n > 65535:
            continue
        probes: list[socket.socket] = []
        try:
            for port in range(base, base + n):
                probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                probes.append(probe)
                probe.bind(("127.0.0.1", port))
            return base, base + n - 1
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
    raise RuntimeError(f"no {n} consecutive free UDP ports")
