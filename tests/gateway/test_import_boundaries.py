"""Import boundaries (issue 17): the sans-IO cores pull in no I/O or RPC library, and ``call_gateway``
and ``chat`` do not import each other.

Each core is imported in a fresh interpreter (``sys.modules`` of this one is full of everything), then
the modules it dragged in are checked; each core's own source is also read for direct imports.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT, require

SERVICES = REPO_ROOT / "services"

# Pure cores: state machines and codecs fed by a driver; no sockets, threads, RPC or HTTP.
SANS_IO = [
    "call_gateway.realtime.protocol",
    "call_gateway.realtime.state",
    "call_gateway.realtime.timers",
    "call_gateway.realtime.model_output",
    "call_gateway.realtime.tool_calls",
    "call_gateway.realtime.barge_in",
    "call_gateway.realtime.ending",
    "call_gateway.realtime.gate",
    "call_gateway.realtime.renewal",
    "call_gateway.realtime.transcript",
    "call_gateway.realtime.prompts",
    "call_gateway.realtime.events",
    "call_gateway.realtime.server_events",
    "call_gateway.realtime.voice",
    "call_gateway.rtp.packet",
    "call_gateway.rtp.media_link",
    "call_gateway.ari.connection",
    "centralita.tool_types",
    "centralita.profiles",
]

# Third-party I/O and RPC libraries, and our own modules that open sockets or threads.
FORBIDDEN = [
    "grpc",
    "websocket",
    "websockets",
    "httpx",
    "requests",
    "aiohttp",
    "centralita.dispatcher",
    "centralita.channels",
    "centralita.server",
    "call_gateway.realtime.engine",
    "call_gateway.rtp.endpoint",
    "call_gateway.rtp.engine",
    "call_gateway.rtp.media_process",
    "call_gateway.ari.rest",
    "call_gateway.ari.events",
    "call_gateway.app",
    "call_gateway.call_session",
]
# Standard-library I/O a core must not import itself (other stdlib modules, e.g. logging, may).
FORBIDDEN_DIRECT = {
    "socket",
    "threading",
    "selectors",
    "subprocess",
    "asyncio",
    "queue",
    "grpc",
    "websocket",
    "httpx",
    "requests",
    "centralita.dispatcher",
}


def _loaded_after_import(module: str) -> list[str]:
    code = (
        f"import json, sys\nimport {module}\nprint(json.dumps(sorted(n for n in {FORBIDDEN!r} if n in sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _direct_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", SANS_IO)
def test_sans_io_core_imports_no_io_library(module):
    assert _loaded_after_import(module) == [], f"{module} pulls in I/O or RPC modules"
    path = SERVICES / (module.replace(".", "/") + ".py")
    direct = {
        name for name in _direct_imports(path) if name.split(".")[0] in FORBIDDEN_DIRECT or name in FORBIDDEN_DIRECT
    }
    assert direct == set(), f"{module} imports {sorted(direct)} itself"


def _imports_of_package(package: str) -> dict[str, set[str]]:
    """Every absolute import (at any depth, lazy ones included) of each module of ``package``."""
    return {str(path.relative_to(SERVICES)): _direct_imports(path) for path in (SERVICES / package).rglob("*.py")}


@pytest.mark.parametrize(("package", "other"), [("call_gateway", "chat"), ("chat", "call_gateway")])
def test_gateway_and_chat_are_independent(package, other):
    offenders = {
        path: sorted(n for n in names if n == other or n.startswith(other + "."))
        for path, names in _imports_of_package(package).items()
    }
    offenders = {p: n for p, n in offenders.items() if n}
    assert offenders == {}, f"{package} imports {other}: compose them in centralita_suite.compose"


def test_call_session_does_not_import_the_gateway():
    names = _direct_imports(SERVICES / "call_gateway" / "call_session.py")
    assert "call_gateway.app" not in names and "call_gateway.server" not in names


def test_import_linter_contracts_hold():
    """The contracts of ``.importlinter`` (independence of the parts, kit below them, sans-IO cores)."""
    lint = Path(sys.executable).with_name("lint-imports")
    require(lint.exists(), "import-linter is not installed (make setup installs the dev extras)")
    out = subprocess.run(
        [str(lint), str(REPO_ROOT / ".importlinter"), "--no-cache"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
