"""Render the kustomize trees and run containers' commands as the kubelet would, on this machine."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.helpers import REPO_ROOT

K8S_DIR = REPO_ROOT / "deploy" / "k8s"
DOCKERFILE = REPO_ROOT / "Dockerfile"
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
TOOL_SERVICES = {
    "mikrotik-tool": "centralita.mikrotik.v1.MikrotikService",
    "legal-search": "centralita.legal.v1.LegalSearchService",
}


def kustomize_dirs() -> list[Path]:
    """Every buildable tree: the overlays and the combinations under deploy/k8s/tests/."""
    return sorted(p.parent for sub in ("overlays", "tests") for p in (K8S_DIR / sub).glob("*/kustomization.yaml"))


def kubectl() -> str | None:
    return shutil.which("kubectl")


def render(tree: Path) -> str:
    out = subprocess.run([kubectl() or "kubectl", "kustomize", str(tree)], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise AssertionError(f"kubectl kustomize {tree} failed:\n{out.stderr}")
    return out.stdout


def parse(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


def find(docs: list[dict], kind: str, name: str) -> dict:
    for d in docs:
        if d["kind"] == kind and d["metadata"]["name"] == name:
            return d
    raise KeyError(f"{kind}/{name} not rendered")


def pod_spec(obj: dict) -> dict:
    return obj["spec"]["template"]["spec"]


def containers(obj: dict, *, init: bool = True) -> list[dict]:
    spec = pod_spec(obj)
    return [*(spec.get("initContainers", []) if init else []), *spec["containers"]]


def container(obj: dict, name: str) -> dict:
    for c in containers(obj):
        if c["name"] == name:
            return c
    raise KeyError(name)


# -- the Dockerfile ---------------------------------------------------------------------------------
def dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        pending = f"{pending} {line}" if pending else line
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        word, _, rest = pending.partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    return out


def image_entrypoint() -> list[str]:
    """ENTRYPOINT of the final stage (exec form), as the container runtime would run it."""
    final = _final_stage()
    entry = [json.loads(a) for i, a in final if i == "ENTRYPOINT"]
    return entry[-1] if entry else []


def image_cmd() -> list[str]:
    cmd = [json.loads(a) for i, a in _final_stage() if i == "CMD"]
    return cmd[-1] if cmd else []


def image_env() -> dict[str, str]:
    """ENV of the final stage (key=value form), PATH excluded: the test's own PATH finds `centralita`."""
    env: dict[str, str] = {}
    for i, args in _final_stage():
        if i == "ENV":
            for key, value in re.findall(r'(\w+)=("[^"]*"|\S+)', args):
                env[key] = value.strip('"')
    env.pop("PATH", None)
    return env


def _final_stage() -> list[tuple[str, str]]:
    ins = dockerfile_instructions()
    last_from = max(i for i, (w, _) in enumerate(ins) if w == "FROM")
    return ins[last_from:]


# -- running a container's process here -------------------------------------------------------------
_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def container_command(c: dict) -> list[str]:
    """command/args over the image's ENTRYPOINT/CMD, with Kubernetes' rules."""
    if "command" in c:
        return [*c["command"], *c.get("args", [])]
    return [*image_entrypoint(), *c.get("args", image_cmd())]


def container_env(
    docs: list[dict], obj: dict, c: dict, *, fields: dict[str, str], secrets: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment the kubelet would give the container: image ENV, envFrom, env (with $(VAR)
    expansion). ``fields`` answers downward-API fieldRefs; ``secrets`` replaces secretKeyRef values
    (the manifests ship no real secrets)."""
    namespace = obj["metadata"].get("namespace", "default")
    env = dict(image_env())
    for src in c.get("envFrom", []):
        ref = src.get("configMapRef") or src.get("secretRef")
        kind = "ConfigMap" if "configMapRef" in src else "Secret"
        env.update(_data(find(docs, kind, ref["name"])))
    for item in c.get("env", []):
        name = item["name"]
        if "value" in item:
            env[name] = _REF.sub(lambda m: env.get(m.group(1), m.group(0)), item["value"])
            continue
        src = item["valueFrom"]
        if "fieldRef" in src:
            path = src["fieldRef"]["fieldPath"]
            env[name] = namespace if path == "metadata.namespace" else fields[path]
        elif "configMapKeyRef" in src:
            ref = src["configMapKeyRef"]
            env[name] = _data(find(docs, "ConfigMap", ref["name"]))[ref["key"]]
        elif "secretKeyRef" in src:
            key = src["secretKeyRef"]["key"]
            if secrets is None or key not in secrets:
                raise KeyError(f"secret key {key} needs a test value")
            env[name] = secrets[key]
    return env


def _data(obj: dict) -> dict[str, str]:
    return {**obj.get("data", {}), **obj.get("stringData", {})}


def remap_mounts(c: dict, values: list[str], mounts: dict[str, Path]) -> list[str]:
    """Replace the container's mount paths in ``values`` with local directories (by volume name)."""
    pairs = sorted(
        ((m["mountPath"], mounts[m["name"]]) for m in c.get("volumeMounts", []) if m["name"] in mounts),
        key=lambda p: -len(p[0]),
    )
    out = []
    for v in values:
        for mount_path, local in pairs:
            if v == mount_path or v.startswith(mount_path + "/"):
                v = str(local) + v[len(mount_path) :]
                break
        out.append(v)
    return out


def process_env(env: dict[str, str]) -> dict[str, str]:
    """The container env on top of what a subprocess needs here (PATH to the venv, no .env file)."""
    base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "SYSTEMROOT") if k in os.environ}
    venv_bin = str(Path(sys.executable).parent)
    base["PATH"] = f"{venv_bin}{os.pathsep}{base.get('PATH', '')}"
    return {**base, "CENTRALITA_ENV_FILE": "/nonexistent/.env", **env}


class Process:
    """One container's main process started here as the kubelet would start it (command, env, cwd)."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, log_path: Path) -> None:
        self.argv, self.log_path = argv, log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            argv, env=process_env(env), cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()


def run_once(argv: list[str], env: dict[str, str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    """An init container or a Job container: run to completion."""
    return subprocess.run(argv, env=process_env(env), cwd=cwd, capture_output=True, text=True, timeout=timeout)
