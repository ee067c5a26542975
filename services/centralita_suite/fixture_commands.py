"""``centralita mikrotik-sim`` and ``centralita legal-sample``: the commands that run fixtures (the dev
deployment and ``make run`` use both), registered by the composition root, not by the parts."""

from __future__ import annotations

import argparse
from pathlib import Path

from centralita_fixtures.mikrotik_simulator import FAULTS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``mikrotik-sim`` and ``legal-sample`` to the ``centralita`` CLI."""
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

    sample = subparsers.add_parser("legal-sample", help="write (and optionally ingest) the deterministic sample corpus")
    sample.add_argument("--docs", type=int, default=2000)
    sample.add_argument("--seed", type=int, default=3)
    sample.add_argument("--out", type=Path, help="write JSON lines here instead of ingesting")
    sample.set_defaults(func=run_sample)


def run(args: argparse.Namespace) -> int:
    from centralita_fixtures.mikrotik_simulator import MikrotikSimulator, run_forever

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


def run_sample(args: argparse.Namespace) -> int:
    if args.out:
        from centralita_fixtures.legal_sample import write_jsonl

        write_jsonl(args.out, args.docs, args.seed)
        print(f"{args.docs} normativas escritas en {args.out}")
        return 0
    from centralita_suite.sample_data import ensure_sample
    from legal_search.settings import Settings

    settings = Settings.from_env()
    built = ensure_sample(settings.db_url, settings.index_dir, n=args.docs, seed=args.seed)
    print("muestra creada" if built else "la base ya tiene normativas: no se tocó")
    return 0
