"""protos/ is a clean buf module, and the generated code in use matches it."""

from __future__ import annotations

import subprocess

from centralita.protogen import DESCRIPTOR_SET, PROTO_ROOT
from centralita.schema import load_descriptor_set
from tests.helpers import REPO_ROOT, require

BUF = REPO_ROOT / "node_modules" / ".bin" / "buf"


def _buf(*args: str) -> subprocess.CompletedProcess:
    require(BUF.exists(), "buf is not installed (npm ci installs @bufbuild/buf)")
    return subprocess.run([str(BUF), *args], cwd=PROTO_ROOT, capture_output=True, text=True, timeout=120)


def test_buf_lint_is_clean():
    result = _buf("lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_buf_format_is_clean():
    result = _buf("format", "-d", "--exit-code")
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_descriptors_are_fresh():
    """`make` regenerates whenever a .proto changes; this catches a hand-edited or stale build."""
    files = {f.name for f in load_descriptor_set(DESCRIPTOR_SET).file}
    on_disk = {str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto")}
    assert on_disk <= files
    newest_proto = max(p.stat().st_mtime for p in PROTO_ROOT.rglob("*.proto"))
    assert DESCRIPTOR_SET.stat().st_mtime >= newest_proto, "run `make protos`"
