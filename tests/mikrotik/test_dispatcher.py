"""The tool as the gateway sees it: through the kit's Dispatcher (discovery, arguments, errors)."""

from __future__ import annotations

import json

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
