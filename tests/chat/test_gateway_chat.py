"""``POST /v1/chat`` served by the gateway's own HTTP server (the port of /healthz and /metrics)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import httpx

from call_gateway.server import start_http
from centralita_fixtures import fake_chat
from centralita_fixtures.fake_chat import API_KEY, FakeChat
from centralita_suite.compose import chat_route
from chat.engine import ChatSettings
from chat.http_api import ChatService
from tests.chat.test_http_api import post_stream


def _gateway_stub():
    # Only the GET routes read the gateway; the chat route needs none of it.
    return SimpleNamespace(media=SimpleNamespace(alive=lambda: True), ready=True, accepting=True)


def test_gateway_port_serves_chat_and_health(dispatcher):
    with FakeChat() as fake:
        settings = ChatSettings(base_url=fake.base_url, model="fake-model", api_key=API_KEY, timeout=10)
        service = ChatService(dispatcher, settings)
        httpd = start_http(_gateway_stub(), "127.0.0.1", 0, [chat_route(service)])
        base = f"http://127.0.0.1:{httpd.server_address[1]}"
        try:
            fake.add(
                fake_chat.tool_calls(("get_database_stats", "{}")),
                lambda body: fake_chat.text(f"Hay {json.loads(body['messages'][-1]['content'])['total_documents']}."),
            )
            question = {"messages": [{"role": "user", "content": "¿Cuántos documentos hay?"}]}
            response, events = post_stream(f"{base}/v1/chat", question)
            assert response.status_code == 200, response.text
            done = events[-1][1]
            assert events[-1][0] == "done" and done["tools_used"] == ["get_database_stats"]
            assert done["text"].startswith("Hay ") and done["text"] != "Hay 0."
            assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
            bad = httpx.post(f"{base}/v1/chat", content=b"{not json", timeout=5)
            assert bad.status_code == 400 and "error" in bad.json()
            assert httpx.post(f"{base}/v1/other", json={}, timeout=5).status_code == 404
        finally:
            httpd.shutdown()
            httpd.server_close()
            service.close()
        assert fake.invalid == []


def test_without_chat_the_route_is_absent():
    httpd = start_http(_gateway_stub(), "127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/v1/chat"
        assert httpx.post(url, json={"messages": []}, timeout=5).status_code == 404
    finally:
        httpd.shutdown()
        httpd.server_close()
