"""Servers in their own processes for the benchmarks, measured from outside like any client.

``bare_echo_server()`` is the baseline: a bare grpcio unary echo (sync ``grpc.server``, no kit,
no interceptor, bytes in, bytes out); ``bare_echo_server(aio=True)`` the same on ``grpc.aio``.
``tool_server()`` is the real ``centralita serve`` process. Also the small helpers every bench shares:
percentiles (``pct``), waiting for a condition, stopping a child process and the gateway rig.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc

REPO = Path(__file__).resolve().parent.parent

_BARE_ECHO = """
import sys, time
from concurrent import futures
import grpc
server = grpc.server(futures.ThreadPoolExecutor(8))
handler = grpc.unary_unary_rpc_method_handler(lambda request, context: request)
server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("bench.Echo", {"Echo": handler})])
port = server.add_insecure_port("127.0.0.1:0")
server.start()
print(port, flush=True)
sys.stdin.read()
"""

_BARE_AIO_ECHO = """
import asyncio, sys
import grpc

async def echo(request, context):
    return request

async def main():
    server = grpc.aio.server()
    handler = grpc.unary_unary_rpc_method_handler(echo)
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("bench.Echo", {"Echo": handler})])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def bare_echo_server(aio: bool = False) -> Iterator[tuple[int, int]]:
    """Yields the port and pid of a bare grpcio echo server (sync, or ``grpc.aio``) in a child process."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _BARE_AIO_ECHO if aio else _BARE_ECHO],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield int(proc.stdout.readline()), proc.pid
    finally:
        proc.kill()
        proc.wait(5)


@contextlib.contextmanager
def tool_server(
    service: str, env: dict[str, str], port: int, *, log_path: str = os.devnull
) -> Iterator[subprocess.Popen]:
    """``centralita serve <service>`` with ``env`` added, ready (channel connected) when yielded."""
    full_env = {
        **os.environ,
        "CENTRALITA_ENV_FILE": os.devnull,
        "GRPC_BIND_HOST": "127.0.0.1",
        "GRPC_DRAIN_GRACE": "1",
        "GRPC_DRAIN_DELAY": "0",
        **env,
    }
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "centralita_suite.cli", "serve", service],
            cwd=REPO,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=120)
        yield proc
    finally:
        stop_process(proc)


def rss_fds_threads(pid: int) -> tuple[float, int, int]:
    """Resident memory (MiB), open file descriptors and threads of a process (Linux /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    rss_kib = int(fields["VmRSS"].split()[0])
    threads = int(fields["Threads"])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss_kib / 1024, fds, threads


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc, clock-tick resolution)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def wait_for(condition, timeout: float, what: str) -> None:
    """``wait_until`` that fails the bench, naming what never happened."""
    if not wait_until(condition, timeout):
        raise RuntimeError(f"timed out waiting for {what}")


def pct(values: list[float], q: float) -> float:
    """The ``q``-th percentile (nearest rank); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def stop_process(proc: subprocess.Popen, grace: float = 15) -> None:
    """SIGTERM (the services drain), then SIGKILL after ``grace`` seconds."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def stop_gateway_rig(gateway: subprocess.Popen, realtime: subprocess.Popen, fake_asterisk) -> None:
    """The gateway process, the fake Realtime process (it ends when its stdin closes), the fake Asterisk."""
    stop_process(gateway)
    realtime.stdin.close()
    realtime.wait(10)
    fake_asterisk.stop()
