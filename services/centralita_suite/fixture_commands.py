"""``centralita mikrotik-sim``: run the MikroTik API simulator in the foreground."""

from __future__ import annotations

import argparse

from .simulator import FAULTS, MikrotikSimulator, run_forever


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``mikrotik-sim`` subcommand to the ``centralita`` CLI."""
    parser = subparsers.add_parser(
        "mikrotik-sim",
        help="run a local simulator of the MikroTik HTTP API (/health, /query)",
        description="Simulates the ISP's MikroTik API with the seed's example answers. "
        "Faults and latency can also be changed at runtime with POST /_sim/config.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5050)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every /query")
    parser.add_argument("--fault", choices=FAULTS, default="none")
    parser.add_argument("--fault-match", default="", help="only questions containing this get the fault")
    parser.add_argument("--slow-seconds", type=float, default=5.0, help="delay of the 'slow' fault")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    sim = MikrotikSimulator(
        args.host,
        args.port,
        latency=args.latency,
        fault=args.fault,
        match=args.fault_match,
        slow_seconds=args.slow_seconds,
    )
    run_forever(sim)
    return 0
