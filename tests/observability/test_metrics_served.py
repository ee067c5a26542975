"""Issue 18 point 1: every metric the code defines is served on its process's ``/metrics`` (scraped over
HTTP from the real processes after real traffic, see conftest), and every query of the checked-in
dashboard and alert rules names only series the code exports."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from prometheus_client import REGISTRY

from tests.observability.conftest import RTP_PORTS, USAGE, Served
from tests.observability.promql import dashboard_expressions, metric_names, rule_expressions

SERVICE_PACKAGES = ("centralita", "call_gateway", "chat", "mikrotik_tool", "legal_search")
# Which process serves a family, by name prefix (a new prefix must be placed here on purpose).
OWNERS = {
    "centralita_gateway_": ("call_gateway",),
    "centralita_grpc_server_": ("mikrotik_tool", "legal_search"),
    "mikrotik_": ("mikrotik_tool",),
}
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created", ""),
    "gauge": ("",),
    "info": ("_info",),
}
MIKROTIK_METHOD = "/centralita.mikrotik.v1.MikrotikService/ConsultarMikrotik"


def defined_families() -> dict[str, str]:
    """Every Prometheus family the services' modules register (imported here, walked on the registry)."""
    for name in SERVICE_PACKAGES:
        package = importlib.import_module(name)
        for module in pkgutil.walk_packages(package.__path__, f"{name}."):
            if ".migrations" not in module.name:
                importlib.import_module(module.name)
    return {
        f.name: f.type
        for f in REGISTRY.collect()
        if not f.name.startswith(("python_", "process_")) and f.name != "python_gc_objects_collected"
    }


def series_names(families: dict[str, str]) -> set[str]:
    return {family + suffix for family, kind in families.items() for suffix in SUFFIXES.get(kind, ("",))}


def test_gateway_serves_the_realtime_series_of_the_call(served: Served):
    g = served.gateway
    fc = "centralita_gateway_realtime_function_calls_total"
    assert g.value(fc, tool="consultar_mikrotik", code="OK") == 1.0
    assert sum(s for s in [g.value(fc, tool="consultar_mikrotik", code=c) for c in ("UNAVAILABLE", "INTERNAL")]) == 0
    assert g.value("centralita_gateway_realtime_function_call_seconds_count", tool="consultar_mikrotik") == 1.0
    assert g.value("centralita_gateway_realtime_turn_latency_seconds_count") >= 1
    assert g.value("centralita_gateway_realtime_session_duration_seconds_count") == 1.0
    assert g.value("centralita_gateway_realtime_audio_chunks_total", direction="out") > 0
    assert g.value("centralita_gateway_realtime_barge_ins_total") == 0.0
    ended = [f for f in g.families if f == "centralita_gateway_realtime_sessions_ended"]
    assert ended and sum(v for v in _samples(g, "centralita_gateway_realtime_sessions_ended_total")) == 1.0
    # the gateway's own collector and the media child's counters, on the same endpoint
    assert g.value("centralita_gateway_calls_started_total") == 1.0
    assert g.value("centralita_gateway_calls_active") == 0.0
    assert g.value("centralita_gateway_ari_connected") == 1.0
    assert g.value("centralita_gateway_rtp_ports") == RTP_PORTS
    assert g.value("centralita_gateway_rtp_packets_sent_total") > 0


def test_gateway_counts_realtime_tokens_and_estimated_cost(served: Served):
    g = served.gateway
    tokens = "centralita_gateway_realtime_tokens_total"
    # two responses sent only totals (greeting, the function call: 7 in, 3 out each); the answer a breakdown
    assert g.value(tokens, kind="input_unknown") == 14 and g.value(tokens, kind="output_unknown") == 6
    assert g.value(tokens, kind="input_audio") == 500 and g.value(tokens, kind="cached_audio") == 300
    assert g.value(tokens, kind="input_text") == 100 and g.value(tokens, kind="cached_text") == 300
    assert g.value(tokens, kind="output_audio") == 250 and g.value(tokens, kind="output_text") == 50
    answer = (100 * 4 + 300 * 0.4 + 500 * 32 + 300 * 0.4 + 50 * 16 + 250 * 64) / 1e6
    expected = 2 * (7 * 32 + 3 * 64) / 1e6 + answer
    assert g.value("centralita_gateway_realtime_cost_usd_total") == pytest.approx(expected)
    assert g.value("centralita_gateway_realtime_session_cost_usd_sum") == pytest.approx(expected)
    assert USAGE["input_tokens"] == 1200  # the breakdown above is this usage


def test_mikrotik_tool_serves_grpc_and_cache_series(served: Served):
    m = served.mikrotik
    assert "192.168." in served.mikrotik_answer
    assert m.value("centralita_grpc_server_handled_total", method=MIKROTIK_METHOD, code="OK") == 2.0  # call + direct
    assert m.value("centralita_grpc_server_handling_seconds_count", method=MIKROTIK_METHOD) == 2.0
    assert m.value("mikrotik_cache_lookups_total", result="miss") == 1.0
    assert m.value("mikrotik_cache_lookups_total", result="hit") == 1.0
    assert m.value("mikrotik_api_requests_total", outcome="ok") == 1.0


def test_legal_search_serves_grpc_series(served: Served):
    lg = served.legal_search
    assert served.legal_results > 0
    search = "/centralita.legal.v1.LegalSearchService/SearchContent"
    assert lg.value("centralita_grpc_server_handled_total", method=search, code="OK") == 1.0
    assert lg.value("centralita_grpc_server_handling_seconds_count", method=search) == 1.0
    assert "centralita_gateway_realtime_function_calls" not in lg.families  # each process serves its own


def test_every_metric_the_code_defines_is_served_by_its_process(served: Served):
    scrapes = served.all()
    defined = defined_families()
    assert "centralita_gateway_realtime_tokens" in defined and "mikrotik_cache_lookups" in defined
    missing = []
    for family in defined:
        owners = next((procs for prefix, procs in OWNERS.items() if family.startswith(prefix)), None)
        assert owners is not None, f"{family}: no process is known to serve it (add its prefix to OWNERS)"
        missing += [f"{family} on {p}" for p in owners if family not in scrapes[p].families]
    assert missing == []


@pytest.mark.parametrize("source", ["rules", "dashboard"])
def test_every_query_names_only_exported_series(served: Served, source):
    exported: set[str] = set()
    for s in served.all().values():
        exported |= series_names(s.families)
    exprs = rule_expressions() if source == "rules" else dashboard_expressions()
    unknown = {f"{where}: {name}" for where, e in exprs.items() for name in metric_names(e) if name not in exported}
    assert unknown == set()
    assert all(metric_names(e) for e in exprs.values()), "an expression without any metric"


def test_a_misspelt_metric_would_be_caught(served: Served):
    exported = series_names(served.gateway.families)
    assert "centralita_gateway_realtime_function_calls_total" in exported
    assert "centralita_gateway_realtime_function_call_total" not in exported
    assert "centralita_gateway_realtime_turn_latency_seconds_bucket" in exported


def _samples(scrape, name: str) -> list[float]:
    from prometheus_client.parser import text_string_to_metric_families

    return [s.value for f in text_string_to_metric_families(scrape.text) for s in f.samples if s.name == name]
