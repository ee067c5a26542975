"""Every kustomize tree renders, validates strictly against the Kubernetes schemas, and keeps the rules."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy import k8s

VALIDATE = str(Path(sys.executable).parent / "kubernetes-validate")
# oldest supported release we target (native gRPC probes are GA since 1.27) and the newest schemas
K8S_VERSIONS = ("1.29.0", "1.37.0")
PLACEHOLDER = "REPLACE_ME"
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def _labels_match(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _workloads(docs):
    return [d for d in docs if d["kind"] in k8s.WORKLOADS]


def _long_running(docs):
    return [d for d in docs if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet")]


def _settings(docs) -> dict[str, str]:
    return k8s.find(docs, "ConfigMap", _configmap_name(docs, "centralita-settings"))["data"]


def _configmap_name(docs, prefix: str) -> str:
    names = [
        d["metadata"]["name"]
        for d in docs
        if d["kind"] == "ConfigMap" and re.fullmatch(rf"{prefix}(-[a-z0-9]{{10}})?", d["metadata"]["name"])
    ]
    assert len(names) == 1, f"one ConfigMap {prefix}: {names}"
    return names[0]


def _pod_security(docs, obj) -> str:
    ns = obj["metadata"].get("namespace")
    for d in docs:
        if d["kind"] == "Namespace" and d["metadata"]["name"] == ns:
            return d["metadata"].get("labels", {}).get("pod-security.kubernetes.io/enforce", "privileged")
    return "unknown"


def test_every_tree_is_found():
    trees = {str(t.relative_to(k8s.K8S_DIR)) for t in k8s.kustomize_dirs()}
    assert {"overlays/dev", "overlays/prod"} <= trees


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_kubernetes_validate_strict(rendered, tmp_path, version):
    """`kubectl kustomize TREE | kubernetes-validate --strict`: every object passes, none is skipped."""
    for tree, docs in rendered.items():
        path = tmp_path / (tree.replace("/", "_") + ".yaml")
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        out = subprocess.run(
            [VALIDATE, "--strict", "-k", version, str(path)], capture_output=True, text=True, timeout=60
        )
        log = out.stdout + out.stderr
        assert out.returncode == 0, f"{tree} against {version}:\n{log}"
        assert log.count(" passed ") == len(docs), f"{tree}: not every object was validated:\n{log}"


def test_containers_have_probes_resources_and_a_restricted_security_context(rendered):
    for tree, docs in rendered.items():
        for obj in _workloads(docs):
            where = f"{tree} {obj['kind']}/{obj['metadata']['name']}"
            pod = k8s.pod_spec(obj)
            psc = pod.get("securityContext", {})
            assert psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) != 0, where
            assert psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
            assert pod.get("automountServiceAccountToken") is False, where
            if obj["kind"] != "Job":
                for c in pod["containers"]:
                    assert "readinessProbe" in c and "livenessProbe" in c, f"{where} {c['name']}: probes"
            for c in k8s.containers(obj):
                w = f"{where} container {c['name']}"
                res = c.get("resources", {})
                assert {"cpu", "memory"} <= set(res.get("requests", {})), f"{w}: requests"
                assert "memory" in res.get("limits", {}), f"{w}: memory limit"
                sc = c.get("securityContext", {})
                assert sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, w
                assert sc.get("readOnlyRootFilesystem") is True, f"{w}: read-only root"
                assert sc.get("allowPrivilegeEscalation") is False, w
                assert sc.get("capabilities", {}).get("drop") == ["ALL"], w
                assert not sc.get("privileged"), w
                volumes = {v["name"] for v in pod.get("volumes", [])}
                assert {m["name"] for m in c.get("volumeMounts", [])} <= volumes, w
                assert not any("hostPort" in p for p in c.get("ports", [])), f"{w}: no hostPort"
            # Pod Security "restricted": only these volume types; host namespaces only where allowed
            for v in pod.get("volumes", []):
                kinds = set(v) - {"name"}
                assert kinds <= RESTRICTED_VOLUMES, f"{where}: volume {v['name']} is {kinds}"
            assert not pod.get("hostPID") and not pod.get("hostIPC"), where
            if pod.get("hostNetwork"):
                assert _pod_security(docs, obj) == "privileged", f"{where}: hostNetwork in a restricted namespace"


def test_tool_services_are_headless_with_grpc_probes_on_numeric_ports(rendered):
    for tree, docs in rendered.items():
        for name, health_name in k8s.TOOL_SERVICES.items():
            dep = k8s.find(docs, "Deployment", name)
            svc = k8s.find(docs, "Service", name)
            assert svc["spec"].get("clusterIP") == "None", f"{tree} {name}: a headless Service (round_robin)"
            pod_labels = dep["spec"]["template"]["metadata"]["labels"]
            assert _labels_match({"matchLabels": svc["spec"]["selector"]}, pod_labels)
            c = k8s.pod_spec(dep)["containers"][0]
            ports = {p["name"]: p["containerPort"] for p in c["ports"]}
            env = {e["name"]: e.get("value") for e in c["env"]}
            port_var = "MIKROTIK_TOOL_PORT" if name == "mikrotik-tool" else "LEGAL_SEARCH_PORT"
            assert env[port_var] == str(ports["grpc"]), f"{tree} {name}: the server listens where probed"
            metrics_var = port_var.replace("_PORT", "_METRICS_PORT")
            assert env[metrics_var] == str(ports["metrics"])
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                grpc = c[probe]["grpc"]
                assert isinstance(grpc["port"], int) and grpc["port"] == ports["grpc"], f"{tree} {name} {probe}"
            assert c["readinessProbe"]["grpc"]["service"] == health_name
            ann = dep["spec"]["template"]["metadata"]["annotations"]
            assert ann["prometheus.io/scrape"] == "true" and ann["prometheus.io/port"] == str(ports["metrics"])
            assert "replicas" not in dep["spec"], f"{tree} {name}: the HPA owns the replica count"
            for kind in ("HorizontalPodAutoscaler", "PodDisruptionBudget"):
                obj = k8s.find(docs, kind, name)
                if kind == "HorizontalPodAutoscaler":
                    assert obj["spec"]["scaleTargetRef"] == {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": name,
                    }
                    assert obj["spec"]["metrics"][0]["resource"]["name"] == "cpu"
                else:
                    assert _labels_match(obj["spec"]["selector"], dep["spec"]["template"]["metadata"]["labels"])
            settings = _settings(docs)
            drain = float(settings["GRPC_DRAIN_DELAY"]) + float(settings["GRPC_DRAIN_GRACE"])
            assert k8s.pod_spec(dep)["terminationGracePeriodSeconds"] > drain, f"{tree} {name}: drain fits"


def test_network_policies_select_the_tool_pods_and_admit_only_gateway_and_tool_clients(rendered):
    for tree, docs in rendered.items():
        gateway_labels = k8s.find(docs, "StatefulSet", "call-gateway")["spec"]["template"]["metadata"]["labels"]
        policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
        for name in k8s.TOOL_SERVICES:
            dep = k8s.find(docs, "Deployment", name)
            labels = dep["spec"]["template"]["metadata"]["labels"]
            grpc_port = k8s.pod_spec(dep)["containers"][0]["ports"][0]["containerPort"]
            mine = [p for p in policies if _labels_match(p["spec"]["podSelector"], labels)]
            assert mine, f"{tree}: no NetworkPolicy selects {name}"
            for pol in mine:
                assert "Ingress" in pol["spec"]["policyTypes"]
                for rule in pol["spec"]["ingress"]:
                    if grpc_port not in [p["port"] for p in rule.get("ports", [])]:
                        continue
                    peers = rule["from"]
                    assert peers, f"{tree} {name}: the gRPC port must not be open to all"
                    for peer in peers:
                        assert "namespaceSelector" not in peer and "ipBlock" not in peer
                        sel = peer["podSelector"]["matchLabels"]
                        assert sel == {"centralita.io/tool-client": "true"} or _labels_match(
                            peer["podSelector"], gateway_labels
                        ), f"{tree} {name}: unexpected peer {sel}"
                    assert any(_labels_match(p["podSelector"], gateway_labels) for p in peers), "gateway admitted"


def test_secrets_carry_placeholders_only(rendered):
    for tree, docs in rendered.items():
        for secret in (d for d in docs if d["kind"] == "Secret"):
            assert "data" not in secret, f"{tree}: write templates as stringData placeholders"
            for key, value in secret.get("stringData", {}).items():
                where = f"{tree} Secret/{secret['metadata']['name']} {key}"
                assert not re.search(r"sk-[A-Za-z0-9_-]{8,}", value), where
                if "://" in value:
                    password = urlsplit(value).password
                    assert password in (None, PLACEHOLDER), f"{where}: a real-looking URL password"
                else:
                    assert value == PLACEHOLDER, f"{where}: {value!r} is not a placeholder"
        # every secretKeyRef names a key of the template
        template = yaml.safe_load((k8s.K8S_DIR / "components/secret-template/secret.yaml").read_text())
        for obj in _workloads(docs):
            for c in k8s.containers(obj):
                for e in c.get("env", []):
                    ref = e.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        assert ref["name"] == template["metadata"]["name"], f"{tree} {c['name']}"
                        assert ref["key"] in template["stringData"], f"{tree} {c['name']}: {ref['key']}"


def test_production_images_are_pinned(rendered):
    trees = [t for t in rendered if "prod" in t]
    assert trees
    for tree in trees:
        assert not any(d["kind"] == "Secret" for d in rendered[tree]), f"{tree}: prod Secrets live outside git"
        for obj in _workloads(rendered[tree]):
            for c in k8s.containers(obj):
                image = c["image"]
                if "@sha256:" in image:
                    continue
                name, _, tag = image.rpartition(":")
                assert name and "/" not in tag and tag and tag != "latest", f"{tree} {c['name']}: {image}"
                assert "/" in name, f"{tree} {c['name']}: {image} should come from a registry"


def test_gateway_statefulset_names_its_ari_app_and_drains_calls(rendered):
    for tree, docs in rendered.items():
        sts = k8s.find(docs, "StatefulSet", "call-gateway")
        pod = k8s.pod_spec(sts)
        c = pod["containers"][0]
        env = {e["name"]: e for e in c["env"]}
        assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
        assert env["ARI_APP"]["value"] == "$(POD_NAME)"
        assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
        assert env["EXTERNAL_MEDIA_HOST"]["value"] == "$(POD_IP)"
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert "kill" in " ".join(c["lifecycle"]["preStop"]["exec"]["command"])
        settings = _settings(docs)
        drain = float(settings["GATEWAY_DRAIN_SECONDS"])
        assert pod["terminationGracePeriodSeconds"] >= drain + 10, f"{tree}: grace covers the call drain"
        assert 1024 < int(settings["RTP_PORT_MIN"]) < int(settings["RTP_PORT_MAX"]) < 65536
        assert k8s.find(docs, "Service", sts["spec"]["serviceName"])["spec"]["clusterIP"] == "None"
        if pod.get("hostNetwork"):
            assert pod["dnsPolicy"] == "ClusterFirstWithHostNet"
            anti = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            assert anti[0]["topologyKey"] == "kubernetes.io/hostname", f"{tree}: one host-network gateway per node"
            ns = next(d for d in docs if d["kind"] == "Namespace")
            assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


def test_config_references_resolve_and_profiles_parse(rendered):
    from centralita.profiles import load_profiles

    for tree, docs in rendered.items():
        names = {(d["kind"], d["metadata"]["name"]) for d in docs}
        for obj in _workloads(docs):
            pod = k8s.pod_spec(obj)
            for c in k8s.containers(obj):
                for src in c.get("envFrom", []):
                    assert ("ConfigMap", src["configMapRef"]["name"]) in names, f"{tree} {c['name']}"
            for v in pod.get("volumes", []):
                if "configMap" in v:
                    assert ("ConfigMap", v["configMap"]["name"]) in names
                if "persistentVolumeClaim" in v:
                    assert ("PersistentVolumeClaim", v["persistentVolumeClaim"]["claimName"]) in names
    book = load_profiles(k8s.K8S_DIR / "base" / "profiles.json")
    assert book.for_exten(None) is not None


def test_namespaces_enforce_restricted_pod_security(rendered):
    """restricted everywhere, unless the tree opts into host networking (then privileged, on purpose)."""
    for tree, docs in rendered.items():
        namespaces = [d for d in docs if d["kind"] == "Namespace"]
        assert len(namespaces) == 1, tree
        host = any(k8s.pod_spec(o).get("hostNetwork") for o in _workloads(docs))
        for obj in _workloads(docs):
            assert obj["metadata"]["namespace"] == namespaces[0]["metadata"]["name"]
            assert _pod_security(docs, obj) == ("privileged" if host else "restricted"), tree
