"""The production containers' processes, started here exactly as the kubelet would start them.

Command = the image's ENTRYPOINT + the manifest's args; environment = the image ENV + the rendered
ConfigMap (envFrom) + the container's env (downward API and $(VAR) expansion included). Only what
cannot exist here is replaced: ports by free ones, volumes by tmp dirs, Secret values by test values,
the MikroTik API by `centralita mikrotik-sim`, Asterisk by the fake. Then the probes the kubelet runs:
grpc.health.v1 Check with "" and with the service name, HTTP /healthz and /readyz; then SIGTERM.
"""

from __future__ import annotations

import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.deploy import k8s
from tests.helpers import free_port, udp_port_range

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def grpc_probe(port: int, service: str, timeout: float = 1.0) -> int | str:
    """What the kubelet's gRPC probe sees: the status, or the RPC error code name."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            return (
                health_pb2_grpc.HealthStub(channel)
                .Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
                .status
            )
        except grpc.RpcError as exc:
            return exc.code().name


def http_probe(port: int, path: str, timeout: float = 1.0) -> int | str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError as exc:
        return type(exc).__name__


def readiness_fails(port: int, service: str):
    return lambda: grpc_probe(port, service) in (NOT_SERVING, "UNAVAILABLE")


def wait_for(check, seconds: float, what: str, proc: k8s.Process | None = None):
    end = time.monotonic() + seconds
    last = None
    while time.monotonic() < end:
        last = check()
        if last is True:
            return
        if proc is not None and proc.proc.poll() is not None:
            break
        time.sleep(0.1)
    log = proc.log()[-3000:] if proc else ""
    raise AssertionError(f"{what}: not within {seconds:.0f} s (last: {last})\n{log}")


def probe_budget(probe: dict) -> float:
    """How long the kubelet would keep trying a probe before acting on it."""
    return probe.get("initialDelaySeconds", 0) + probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3)


class Pod:
    """One container of a rendered workload, run locally (volumes → tmp dirs, ports → free ports)."""

    def __init__(
        self,
        docs: list[dict],
        kind: str,
        name: str,
        container: str,
        tmp: Path,
        *,
        secrets: dict[str, str] | None = None,
        fields: dict[str, str] | None = None,
    ) -> None:
        self.docs = docs
        self.obj = k8s.find(docs, kind, name)
        self.c = k8s.container(self.obj, container)
        self.tmp = tmp
        self.mounts = self._volumes()
        pod_ip = "127.0.0.1"
        fields = {"metadata.name": f"{name}-0", "status.podIP": pod_ip, **(fields or {})}
        env = k8s.container_env(docs, self.obj, self.c, fields=fields, secrets=secrets)
        self.env = dict(zip(env, k8s.remap_mounts(self.c, list(env.values()), self.mounts), strict=True))
        # every *_PORT variable that names one of the container's ports gets a free port instead
        self.ports: dict[int, int] = {}
        declared = {p["containerPort"] for p in self.c.get("ports", [])}
        for key, value in list(self.env.items()):
            if key.endswith("_PORT") and value.isdigit() and int(value) in declared:
                self.ports[int(value)] = free_port()
                self.env[key] = str(self.ports[int(value)])
        self.argv = k8s.remap_mounts(self.c, k8s.container_command(self.c), self.mounts)
        self.process: k8s.Process | None = None

    def _volumes(self) -> dict[str, Path]:
        mounts: dict[str, Path] = {}
        for vol in k8s.pod_spec(self.obj).get("volumes", []):
            path = self.tmp / "volumes" / vol["name"]
            path.mkdir(parents=True, exist_ok=True)
            if "configMap" in vol:
                cm = k8s.find(self.docs, "ConfigMap", vol["configMap"]["name"])
                for key, value in cm.get("data", {}).items():
                    (path / key).write_text(value)
            mounts[vol["name"]] = path
        return mounts

    def start(self, **overrides: str) -> Pod:
        self.env.update(overrides)
        workdir = self.tmp / "workdir"
        workdir.mkdir(exist_ok=True)
        self.process = k8s.Process(self.argv, self.env, workdir, self.tmp / f"{self.c['name']}.log")
        return self

    def run(self, timeout: float = 90.0, **overrides: str):
        workdir = self.tmp / "workdir"
        workdir.mkdir(exist_ok=True)
        return k8s.run_once(self.argv, {**self.env, **overrides}, workdir, timeout)

    def port(self, manifest_port: int) -> int:
        return self.ports[manifest_port]

    @property
    def grace(self) -> float:
        return float(k8s.pod_spec(self.obj).get("terminationGracePeriodSeconds", 30))

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


@pytest.fixture(scope="module")
def simulator(tmp_path_factory):
    port = free_port()
    tmp = tmp_path_factory.mktemp("mikrotik-sim")
    proc = k8s.Process(
        ["centralita", "mikrotik-sim", "--host", "127.0.0.1", "--port", str(port)], {}, tmp, tmp / "sim.log"
    )
    wait_for(lambda: http_probe(port, "/health") == 200, 20, "simulator up", proc)
    yield f"http://127.0.0.1:{port}"
    proc.stop()


def start_tools(prod, tmp: Path, simulator: str) -> dict[str, Pod]:
    pods = {
        "mikrotik-tool": Pod(prod, "Deployment", "mikrotik-tool", "mikrotik-tool", tmp / "mikrotik"),
        "legal-search": Pod(
            prod,
            "Deployment",
            "legal-search",
            "legal-search",
            tmp / "legal",
            secrets={"LEGAL_DB_URL": "sqlite:///{data}/legal.db"},
        ),
    }
    legal = pods["legal-search"]
    legal.env["LEGAL_DB_URL"] = legal.env["LEGAL_DB_URL"].format(data=legal.mounts["data"])
    # The servers do not migrate (LEGAL_MIGRATE_ON_START=false): the load Job's migrate step does, first.
    migrate = Pod(prod, "Job", "legal-search-load", "migrate", tmp / "job", secrets={"LEGAL_DB_URL": ""})
    done = migrate.run(LEGAL_DB_URL=legal.env["LEGAL_DB_URL"])
    assert done.returncode == 0, done
    pods["mikrotik-tool"].start(MIKROTIK_API_URL=simulator)
    legal.start()
    return pods


def test_tool_containers_pass_the_kubelet_probes_and_drain_on_sigterm(prod, tmp_path, simulator):
    pods = start_tools(prod, tmp_path, simulator)
    try:
        for name, pod in pods.items():
            assert pod.argv[:3] == ["centralita", "serve", name.replace("-", "_")], pod.argv
            assert (
                pod.env["GRPC_DRAIN_DELAY"]
                == k8s.find(prod, "ConfigMap", pod.c["envFrom"][0]["configMapRef"]["name"])["data"]["GRPC_DRAIN_DELAY"]
            ), "settings come from the rendered ConfigMap"
        for name, pod in pods.items():
            c, service = pod.c, k8s.TOOL_SERVICES[name]
            port = pod.port(c["startupProbe"]["grpc"]["port"])
            startup = c["startupProbe"]["grpc"].get("service", "")
            wait_for(
                lambda p=port, s=startup: grpc_probe(p, s) == SERVING,
                probe_budget(c["startupProbe"]),
                f"{name} startup probe",
                pod.process,
            )
            assert (
                grpc_probe(pod.port(c["readinessProbe"]["grpc"]["port"]), c["readinessProbe"]["grpc"]["service"])
                == SERVING
            )
            assert c["readinessProbe"]["grpc"]["service"] == service
            assert grpc_probe(pod.port(c["livenessProbe"]["grpc"]["port"]), "") == SERVING
            assert grpc_probe(port, "no.such.Service") == "NOT_FOUND", "per-service status, not always SERVING"
            ann = pod.obj["spec"]["template"]["metadata"]["annotations"]
            metrics = http_probe(pod.port(int(ann["prometheus.io/port"])), ann["prometheus.io/path"])
            assert metrics == 200, f"{name}: the scrape target answers"

        from centralita.dispatcher import Dispatcher

        endpoints = [f"127.0.0.1:{p.port(p.c['ports'][0]['containerPort'])}" for p in pods.values()]
        with Dispatcher.connect(endpoints) as tools:
            router = tools.call("consultar_mikrotik", {"question": "¿Qué routers están configurados?"})
            stats = tools.call("get_database_stats", {})
        assert router.ok, router.output
        assert stats.ok, stats.output

        started = time.monotonic()
        for pod in pods.values():
            pod.process.proc.send_signal(signal.SIGTERM)
        for name, pod in pods.items():
            ready = pod.c["readinessProbe"]["grpc"]
            # within one readiness period the kubelet must see it fail (and DNS drop the pod)
            failing = readiness_fails(pod.port(ready["port"]), ready["service"])
            wait_for(failing, pod.c["readinessProbe"]["periodSeconds"], f"{name}: readiness fails after SIGTERM")
        for name, pod in pods.items():
            left = pod.grace - (time.monotonic() - started)
            rc = pod.process.wait(timeout=max(left, 1.0))
            assert rc == 0, f"{name}: exit {rc}\n{pod.process.log()[-3000:]}"
        assert time.monotonic() - started < min(p.grace for p in pods.values())
    finally:
        for pod in pods.values():
            pod.stop()


def test_gateway_container_keeps_active_calls_and_hands_new_ones_back_on_sigterm(prod, tmp_path):
    """A rolling update as the StatefulSet does it: SIGTERM to call-gateway-0 while a call is up.
    The call goes on, a new call is handed back to the dialplan (CENTRALITA_STATUS=draining) for the
    next replica, /readyz fails, and the process exits 0 once the last call ends, within the grace."""
    from centralita_fixtures.fake_asterisk import FakeAsterisk
    from centralita_fixtures.fake_realtime import API_KEY, FakeConnection, FakeRealtimeServer
    from tests.helpers import require_ari_docs

    greeting = bytes(range(1, 161)) * 25  # 500 ms of recognisable u-law

    def script(conn: FakeConnection):
        conn.handshake()
        conn.speak(conn.expect("response.create"), greeting)

    fake = FakeAsterisk(require_ari_docs())
    realtime = FakeRealtimeServer(script, script_timeout=60).__enter__()
    pod = Pod(
        prod,
        "StatefulSet",
        "call-gateway",
        "call-gateway",
        tmp_path,
        secrets={"OPENAI_API_KEY": API_KEY, "ASTERISK_USERNAME": fake.username, "ASTERISK_PASSWORD": fake.password},
    )
    try:
        app = pod.env["ARI_APP"]
        assert app == "call-gateway-0", "ARI_APP is the StatefulSet pod name"
        assert pod.env["EXTERNAL_MEDIA_HOST"] == "127.0.0.1", "EXTERNAL_MEDIA_HOST is the pod IP"
        assert pod.env["TOOL_ENDPOINTS"].startswith("dns:///mikrotik-tool.centralita.svc.cluster.local:50051")
        assert Path(pod.env["PROFILES_PATH"]).is_file(), "the profiles ConfigMap is mounted where PROFILES_PATH says"
        drain = float(pod.env["GATEWAY_DRAIN_SECONDS"])
        lo, hi = udp_port_range(4)
        pod.start(
            ARI_URL=fake.url,
            OPENAI_REALTIME_URL=realtime.url,
            TOOL_ENDPOINTS=f"127.0.0.1:{free_port()}",
            RTP_PORT_MIN=str(lo),
            RTP_PORT_MAX=str(hi),
        )
        c, http = pod.c, pod.port(8080)
        wait_for(
            lambda: http_probe(http, c["startupProbe"]["httpGet"]["path"]) == 200,
            probe_budget(c["startupProbe"]),
            "gateway startup probe",
            pod.process,
        )
        assert fake.wait_connected(app, timeout=10), pod.process.log()[-3000:]
        wait_for(
            lambda: http_probe(http, c["readinessProbe"]["httpGet"]["path"]) == 200, 10, "gateway ready", pod.process
        )
        assert http_probe(http, c["livenessProbe"]["httpGet"]["path"]) == 200

        active = fake.new_call("3241000752", app=app)
        wait_for(
            lambda: (leg := fake.leg_for_caller(active)) is not None and len(leg.payload_bytes()) >= len(greeting),
            10,
            "the caller hears the greeting",
            pod.process,
        )

        started = time.monotonic()
        pod.process.proc.send_signal(signal.SIGTERM)
        wait_for(lambda: http_probe(http, "/readyz") != 200, 5, "not ready once draining", pod.process)
        late = fake.new_call("3241000752", app=app)
        wait_for(lambda: any(d["id"] == late for d in fake.departed), 5, "new call handed back", pod.process)
        handed = next(d for d in fake.departed if d["id"] == late)
        assert handed["variables"].get("CENTRALITA_STATUS") == "draining", handed
        time.sleep(1.0)
        assert active in fake.channels and active not in fake.hung_up, "the active call survives the SIGTERM"
        assert pod.process.proc.poll() is None, "the gateway waits for its calls"
        assert time.monotonic() - started < drain

        fake.caller_hangup(active)
        rc = pod.process.wait(timeout=pod.grace - (time.monotonic() - started))
        assert rc == 0, pod.process.log()[-3000:]
        assert fake.leftovers("") == {"channels": [], "bridges": []}
        assert app not in fake.connected_apps()
        assert API_KEY not in pod.process.log() and fake.password not in pod.process.log()
    finally:
        pod.stop()
        realtime.stop()
        fake.stop()
    assert fake.violations == []
