"""``centralita run`` (what ``make run`` starts): the whole suite in the foreground, one process per
service, readable prefixed logs, and Ctrl-C (or SIGTERM) stopping every child cleanly."""

from __future__ import annotations

import importlib.util
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from centralita.config import env_int, env_str

log = logging.getLogger("centralita.run")
STOP_TIMEOUT = 15.0
SIMULATOR_PORT = "5050"


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    process: subprocess.Popen | None = None


def _pump(child: Child) -> None:
    assert child.process is not None and child.process.stdout is not None
    width = 14
    for line in child.process.stdout:
        sys.stdout.write(f"{child.name:<{width}}| {line}")
        sys.stdout.flush()


def _ensure_sample_data() -> None:
    """Build the ~2,000-document sample database and index on first start (centralita_suite.sample_data)."""
    try:
        from centralita_suite.sample_data import ensure_sample
    except ModuleNotFoundError as exc:
        if exc.name != "legal_search" and not (exc.name or "").startswith("legal_search."):
            raise
        log.warning("legal_search is not installed: starting without sample data")
        return
    docs = env_int("LEGAL_SAMPLE_DOCS", 2000)
    log.info("checking the sample legal corpus (%d documents, built once, on first start)", docs)
    if ensure_sample(n=docs):
        log.info("sample legal corpus built")


def plan(with_simulator: bool, skip_gateway: bool) -> list[Child]:
    python = sys.executable
    cli = [python, "-m", "centralita_suite.cli"]
    base = dict(os.environ)
    children: list[Child] = []
    if with_simulator or not env_str("MIKROTIK_API_URL"):
        port = env_str("MIKROTIK_SIM_PORT", SIMULATOR_PORT)
        base["MIKROTIK_API_URL"] = f"http://127.0.0.1:{port}"
        log.warning(
            "*** MIKROTIK_API_URL is not set: starting the MikroTik API SIMULATOR on 127.0.0.1:%s. "
            "Answers are canned demo data, not your routers. Set MIKROTIK_API_URL to use the real API. ***",
            port,
        )
        children.append(Child("mikrotik-sim", [*cli, "mikrotik-sim", "--port", port], base))
    children.append(Child("mikrotik_tool", [*cli, "serve", "mikrotik_tool"], base))
    children.append(Child("legal_search", [*cli, "serve", "legal_search"], base))
    if not skip_gateway and importlib.util.find_spec("call_gateway.server") is not None:
        children.append(Child("call_gateway", [*cli, "serve", "call_gateway"], base))
    return children


def run_suite(with_simulator: bool = False, skip_gateway: bool = False) -> int:
    _ensure_sample_data()
    children = plan(with_simulator, skip_gateway)
    stopping = threading.Event()

    def on_signal(signum, _frame):
        if not stopping.is_set():
            log.info("%s: stopping every service", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    for child in children:
        env = {**child.env, "PYTHONUNBUFFERED": "1"}
        # Children ignore the terminal's Ctrl-C (own process group): we stop them in order, with SIGTERM.
        child.process = subprocess.Popen(
            child.argv,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=_pump, args=(child,), daemon=True).start()
        log.info("started %s (pid %d)", child.name, child.process.pid)
    exit_code = 0
    while not stopping.wait(0.5):
        for child in children:
            rc = child.process.poll() if child.process else None
            if rc is not None and child.process is not None:
                log.error("%s exited with code %s; stopping the suite", child.name, rc)
                exit_code = rc or 1
                stopping.set()
    _stop_all(children)
    return exit_code


def _stop_all(children: list[Child]) -> None:
    for child in reversed(children):
        if child.process and child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for child in reversed(children):
        if child.process is None:
            continue
        try:
            child.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in %.0fs: killing it", child.name, STOP_TIMEOUT)
            child.process.kill()
            child.process.wait()
        log.info("%s stopped (code %s)", child.name, child.process.returncode)
