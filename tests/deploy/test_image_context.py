"""The image's build stage without Docker: the build context that `.dockerignore` lets through, the
code generation step run inside it, and the wheel `pip install .` would install from it. Offline
(`pip wheel --no-deps --no-build-isolation` with this virtualenv's setuptools)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.deploy import k8s
from tests.helpers import REPO_ROOT

SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis"}


def _dockerignore_rules() -> list[tuple[bool, str]]:
    rules = []
    for line in (REPO_ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        rules.append((negate, line.lstrip("!").rstrip("/")))
    return rules


def _pattern_regex(pattern: str) -> re.Pattern:
    """Docker's .dockerignore syntax: `**` any number of directories, `*` and `?` within one name."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def _matches(pattern: str, path: str) -> bool:
    """The pattern matches the path or one of its parent directories (then everything under it)."""
    regex = _pattern_regex(pattern)
    parts = path.split("/")
    return any(regex.fullmatch("/".join(parts[:i])) for i in range(1, len(parts) + 1))


def build_context() -> list[str]:
    """Relative paths of the files Docker would send as the build context."""
    rules = _dockerignore_rules()
    kept = []
    for path in REPO_ROOT.rglob("*"):
        rel = path.relative_to(REPO_ROOT)
        if not path.is_file() or SKIP_DIRS & set(rel.parts[:-1]):
            continue
        included = True
        for negate, pattern in rules:
            if _matches(pattern, rel.as_posix()):
                included = negate
        if included:
            kept.append(rel.as_posix())
    return sorted(kept)


@pytest.fixture(scope="module")
def context_files() -> list[str]:
    return build_context()


def test_context_holds_the_sources_and_nothing_else(context_files):
    tops = {f.split("/")[0] for f in context_files}
    assert tops == {"pyproject.toml", "README.md", "protos", "services"}, tops
    assert any(f.endswith(".proto") for f in context_files)
    bad = [
        f
        for f in context_files
        if f.endswith((".pyc", ".binpb", "_pb2.py", "_pb2_grpc.py", ".env")) or ".egg-info/" in f
    ]
    assert not bad, f"generated or local files in the context: {bad[:5]}"


def test_build_stage_generates_the_code_and_the_wheel_carries_it(context_files, tmp_path):
    ctx = tmp_path / "ctx"
    for rel in context_files:
        (ctx / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / rel, ctx / rel)
    # RUN PYTHONPATH=services python -m centralita.protogen (guarded: it must write into the copy)
    gen = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.path.insert(0, 'services'); import centralita.protogen as p; "
            f"assert p.__file__.startswith({str(ctx)!r}), p.__file__; p.main()",
        ],
        cwd=ctx,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert gen.returncode == 0, gen.stderr
    assert (ctx / "services/centralita/tool_descriptors.binpb").is_file()
    wheel_dir = tmp_path / "wheel"
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-cache-dir",
            "-w",
            str(wheel_dir),
            str(ctx),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = wheel_dir.glob("centralita-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "centralita/tool_descriptors.binpb",
        "centralita/legal/v1/legal_pb2.py",
        "centralita/legal/v1/legal_pb2_grpc.py",
        "centralita/mikrotik/v1/mikrotik_pb2.py",
        "centralita/tools/v1/tools_pb2.py",
        "legal_search/migrations/env.py",
        "call_gateway/profiles.example.json",
        "mikrotik_tool/server.py",
        "call_gateway/server.py",
        "centralita_suite/cli.py",  # the ENTRYPOINT's console script
        "centralita_fixtures/mikrotik_simulator.py",  # `centralita mikrotik-sim` of the dev overlay
        "centralita_fixtures/legal_sample.py",  # `centralita legal-sample` of the dev overlay
    ):
        assert needed in names, f"{needed} missing from the wheel the image installs"
    assert any(n.startswith("legal_search/migrations/versions/") and n.endswith(".py") for n in names)
    assert not any(n.startswith(("tests/", "protos/")) for n in names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "centralita = centralita_suite.cli:main" in zipfile.ZipFile(wheel).read(entry).decode(), (
        "the image's ENTRYPOINT `centralita` is this console script"
    )
    assert k8s.image_entrypoint() == ["centralita"]
