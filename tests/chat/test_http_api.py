"""``POST /v1/chat`` with a real HTTP client reading the SSE stream (fake model, live tools)."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from centralita_fixtures import fake_chat
from centralita_fixtures.fake_chat import API_KEY, FakeChat
from chat.engine import ChatSettings
from chat.http_api import MAX_BODY, ChatService, start_chat_http


@pytest.fixture
def fake():
    with FakeChat() as server:
        yield server
        assert server.invalid == [], server.invalid


def make_server(fake: FakeChat, dispatcher, *, http11: bool = False, api_key: str = API_KEY):
    settings = ChatSettings(base_url=fake.base_url, model="fake-model", api_key=api_key, timeout=10)
    service = ChatService(dispatcher, settings)
    httpd = start_chat_http(service, http11=http11)
    return service, httpd, f"http://127.0.0.1:{httpd.server_address[1]}/v1/chat"


@pytest.fixture(params=[False, True], ids=["http1.0", "http1.1"])
def chat_url(request, fake, dispatcher):
    service, httpd, url = make_server(fake, dispatcher, http11=request.param)
    yield url
    httpd.shutdown()
    httpd.server_close()
    service.close()


def read_events(response: httpx.Response) -> list[tuple[str, dict]]:
    events, name, data = [], None, []
    for line in response.iter_lines():
        if line == "":
            if data:
                events.append((name or "message", json.loads("\n".join(data))))
            name, data = None, []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
    return events


def post_stream(url: str, payload) -> tuple[httpx.Response, list[tuple[str, dict]]]:
    with httpx.stream("POST", url, json=payload, timeout=20) as response:
        if response.headers["content-type"].startswith("text/event-stream"):
            return response, read_events(response)
        response.read()
        return response, []


def test_answer_streams_text_tool_notices_and_a_final_event(fake, chat_url, legal_corpus):
    args = json.dumps(
        {
            "query": "¿Cuántas normativas hay?",
            "filters": None,
            "operation": "count",
            "group_by": None,
            "order": None,
            "limit": None,
        }
    )
    fake.add(
        fake_chat.tool_calls(("query_metadata_sql", args)),
        lambda body: fake_chat.text(
            f"Hay {json.loads(body['messages'][-1]['content'])['total']} normativas.", pieces=3
        ),
    )
    response, events = post_stream(chat_url, {"messages": [{"role": "user", "content": "¿Cuántas normativas hay?"}]})
    assert response.status_code == 200
    names = [n for n, _ in events]
    assert names[:2] == ["tool_call", "tool_result"] and names[-1] == "done"
    assert names.count("text") >= 3
    call, result = events[0][1], events[1][1]
    assert call["name"] == "query_metadata_sql" and json.loads(call["arguments"])["operation"] == "count"
    assert result == {**result, "id": call["id"], "ok": True, "code": "OK", "round": 1}
    text = "".join(d["text"] for n, d in events if n == "text")
    done = events[-1][1]
    assert text == done["text"] == f"Hay {len(legal_corpus[0])} normativas."
    assert done["tools_used"] == ["query_metadata_sql"] and done["rounds"] == 1 and done["requests"] == 2
    assert done["usage"]["total_tokens"] == 160 and done["latency_ms"] > 0
    assert [m["role"] for m in done["messages"]] == ["assistant", "tool", "assistant"]
    # the legal profile's instructions and allow-list are what the model got
    assert {t["function"]["name"] for t in fake.requests[0]["tools"]} == {
        "query_metadata_sql",
        "search_content",
        "get_database_stats",
    }


def test_history_from_the_front_end_is_used(fake, chat_url):
    fake.add(lambda body: fake_chat.text(f"{len(body['messages'])} mensajes"))
    history = [
        {"role": "user", "content": "hola"},
        {"role": "assistant", "content": "¿Qué necesitás?"},
        {"role": "user", "content": "nada"},
    ]
    _, events = post_stream(chat_url, {"messages": history, "profile": "informacion_legal"})
    assert events[-1] == ("done", events[-1][1]) and events[-1][1]["text"] == "4 mensajes"  # + system prompt
    assert fake.requests[0]["messages"][1:] == history


def test_tool_error_is_a_notice_and_the_answer_goes_on(fake, chat_url):
    fake.add(
        fake_chat.tool_calls(("search_content", json.dumps({"query": "", "filters": None, "limit": None}))),
        lambda body: fake_chat.text("No pude buscar eso."),
    )
    _, events = post_stream(chat_url, {"messages": [{"role": "user", "content": "buscá nada"}]})
    result = next(d for n, d in events if n == "tool_result")
    assert result["ok"] is False and result["code"] == "INVALID_ARGUMENT"
    assert events[-1][0] == "done" and events[-1][1]["text"] == "No pude buscar eso."


def test_model_failure_after_the_stream_started_is_an_error_event(fake, chat_url):
    fake.add(fake_chat.tool_calls(("get_database_stats", "{}")), fake_chat.http_error(500, "The server had an error"))
    response, events = post_stream(chat_url, {"messages": [{"role": "user", "content": "estadísticas"}]})
    assert response.status_code == 200
    assert [n for n, _ in events] == ["tool_call", "tool_result", "error"]
    assert events[-1][1]["kind"] == "model" and "HTTP 500" in events[-1][1]["message"]


def test_model_failure_before_streaming_is_a_502(fake, chat_url):
    fake.add(fake_chat.http_error(404, "The model `fake-model` does not exist", code="model_not_found"))
    response, _ = post_stream(chat_url, {"messages": [{"role": "user", "content": "hola"}]})
    assert response.status_code == 502
    assert response.json()["error"]["kind"] == "model" and "does not exist" in response.json()["error"]["message"]


def test_missing_key_is_a_503(fake, dispatcher):
    service, httpd, url = make_server(fake, dispatcher, api_key="")
    try:
        response = httpx.post(url, json={"messages": [{"role": "user", "content": "hola"}]}, timeout=10)
    finally:
        httpd.shutdown()
        httpd.server_close()
        service.close()
    assert response.status_code == 503 and "OPENAI_API_KEY" in response.json()["error"]["message"]
    assert fake.requests == []


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b"{}", "messages"),
        (json.dumps({"messages": []}).encode(), "non-empty"),
        (json.dumps({"messages": [{"role": "robot", "content": "x"}]}).encode(), "role"),
        (json.dumps({"messages": [{"role": "user", "content": "x"}], "stream": False}).encode(), "unknown fields"),
        (json.dumps({"messages": [{"role": "user", "content": "x"}], "profile": "nope"}).encode(), "unknown profile"),
        (json.dumps({"messages": [{"role": "user", "content": "x"}], "profile": 3}).encode(), "profile"),
        ("\udcff".encode("utf-8", "surrogatepass"), "not valid JSON"),
    ],
)
def test_bad_bodies_get_a_400_with_a_json_error(fake, chat_url, body, needle):
    response = httpx.post(chat_url, content=body, headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["kind"] == "bad_request" and needle in error["message"]
    assert "Traceback" not in response.text
    assert fake.requests == []


def test_too_large_missing_length_wrong_route_and_method(chat_url):
    big = b'{"messages": "' + b"x" * (MAX_BODY + 1) + b'"}'
    assert httpx.post(chat_url, content=big, timeout=10).status_code == 413
    assert httpx.post(chat_url.replace("/v1/chat", "/v1/other"), json={}, timeout=10).status_code == 404
    assert httpx.get(chat_url, timeout=10).status_code == 405
    host, port = chat_url.split("//")[1].split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"POST /v1/chat HTTP/1.0\r\nContent-Type: application/json\r\n\r\n")
        received = b""
        while chunk := sock.recv(4096):  # an HTTP/1.0 request: the server closes after the reply
            received += chunk
    reply = received.decode()
    assert reply.startswith(("HTTP/1.0 411", "HTTP/1.1 411")) and '"kind": "bad_request"' in reply


def test_client_leaving_mid_answer_does_not_break_the_server(fake, chat_url):
    slow = fake_chat.text("una respuesta larga " * 10, pieces=40)
    slow.chunk_delay = 0.02
    fake.add(slow, fake_chat.text("sigo vivo"))
    with httpx.stream(
        "POST", chat_url, json={"messages": [{"role": "user", "content": "hola"}]}, timeout=10
    ) as response:
        for line in response.iter_lines():
            if line.startswith("data:"):
                break  # hang up after the first event
    _, events = post_stream(chat_url, {"messages": [{"role": "user", "content": "¿seguís?"}]})
    assert events[-1][0] == "done" and events[-1][1]["text"] == "sigo vivo"


def test_concurrent_requests_get_their_own_answers(fake, chat_url):
    from concurrent.futures import ThreadPoolExecutor

    def responder(body):
        if body["messages"][-1]["role"] == "tool":
            question = next(m["content"] for m in body["messages"] if m["role"] == "user")
            return fake_chat.text(f"respuesta a {question}", pieces=4)
        return fake_chat.tool_calls(("get_database_stats", "{}"))

    fake.default = responder
    questions = [f"pregunta {i}" for i in range(6)]
    with ThreadPoolExecutor(len(questions)) as pool:
        results = list(
            pool.map(lambda q: post_stream(chat_url, {"messages": [{"role": "user", "content": q}]}), questions)
        )
    for question, (response, events) in zip(questions, results, strict=True):
        assert response.status_code == 200
        assert events[-1][0] == "done" and events[-1][1]["text"] == f"respuesta a {question}"
        assert events[-1][1]["tools_used"] == ["get_database_stats"]
