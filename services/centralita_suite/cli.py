"""The ``centralita`` command: tools, call, serve, run, the fixture commands (mikrotik-sim, legal-sample) and
the subcommands each part registers."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Sequence

from centralita.config import ConfigError, setup_logging
from centralita_suite import fixture_commands

# Each part adds its own subcommands through ``<module>.register(subparsers)`` when it is installed.
PART_CLIS = ("legal_search.cli", "call_gateway.cli", "chat.cli")
SERVICES = {
    "mikrotik_tool": "mikrotik_tool.server",
    "legal_search": "legal_search.server",
    "call_gateway": "centralita_suite.compose",  # the gateway with the chat mounted (issue 17)
}
# ``module:function`` of each part returning (keep(tool name) -> bool, reason) for the current
# environment: the same filter its server applies to its tool catalog.
TOOL_FILTERS = ("mikrotik_tool.server:tool_filter_from_env",)
log = logging.getLogger("centralita_suite.cli")


def local_tools():
    """Tools of the local protos that the services would offer under the current environment.

    Returns (kept specs, [(left-out name, reason)]).
    """
    from centralita.schema import tools_from_descriptor_set

    specs = tools_from_descriptor_set()
    left_out: list[tuple[str, str]] = []
    for ref in TOOL_FILTERS:
        module_name, func_name = ref.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue  # that part is not installed
            raise
        keep, reason = getattr(module, func_name)()
        left_out += [(s.name, reason) for s in specs if not keep(s.name)]
        specs = [s for s in specs if keep(s.name)]
    return specs, left_out


def _cmd_tools(args: argparse.Namespace) -> int:
    from centralita.schema import DEFAULT_DESCRIPTOR_SET, FORMATTERS

    # Where the list comes from goes to stderr: stdout stays plain JSON for scripts.
    if args.endpoints:
        from centralita.dispatcher import Dispatcher

        endpoints = [e.strip() for e in args.endpoints.split(",") if e.strip()]
        with Dispatcher.connect(endpoints, discover_timeout=args.timeout) as dispatcher:
            status = dispatcher.status()
            failing = [ep for ep, state in status.items() if state != "ok"]
            for ep in failing:
                print(f"centralita tools: {ep}: {status[ep]}", file=sys.stderr)
            specs = dispatcher.tools()
            if failing and not specs:
                return 1
        print(
            f"centralita tools: {len(specs)} tool(s) from the live endpoints {', '.join(endpoints)} "
            "(what each service's catalog offers now)",
            file=sys.stderr,
        )
    else:
        specs, left_out = local_tools()
        note = "; left out: " + ", ".join(f"{name} ({why})" for name, why in left_out) if left_out else ""
        print(
            f"centralita tools: {len(specs)} tool(s) from the local protos ({DEFAULT_DESCRIPTOR_SET.name}) "
            f"under the current environment{note}",
            file=sys.stderr,
        )
    fmt = FORMATTERS[args.format]
    print(json.dumps([fmt(s, strict=args.strict) for s in specs], ensure_ascii=False, indent=2))
    return 0


def _cmd_call(args: argparse.Namespace) -> int:
    from centralita.dispatcher import Dispatcher

    endpoints = args.endpoints.split(",") if args.endpoints else None
    with Dispatcher.connect(endpoints) as dispatcher:
        result = dispatcher.call(args.tool, args.arguments, timeout=args.timeout)
    print(json.dumps(result.output, ensure_ascii=False, indent=2))
    if not result.ok:
        print(f"centralita call: {result.code}: {result.output['error']['message']}", file=sys.stderr)
        return 1
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    module = importlib.import_module(SERVICES[args.service])
    module.main()
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from centralita_suite.supervisor import run_suite

    return run_suite(with_simulator=args.with_simulator, skip_gateway=args.no_gateway)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="centralita", description="Centralita: telephone AI assistant tools")
    sub = parser.add_subparsers(dest="command", required=True)

    tools = sub.add_parser(
        "tools",
        help="print the tools the model would be offered (JSON on stdout; where they come from on stderr)",
    )
    tools.add_argument("--format", choices=["realtime", "chat", "mcp"], default="realtime")
    tools.add_argument("--strict", action="store_true", help="OpenAI strict form (all required, optionals nullable)")
    tools.add_argument("--endpoints", help="ask live services (host:port,...) instead of the local protos")
    tools.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for each service")
    tools.set_defaults(func=_cmd_tools)

    call = sub.add_parser("call", help="call a tool through the dispatcher the gateway uses")
    call.add_argument("tool", help="tool name, e.g. consultar_mikrotik")
    call.add_argument("arguments", nargs="?", default="{}", help="JSON object of arguments")
    call.add_argument(
        "--endpoints",
        help="tool services, host:port,... (default: TOOL_ENDPOINTS, else 127.0.0.1:50051,127.0.0.1:50052)",
    )
    call.add_argument("--timeout", type=float, default=None, help="deadline in seconds (default: the tool's)")
    call.set_defaults(func=_cmd_call)

    serve = sub.add_parser("serve", help="run one service in the foreground (what the containers run)")
    serve.add_argument("service", choices=sorted(SERVICES))
    serve.set_defaults(func=_cmd_serve)

    run = sub.add_parser("run", help="build the sample data if missing and start the whole suite")
    run.add_argument(
        "--with-simulator", action="store_true", help="start the MikroTik API simulator even if MIKROTIK_API_URL is set"
    )
    run.add_argument("--no-gateway", action="store_true", help="start the tool services only")
    run.set_defaults(func=_cmd_run)

    for name in PART_CLIS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue
            raise
        module.register(sub)
    fixture_commands.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    setup_logging("centralita")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"centralita: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `centralita tools | head`: the reader left, nothing to report
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
