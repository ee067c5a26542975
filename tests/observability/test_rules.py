"""The checked-in alert rules and dashboard: promtool accepts them, the unit tests pass, and the
dashboard is well-formed. Under CI=true a missing promtool fails (``require``)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.helpers import require
from tests.observability.promql import (
    RULE_TESTS,
    RULES,
    as_recording_rules,
    dashboard,
    dashboard_expressions,
    metric_names,
    rule_expressions,
)

ALERTS = {
    "CentralitaToolErrorRate",
    "CentralitaToolLatencyP95High",
    "CentralitaTurnLatencyP95High",
    "CentralitaRealtimeErrorRate",
    "CentralitaAriDisconnected",
    "CentralitaRtpPortsExhausted",
    "CentralitaRealtimeCostPerHourHigh",
}


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    require(path is not None, "promtool not found (Debian package `prometheus`: make setup installs it)")
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=RULES.parent)


def test_promtool_checks_the_rules(promtool):
    out = run(promtool, "check", "rules", str(RULES))
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in out.stdout


def test_promtool_rejects_a_broken_rule(promtool, tmp_path):
    """The check above can fail: an expression with a syntax error is refused."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: sum(rate(x[5m])\n")
    out = run(promtool, "check", "rules", str(bad))
    assert out.returncode != 0


def test_rule_unit_tests_pass(promtool):
    out = run(promtool, "test", "rules", str(RULE_TESTS))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_rule_unit_tests_cover_every_alert_firing_and_quiet():
    import yaml

    doc = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))
    cases = [c for t in doc["tests"] for c in t["alert_rule_test"]]
    fired = {c["alertname"] for c in cases if c.get("exp_alerts")}
    quiet = {c["alertname"] for c in cases if not c.get("exp_alerts")}
    assert set(rule_expressions()) == ALERTS
    assert fired == ALERTS and quiet == ALERTS


def test_rule_unit_tests_can_fail(promtool, tmp_path):
    """A unit test expecting an alert that cannot fire is reported as a failure."""
    (tmp_path / "alerts.yaml").write_text(RULES.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "t.yaml").write_text(
        "rule_files: [alerts.yaml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n"
        "      - series: 'centralita_gateway_ari_connected{instance=\"gw\"}'\n        values: '1x10'\n"
        "    alert_rule_test:\n      - eval_time: 5m\n        alertname: CentralitaAriDisconnected\n"
        "        exp_alerts:\n          - exp_labels: {severity: critical, instance: gw}\n"
    )
    out = subprocess.run([promtool, "test", "rules", "t.yaml"], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode != 0 and "FAILED" in out.stdout + out.stderr


def test_every_alert_has_severity_for_summary_and_runbook():
    import yaml

    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    for rule in (r for g in doc["groups"] for r in g["rules"]):
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule.get("for"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["runbook"], rule["alert"]


def test_dashboard_is_well_formed_with_unique_panel_ids():
    dash = dashboard()
    assert dash["uid"] and dash["title"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for panel in dash["panels"]:
        refs = [t["refId"] for t in panel["targets"]]
        assert panel["targets"] and len(refs) == len(set(refs)), panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"]), panel["title"]
    titles = " ".join(p["title"].lower() for p in dash["panels"])
    for wanted in ("function calls", "tool latency", "turn latency", "barge-ins", "realtime errors", "active calls"):
        assert wanted in titles
    for wanted in ("ari connected", "rtp ports", "grpc server", "cache hit", "cost per hour", "cost per call"):
        assert wanted in titles


def test_every_dashboard_expression_parses(promtool, tmp_path):
    exprs = dashboard_expressions()
    out = run(promtool, "check", "rules", str(as_recording_rules(exprs, tmp_path / "dashboard.yaml")))
    assert out.returncode == 0, out.stdout + out.stderr
    broken = as_recording_rules({"x": "sum(rate(centralita_gateway_calls_active[5m]"}, tmp_path / "broken.yaml")
    assert run(promtool, "check", "rules", str(broken)).returncode != 0


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (tool, le) (rate(a_bucket{code!~"OK|x"}[5m])) / b_total', {"a_bucket", "b_total"}),
        ("histogram_quantile(0.95, sum by (le) (rate(x_bucket[$__rate_interval])))", {"x_bucket"}),
        ("up == 0 and on (instance) foo > 1e-9 or bar offset 5m", {"up", "foo", "bar"}),
        ('x{le="+Inf"} / ignoring(le) group_left y', {"x", "y"}),
        ('label_replace(z, "dst", "$1", "src", "(.*)")', {"z"}),
    ],
)
def test_metric_names_are_found_in_promql(expr, names):
    assert metric_names(expr) == names
