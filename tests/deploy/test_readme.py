"""The "Deploying on Kubernetes" section states the numbers the rendered prod manifests use."""

from __future__ import annotations

import yaml

from tests.deploy import k8s


def test_readme_matches_the_prod_manifests(prod):
    text = (k8s.REPO_ROOT / "README.md").read_text()
    start = text.index("\n## Deploying on Kubernetes\n")
    end = text.find("\n## ", start + 1)
    readme = text[start : end if end > 0 else None]
    settings = next(
        d for d in prod if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("centralita-settings")
    )["data"]
    sts = k8s.find(prod, "StatefulSet", "call-gateway")
    lo, hi = settings["RTP_PORT_MIN"], settings["RTP_PORT_MAX"]
    assert f"{lo}-{hi}/udp" in readme and f"({lo}–{hi})" in readme
    assert f"`GATEWAY_DRAIN_SECONDS` ({settings['GATEWAY_DRAIN_SECONDS']} s)" in readme
    assert f"terminationGracePeriodSeconds: {k8s.pod_spec(sts)['terminationGracePeriodSeconds']}" in readme
    assert f"`GRPC_DRAIN_DELAY` ({settings['GRPC_DRAIN_DELAY']} s" in readme
    assert f"`GRPC_DRAIN_GRACE`\n  ({settings['GRPC_DRAIN_GRACE']} s)" in readme
    tool_grace = k8s.pod_spec(k8s.find(prod, "Deployment", "legal-search"))["terminationGracePeriodSeconds"]
    assert f"`terminationGracePeriodSeconds: {tool_grace}`" in readme
    assert f"Stasis({sts['metadata']['name']}-${{CENTRALITA_NEXT}})" in readme, "dialplan app = pod name"
    assert f"`minReadySeconds` ({sts['spec']['minReadySeconds']} s)" in readme
    hpa = k8s.find(prod, "HorizontalPodAutoscaler", "legal-search")["spec"]
    assert f"prod {hpa['minReplicas']}–{hpa['maxReplicas']}" in readme
    for service in k8s.TOOL_SERVICES.values():
        assert f"`{service}`" in readme
    template = yaml.safe_load((k8s.K8S_DIR / "components/secret-template/secret.yaml").read_text())
    for key in template["stringData"]:
        assert f"--from-literal={key}=" in readme, f"the create-secret command sets {key}"
