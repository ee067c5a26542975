"""``centralita prompts``: (re)generate or check the gateway's spoken fallbacks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _cmd_prompts(args: argparse.Namespace) -> int:
    from call_gateway.prompts import PACKAGE_DIR
    from call_gateway.prompts.generate import build_manifest, check, default_profile_files, write

    files = default_profile_files() + [Path(p) for p in args.profiles or []]
    out = Path(args.out) if args.out else PACKAGE_DIR
    manifest, audio = build_manifest(files, voice=args.voice, speed=args.speed)
    if args.check:
        problems = check(out, manifest, audio)
        for p in problems:
            print(f"centralita prompts: {p}", file=sys.stderr)
        return 1 if problems else 0
    write(out, manifest, audio)
    for entry in manifest["prompts"]:
        print(f"{entry['file']}  {entry['duration_ms'] / 1000:.2f} s  {entry['text']}")
    print(f"{len(manifest['prompts'])} prompt(s) in {out}")
    return 0


def register(sub) -> None:
    from call_gateway.prompts.generate import SPEED, VOICE

    p = sub.add_parser("prompts", help="render the gateway's spoken fallbacks (espeak-ng + sox) from the profiles")
    p.add_argument(
        "--profiles",
        action="append",
        metavar="PATH",
        help="another profile file whose end_apology texts need prompts (repeatable)",
    )
    p.add_argument(
        "--out",
        help="directory to write (default: the shipped prompts in the package); point GATEWAY_PROMPTS_DIR at it",
    )
    p.add_argument("--voice", default=VOICE, help=f"espeak-ng voice (default {VOICE})")
    p.add_argument("--speed", type=int, default=SPEED, help=f"words per minute (default {SPEED})")
    p.add_argument(
        "--check", action="store_true", help="do not write: exit 1 if the directory differs from a fresh rendering"
    )
    p.set_defaults(func=_cmd_prompts)
