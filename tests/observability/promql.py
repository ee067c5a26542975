"""Metric names in PromQL expressions, and the expressions of the checked-in rules and dashboard."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from tests.helpers import REPO_ROOT

OBSERVABILITY = REPO_ROOT / "deploy" / "observability"
RULES = OBSERVABILITY / "prometheus" / "alerts.yaml"
RULE_TESTS = OBSERVABILITY / "prometheus" / "alerts_test.yaml"
DASHBOARD = OBSERVABILITY / "grafana" / "centralita.json"

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_NAME = re.compile(r"(?<![\w.:$])([A-Za-z_:][A-Za-z0-9_:]*)(?![\w:])(?!\s*\()")
_NUMBER = re.compile(r"(?<![\w.:])\d+(?:\.\d+)?(?:e[+-]?\d+)?(?![\w.])", re.IGNORECASE)
_NUMBER_WORDS = {"inf", "nan", "e"}
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right"}


def metric_names(expr: str) -> set[str]:
    """Every metric an expression selects (functions, keywords, labels, ranges and strings left out)."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _RANGE.sub("", text)
    text = _GROUPING.sub("", text)
    text = _NUMBER.sub("0", text)
    return {m for m in _NAME.findall(text) if m.lower() not in _NUMBER_WORDS and m not in _KEYWORDS}


def rule_expressions() -> dict[str, str]:
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return {r.get("alert") or r["record"]: r["expr"] for g in doc["groups"] for r in g["rules"]}


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def dashboard_expressions() -> dict[str, str]:
    """``"<panel title> / <refId>"`` → expression, Grafana's interval variables replaced by a duration."""
    out = {}
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            expr = re.sub(r"\$__(?:rate_)?interval|\$__range", "5m", target["expr"])
            out[f"{panel['title']} / {target['refId']}"] = expr
    return out


def as_recording_rules(exprs: dict[str, str], path: Path) -> Path:
    """The expressions as a rule file, so ``promtool check rules`` parses each of them."""
    rules = [{"record": f"dashboard:expr_{i}", "expr": e} for i, e in enumerate(exprs.values())]
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")
    return path
