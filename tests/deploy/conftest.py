"""Fixtures: every kustomize tree rendered once per session (kubectl is required under CI=true)."""

from __future__ import annotations

import pytest

from tests.deploy import k8s
from tests.helpers import require


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict]]:
    """{"overlays/prod": [objects...], ...} for every tree under deploy/k8s/{overlays,tests}."""
    require(k8s.kubectl() is not None, "kubectl not found (Debian package `kubectl`: run deploy/k8s/ensure-kubectl.sh)")
    return {str(t.relative_to(k8s.K8S_DIR)): k8s.parse(k8s.render(t)) for t in k8s.kustomize_dirs()}


@pytest.fixture(scope="session")
def prod(rendered) -> list[dict]:
    return rendered["overlays/prod"]
