"""``centralita chat`` (interactive or ``--once``) and ``centralita mcp``: registered by ``register``."""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Any, TextIO

from chat.engine import ChatEngine, ChatError, ChatEvent, ChatSettings, TextDelta, ToolCallFinished, ToolCallStarted

PROMPT = "vos> "


def register(subparsers: Any) -> None:
    """Add ``chat`` and ``mcp`` to the ``centralita`` command."""
    chat = subparsers.add_parser("chat", help="text chat with the tools (interactive, or --once for scripts)")
    chat.add_argument("--once", metavar="PREGUNTA", help="answer one question on stdout and exit")
    chat.add_argument("--profile", help="profile for instructions and tools (default: CHAT_PROFILE, the legal one)")
    chat.add_argument("--endpoints", help="tool services host:port,... (default: TOOL_ENDPOINTS)")
    chat.add_argument("--model", help="model name (default: CHAT_MODEL)")
    chat.add_argument("--quiet", action="store_true", help="do not show tool calls")
    chat.set_defaults(func=_cmd_chat)

    mcp = subparsers.add_parser("mcp", help="serve the tools to MCP clients (stdio or streamable HTTP)")
    mcp.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    mcp.add_argument("--host", default=None, help="bind address for http (default: MCP_HOST or 127.0.0.1)")
    mcp.add_argument("--port", type=int, default=None, help="port for http (default: MCP_PORT or 8090)")
    mcp.add_argument("--endpoints", help="tool services host:port,... (default: TOOL_ENDPOINTS)")
    mcp.set_defaults(func=_cmd_mcp)


def _cmd_mcp(args: argparse.Namespace) -> int:
    from chat.mcp_server import run

    return run(
        transport=args.transport,
        host=args.host,
        port=args.port,
        endpoints=args.endpoints.split(",") if args.endpoints else None,
    )


class _Printer:
    """Streams text to ``out`` and tool notices to ``notes``."""

    def __init__(self, out: TextIO, notes: TextIO, quiet: bool) -> None:
        self.out, self.notes, self.quiet = out, notes, quiet
        self.at_line_start = True

    def __call__(self, event: ChatEvent) -> None:
        if isinstance(event, TextDelta):
            self.out.write(event.text)
            self.out.flush()
            self.at_line_start = event.text.endswith("\n")
        elif not self.quiet and isinstance(event, ToolCallStarted):
            self._note(f"[herramienta] {event.name} {event.arguments}")
        elif not self.quiet and isinstance(event, ToolCallFinished):
            state = "ok" if event.ok else f"error {event.code}"
            self._note(f"[herramienta] {event.name}: {state} ({event.elapsed_ms:.0f} ms)")

    def _note(self, line: str) -> None:
        if not self.at_line_start and self.notes is self.out:
            self.out.write("\n")
            self.at_line_start = True
        print(line, file=self.notes, flush=True)

    def end(self) -> None:
        if not self.at_line_start:
            self.out.write("\n")
        self.out.flush()
        self.at_line_start = True


def _cmd_chat(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from centralita.dispatcher import Dispatcher

    settings = ChatSettings.from_env()
    if args.model:
        settings = replace(settings, model=args.model)
    if not settings.api_key:
        print("centralita chat: OPENAI_API_KEY is not set (the chat needs a Chat Completions key)", file=sys.stderr)
        return 2
    endpoints = args.endpoints.split(",") if args.endpoints else None
    with Dispatcher.connect(endpoints) as dispatcher:
        for address, state in dispatcher.status().items():
            if state != "ok":
                print(f"centralita chat: tool service {address} not available: {state}", file=sys.stderr)
        try:
            engine = ChatEngine.for_profile(dispatcher, args.profile, settings)
        except ChatError as exc:
            print(f"centralita chat: {exc}", file=sys.stderr)
            return 2
        with engine:
            if args.once is not None:
                return _once(engine, args.once, args.quiet)
            return _interactive(engine, args.quiet)


def _once(engine: ChatEngine, question: str, quiet: bool) -> int:
    if not question.strip():
        print("centralita chat: the question is empty", file=sys.stderr)
        return 2
    printer = _Printer(sys.stdout, sys.stderr, quiet)
    try:
        answer = engine.ask([{"role": "user", "content": question}], printer)
    except ChatError as exc:
        printer.end()
        print(f"centralita chat: {exc}", file=sys.stderr)
        return 1
    printer.end()
    if not answer.text.strip():
        print(
            f"centralita chat: the model gave an empty answer (finish reason {answer.finish_reason})", file=sys.stderr
        )
        return 1
    return 0


def _interactive(engine: ChatEngine, quiet: bool) -> int:
    if sys.stdin.isatty():
        with contextlib.suppress(ImportError):  # line editing and history for input()
            import readline  # noqa: F401
    tools = ", ".join(s.name for s in engine.tool_specs()) or "ninguna"
    print(f"Chat de Centralita (herramientas: {tools}). Ctrl-D para salir.", file=sys.stderr)
    history: list[dict[str, Any]] = []
    printer = _Printer(sys.stdout, sys.stdout, quiet)
    while True:
        try:
            line = input(PROMPT)
        except EOFError:
            print(file=sys.stderr)
            return 0
        if not line.strip():
            continue
        turn = [*history, {"role": "user", "content": line}]
        try:
            answer = engine.ask(turn, printer)
        except ChatError as exc:
            printer.end()
            print(f"[error] {exc}", file=sys.stderr, flush=True)
            continue
        except KeyboardInterrupt:
            printer.end()
            print("[interrumpido]", file=sys.stderr, flush=True)
            continue
        printer.end()
        history = turn + answer.messages
