"""The image installs `pip install .` only (no dev extra): every module a container's command can
import must come from the runtime dependencies in pyproject.toml (or the standard library).

Static: from `centralita_suite.cli` (plus the CLI parts it loads by name) and `<service>.server`, follow the
first-party imports (module and function level; not under `if TYPE_CHECKING:`, nor optional ones in a
`try:` that catches ImportError), and map every third-party
top-level name to its distribution, which must be in the closure of `project.dependencies`.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from centralita_suite import cli
from tests.helpers import REPO_ROOT

SERVICES_DIR = REPO_ROOT / "services"
FIRST_PARTY = {p.name for p in SERVICES_DIR.iterdir() if (p / "__init__.py").is_file()}
BUILD_ONLY = {"centralita.protogen"}  # runs in the image's build stage, with grpcio-tools


def _module_file(name: str) -> Path | None:
    base = SERVICES_DIR.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _guards_import_error(node: ast.Try) -> bool:
    names = {"ImportError", "ModuleNotFoundError"}
    for handler in node.handlers:
        types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        if any(isinstance(t, ast.Name) and t.id in names for t in types):
            return True
    return False


def _imports(name: str, path: Path) -> set[str]:
    """Absolute names imported by a module (relative imports resolved), outside TYPE_CHECKING blocks."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Try) and _guards_import_error(node):
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                visit(child)  # optional import: the body may fail
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            found.add(mod)
            found.update(f"{mod}.{a.name}" for a in node.names)  # `from pkg import submodule`
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def third_party_imports(roots: list[str]) -> dict[str, str]:
    """{top-level third-party name: first-party module that imports it} reachable from ``roots``."""
    seen: set[str] = set()
    todo = list(roots)
    external: dict[str, str] = {}
    while todo:
        name = todo.pop()
        if name in seen or name in BUILD_ONLY:
            continue
        seen.add(name)
        path = _module_file(name)
        if path is None:
            continue
        parent = name.rpartition(".")[0]
        if parent:
            todo.append(parent)  # importing a.b.c runs a/__init__ and a/b/__init__
        for imported in _imports(name, path):
            top = imported.split(".")[0]
            if top in FIRST_PARTY:
                todo.append(imported)
            elif top and top not in sys.stdlib_module_names and top != "__future__":
                external.setdefault(top, name)
    return external


def runtime_closure() -> set[str]:
    """Canonical names of the runtime dependencies and everything they require (extras included)."""
    deps = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    todo = [Requirement(d) for d in deps]
    names: set[str] = set()
    done: set[tuple[str, frozenset]] = set()
    while todo:
        req = todo.pop()
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in done:
            continue
        done.add(key)
        names.add(key[0])
        try:
            requires = md.requires(req.name) or []
        except md.PackageNotFoundError:
            continue
        for raw in requires:
            sub = Requirement(raw)
            envs = [{"extra": e} for e in req.extras] or [{"extra": ""}]
            if sub.marker is None or any(sub.marker.evaluate(env) for env in envs):
                todo.append(sub)
    return names


@pytest.mark.parametrize("service", sorted(cli.SERVICES))
def test_serve_needs_runtime_dependencies_only(service):
    external = third_party_imports(["centralita_suite.cli", *cli.PART_CLIS, cli.SERVICES[service]])
    assert "grpc" in external, "the scan found the gRPC imports (sanity)"
    dists = md.packages_distributions()
    closure = runtime_closure()
    missing = {}
    for top, where in sorted(external.items()):
        owners = {canonicalize_name(d) for d in dists.get(top, [])}
        if not owners & closure:
            missing[top] = f"imported by {where}; distribution {sorted(owners) or 'unknown'}"
    assert not missing, f"not installed in the image (dev-only or undeclared): {missing}"
