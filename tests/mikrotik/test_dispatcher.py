"""The tool as the gateway sees it: through the kit's Dispatcher (discovery, arguments, errors)."""

from __future__ import annotations

import json

import requests
from prometheus_client.parser import text_string_to_metric_families

from centralita.dispatcher import Dispatcher


def test_dispatcher_calls_consultar_mikrotik(service, sim):
    with Dispatcher.connect([service.target]) as dispatcher:
        assert [t.name for t in dispatcher.tools()] == ["consultar_mikrotik"]
        result = dispatcher.call("consultar_mikrotik", '{"question": "¿Cuál es el tráfico de la interfaz WAN?"}')
        assert result.ok, result.output
        assert "45.3 Mbps" in result.output["response"]
        assert json.loads(result.output_json())["cached"] is False
        again = dispatcher.call("consultar_mikrotik", {"question": "cual es el trafico de la interfaz wan"})
        assert again.ok and again.output["cached"] is True

        sim.configure(latency=2.0)
        slow = dispatcher.call("consultar_mikrotik", {"question": "¿Qué routers están configurados?"}, timeout=1.0)
        assert slow.code == "DEADLINE_EXCEEDED" and slow.say and "tardó demasiado" in slow.say
        sim.configure(latency=0.0, fault="fail")
        failed = dispatcher.call("consultar_mikrotik", {"question": "¿Cuántos clientes hay en el ROUTER 3?"})
        assert failed.code == "FAILED_PRECONDITION"
        assert failed.say == "Lo siento, hubo un problema: No se pudo conectar con el router ROUTER 3."
        sim.stop()
        down = dispatcher.call("consultar_mikrotik", {"question": "¿Cuántos clientes activos hay en router-146?"})
        assert down.code == "UNAVAILABLE" and "no se pudo conectar" in (down.say or "")


def test_dispatcher_does_not_see_the_tool_when_disabled(make_service):
    service = make_service(enable_tools=False)
    with Dispatcher.connect([service.target]) as dispatcher:
        assert dispatcher.tools() == []
        assert dispatcher.call("consultar_mikrotik", {"question": "¿Qué routers?"}).ok is False


def _scrape(port: int) -> dict[tuple[str, tuple], float]:
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_count_upstream_outcomes_and_cache(make_service, sim):
    service = make_service(metrics=True)
    port = service.running.metrics_port
    before = _scrape(port)
    service.ask("¿Qué routers están configurados?")
    service.ask("¿Qué routers están configurados?")
    sim.configure(fault="500")
    service.fail("¿Cuál es el tráfico de la interfaz WAN?")
    after = _scrape(port)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("mikrotik_api_requests_total", outcome="ok") == 1
    assert delta("mikrotik_api_requests_total", outcome="http_error") == 1
    assert delta("mikrotik_cache_lookups_total", result="hit") == 1
    assert delta("mikrotik_cache_lookups_total", result="miss") == 1
    assert delta("mikrotik_api_request_seconds_count") == 2
