"""Chat engine against the fake Chat Completions server (real HTTP, streamed SSE) and live tool services."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter

import pytest

from centralita.schema import chat_tool
from centralita_fixtures import fake_chat
from centralita_fixtures.fake_chat import API_KEY, FakeChat
from chat.engine import (
    ChatEngine,
    ChatError,
    ChatSettings,
    Finished,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from chat.messages import check_messages
from tests.helpers import free_port

LEGAL_TOOLS = {"query_metadata_sql", "search_content", "get_database_stats"}
NO_FILTERS = {
    "municipality": None,
    "type": None,
    "year": None,
    "date_from": None,
    "date_to": None,
    "number": None,
    "status": None,
    "municipalities": [],
}


def metadata_args(query: str, **filters) -> str:
    return json.dumps(
        {
            "query": query,
            "filters": {**NO_FILTERS, **filters},
            "operation": "count",
            "group_by": None,
            "order": None,
            "limit": None,
        },
        ensure_ascii=False,
    )


def content_args(query: str, **filters) -> str:
    return json.dumps(
        {"query": query, "filters": {**NO_FILTERS, **filters} if filters else None, "limit": 5}, ensure_ascii=False
    )


def tool_messages(body: dict) -> list[dict]:
    return [m for m in body["messages"] if m["role"] == "tool"]


def last_tool_output(body: dict) -> dict:
    return json.loads(tool_messages(body)[-1]["content"])


@pytest.fixture
def fake():
    with FakeChat() as server:
        yield server
        assert server.invalid == [], server.invalid


def settings_for(fake: FakeChat, **kw) -> ChatSettings:
    return ChatSettings(base_url=fake.base_url, model="fake-model", api_key=API_KEY, timeout=10, **kw)


@pytest.fixture
def legal_engine(fake, dispatcher):
    with ChatEngine.for_profile(dispatcher, "informacion_legal", settings_for(fake)) as engine:
        yield engine


@pytest.fixture
def echo_engine(fake, dispatcher):
    with ChatEngine(dispatcher, settings_for(fake), instructions="Sos un asistente de pruebas.") as engine:
        yield engine


def ask(engine: ChatEngine, text: str):
    events = list(engine.stream([{"role": "user", "content": text}]))
    assert isinstance(events[-1], Finished)
    return events[-1].answer, events


# ---------------------------------------------------------------- the seed's scenarios


def test_metadata_count_via_query_metadata_sql(fake, legal_engine, legal_corpus, caplog):
    _, truths = legal_corpus
    (muni, kind), expected = Counter((t.municipality, t.type) for t in truths).most_common(1)[0]

    def answer(body):
        out = last_tool_output(body)
        return fake_chat.text(f"Hay {out['total']} normativas de tipo {kind} en {muni}.", pieces=4)

    fake.add(
        fake_chat.tool_calls(
            ("query_metadata_sql", metadata_args(f"¿Cuántos {kind} hay de {muni}?", municipality=muni, type=kind)),
            pieces=5,
        ),
        answer,
    )
    with caplog.at_level(logging.INFO, logger="chat.engine"):
        result, events = ask(legal_engine, f"¿Cuántos {kind} hay de {muni}?")

    assert result.text == f"Hay {expected} normativas de tipo {kind} en {muni}."
    assert result.tools_used == ["query_metadata_sql"] and result.rounds == 1 and result.requests == 2
    first, second = fake.requests
    assert first["messages"][0]["role"] == "system" and "query_metadata_sql" in first["messages"][0]["content"]
    assert {t["function"]["name"] for t in first["tools"]} == LEGAL_TOOLS  # the profile's allow-list only
    assert all(t["function"]["strict"] is True for t in first["tools"])
    offered = {t["function"]["name"]: t for t in first["tools"]}
    assert offered["query_metadata_sql"] == chat_tool(legal_engine.dispatcher.spec("query_metadata_sql"))
    call = second["messages"][-2]["tool_calls"][0]
    assert json.loads(call["function"]["arguments"])["filters"]["municipality"] == muni  # deltas reassembled
    assert tool_messages(second)[0]["tool_call_id"] == call["id"]
    assert [type(e).__name__ for e in events if not isinstance(e, TextDelta)] == [
        "ToolCallStarted",
        "ToolCallFinished",
        "Finished",
    ]
    assert sum(isinstance(e, TextDelta) for e in events) >= 4
    assert result.usage == {"prompt_tokens": 130, "completion_tokens": 30, "total_tokens": 160}
    lines = [r.getMessage() for r in caplog.records if r.name == "chat.engine"]
    assert any("tools used: query_metadata_sql" in line and " ms" in line for line in lines)
    assert API_KEY not in caplog.text


def test_content_question_via_search_content(fake, legal_engine):
    def answer(body):
        top = last_tool_output(body)["results"][0]
        return fake_chat.text(f"La más relevante es {top['id']}: {top['title']}")

    args = content_args("¿Qué dice la ordenanza 2947 sobre habilitaciones?", municipality="Merlo")
    fake.add(fake_chat.tool_calls(("search_content", args)), answer)
    result, _ = ask(legal_engine, "¿Qué dice la ordenanza 2947 de Merlo sobre habilitaciones?")
    assert result.text.startswith("La más relevante es merlo-ordenanza-2947-2024")
    assert result.tools_used == ["search_content"]


def test_two_rounds_with_both_tools(fake, legal_engine, legal_corpus):
    _, truths = legal_corpus
    muni = Counter(t.municipality for t in truths).most_common(1)[0][0]
    expected = sum(t.municipality == muni for t in truths)

    def second_round(body):
        assert "tools" in body and last_tool_output(body)["total"] == expected
        return fake_chat.tool_calls(("search_content", content_args("tasas municipales", municipality=muni)))

    def final(body):
        outputs = [json.loads(m["content"]) for m in tool_messages(body)]
        return fake_chat.text(f"{outputs[0]['total']} normativas; {outputs[1]['total_hits']} sobre tasas.")

    fake.add(
        fake_chat.tool_calls(
            ("query_metadata_sql", metadata_args(f"¿Cuántas normativas tiene {muni}?", municipality=muni))
        ),
        second_round,
        final,
    )
    result, events = ask(legal_engine, f"¿Cuántas normativas tiene {muni} y cuáles hablan de tasas?")
    assert result.rounds == 2 and result.requests == 3
    assert result.tools_used == ["query_metadata_sql", "search_content"]
    assert result.text.startswith(f"{expected} normativas; ")
    assert [e.round for e in events if isinstance(e, ToolCallStarted)] == [1, 2]
    # the history handed back is complete: assistant(tool_calls), tool, assistant(tool_calls), tool, assistant
    assert [m["role"] for m in result.messages] == ["assistant", "tool", "assistant", "tool", "assistant"]


def test_model_that_keeps_calling_tools_is_stopped_after_three_rounds(fake, echo_engine):
    def loop(body):
        assert "tools" in body
        return fake_chat.tool_calls(("echo", json.dumps({"text": "otra vez"})))

    def final(body):
        assert "tools" not in body and "tool_choice" not in body and "parallel_tool_calls" not in body
        return fake_chat.text("Respuesta final sin herramientas.")

    fake.add(loop, loop, loop, final)
    result, _ = ask(echo_engine, "Repetí para siempre")
    assert result.rounds == 3 and result.requests == 4 and result.stopped_by_limit
    assert result.tools_used == ["echo"] * 3
    assert result.text == "Respuesta final sin herramientas."
    assert len(tool_messages(fake.requests[3])) == 3


def test_roundtrip_limit_from_the_environment(fake, dispatcher, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("CHAT_MODEL", "fake-model")
    monkeypatch.setenv("CHAT_MAX_TOOL_ROUNDTRIPS", "1")
    fake.add(fake_chat.tool_calls(("echo", '{"text": "a"}')), fake_chat.text("listo"))
    with ChatEngine(dispatcher) as engine:
        result, _ = ask(engine, "hola")
    assert result.rounds == 1 and result.requests == 2 and "tools" not in fake.requests[1]
    assert fake.requests[0]["model"] == "fake-model"


def test_zero_roundtrips_or_no_tool_services_means_no_tools(fake, dispatcher):
    from centralita.dispatcher import Dispatcher

    fake.add(fake_chat.text("sin herramientas"), fake_chat.text("tampoco"))
    with ChatEngine(dispatcher, settings_for(fake, max_tool_roundtrips=0)) as engine:
        result, _ = ask(engine, "hola")
    assert "tools" not in fake.requests[0] and result.rounds == 0 and not result.stopped_by_limit
    with Dispatcher([]) as empty, ChatEngine(empty, settings_for(fake)) as engine:
        result, _ = ask(engine, "hola")
    assert "tools" not in fake.requests[1] and result.text == "tampoco"
    assert "messages" in fake.requests[1] and fake.requests[1]["messages"] == [{"role": "user", "content": "hola"}]


def test_tool_error_goes_back_to_the_model_which_answers_anyway(fake, echo_engine):
    args = json.dumps({"sleep_ms": 0, "fail_with": "NOT_FOUND", "message": "No encontré ese cliente."})
    fake.add(
        fake_chat.tool_calls(("misbehave", args)),
        lambda body: fake_chat.text("Perdón: " + last_tool_output(body)["error"]["say"]),
    )
    result, events = ask(echo_engine, "buscá el cliente 7")
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    assert [(e.ok, e.code) for e in finished] == [(False, "NOT_FOUND")]
    error = last_tool_output(fake.requests[1])["error"]
    assert error["code"] == "NOT_FOUND" and error["message"] == "No encontré ese cliente."
    assert result.text == "Perdón: No encontré ese cliente."


def test_malformed_arguments_get_the_dispatchers_readable_error(fake, echo_engine):
    broken = '{"text": "hola"'
    fake.add(fake_chat.tool_calls(("echo", broken), pieces=4), lambda body: fake_chat.text("Entendido."))
    result, _ = ask(echo_engine, "eco")
    second = fake.requests[1]
    assert second["messages"][-2]["tool_calls"][0]["function"]["arguments"] == broken  # sent back verbatim
    error = last_tool_output(second)["error"]
    assert error["code"] == "INVALID_ARGUMENT" and "not valid JSON" in error["message"]
    assert result.text == "Entendido."


def test_tool_outside_the_allow_list_is_not_called(fake, legal_engine):
    fake.add(fake_chat.tool_calls(("echo", '{"text": "x"}')), lambda body: fake_chat.text("ok"))
    ask(legal_engine, "hola")
    error = last_tool_output(fake.requests[1])["error"]
    assert error["code"] == "UNKNOWN_TOOL" and "query_metadata_sql" in error["message"]


def test_parallel_calls_of_one_round_run_concurrently(fake, echo_engine):
    slow = json.dumps({"sleep_ms": 400, "fail_with": "", "message": ""})
    fake.add(
        fake_chat.tool_calls(("misbehave", slow), ("misbehave", slow), ("echo", '{"text": "rápido"}')),
        lambda body: fake_chat.text("listo"),
    )
    started = time.perf_counter()
    result, events = ask(echo_engine, "tres cosas a la vez")
    elapsed = time.perf_counter() - started
    assert elapsed < 0.75, f"two 400 ms calls took {elapsed:.2f}s in total: not concurrent"
    kinds = [type(e).__name__ for e in events if isinstance(e, ToolCallStarted | ToolCallFinished)]
    assert kinds[:3] == ["ToolCallStarted"] * 3
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    assert finished[0].name == "echo"  # notices in completion order ...
    calls = fake.requests[1]["messages"][-4]["tool_calls"]
    assert [m["tool_call_id"] for m in tool_messages(fake.requests[1])] == [c["id"] for c in calls]  # ... messages not
    assert result.tools_used == ["misbehave", "misbehave", "echo"]


def test_requests_of_one_answer_reuse_the_connection(fake, echo_engine):
    fake.add(
        fake_chat.tool_calls(("echo", '{"text": "a"}')),
        fake_chat.tool_calls(("echo", '{"text": "b"}')),
        fake_chat.text("ok"),
        fake_chat.text("otra"),
    )
    ask(echo_engine, "uno")
    ask(echo_engine, "dos")
    assert len(fake.peers) == 4 and len(set(fake.peers)) == 1  # no new TCP (TLS, in production) per request


def test_calls_without_ids_get_ids_the_api_accepts(fake, echo_engine):
    fake.add(
        fake_chat.tool_calls(("echo", '{"text": "a"}'), ("echo", '{"text": "b"}'), with_ids=False),
        lambda body: fake_chat.text("ok"),
    )
    ask(echo_engine, "dos ecos")
    calls = fake.requests[1]["messages"][-3]["tool_calls"]
    ids = [c["id"] for c in calls]
    assert all(ids) and len(set(ids)) == 2
    assert [m["tool_call_id"] for m in tool_messages(fake.requests[1])] == ids
    assert [json.loads(m["content"]) for m in tool_messages(fake.requests[1])] == [{"text": "a"}, {"text": "b"}]


def test_history_is_sent_and_text_before_tool_calls_is_kept(fake, echo_engine):
    fake.add(
        fake_chat.tool_calls(("echo", '{"text": "x"}'), content="Voy a consultar. "),
        lambda body: fake_chat.text("Listo."),
    )
    history = [
        {"role": "user", "content": "hola"},
        {"role": "assistant", "content": "¿Qué necesitás?"},
        {"role": "user", "content": "un eco"},
    ]
    answer = echo_engine.ask(history)
    assert fake.requests[0]["messages"][1:] == history
    assert answer.text == "Voy a consultar. Listo."
    assert fake.requests[1]["messages"][-2]["content"] == "Voy a consultar. "


# ---------------------------------------------------------------- errors


def test_missing_key_is_a_config_error_and_sends_nothing(fake, dispatcher):
    with (
        ChatEngine(dispatcher, ChatSettings(base_url=fake.base_url, api_key="")) as engine,
        pytest.raises(ChatError, match="OPENAI_API_KEY") as err,
    ):
        ask(engine, "hola")
    assert err.value.kind == "config" and fake.requests == []


def test_unreachable_endpoint(dispatcher):
    settings = ChatSettings(base_url=f"http://127.0.0.1:{free_port()}/v1", api_key=API_KEY, connect_timeout=2)
    with ChatEngine(dispatcher, settings) as engine, pytest.raises(ChatError, match="cannot reach") as err:
        ask(engine, "hola")
    assert err.value.kind == "unreachable"


def test_wrong_key_is_a_model_error_without_the_key(fake, dispatcher):
    settings = ChatSettings(base_url=fake.base_url, api_key="sk-wrong-key-abcdefghijkl")
    with ChatEngine(dispatcher, settings) as engine, pytest.raises(ChatError) as err:
        ask(engine, "hola")
    assert err.value.kind == "model" and err.value.status == 401
    assert "Incorrect API key" in str(err.value) and "sk-wrong-key" not in str(err.value)


@pytest.mark.parametrize(
    ("reply", "kind", "text"),
    [
        (fake_chat.http_error(404, "The model `nope` does not exist", code="model_not_found"), "model", "nope"),
        (fake_chat.http_error(500, "The server had an error", "server_error"), "model", "HTTP 500"),
        (fake_chat.stream_error("overloaded"), "model", "overloaded"),
        (fake_chat.Reply(fake_chat.text("cortado").chunks[:2], cut=True, done=False), "protocol", "ended"),
    ],
)
def test_model_errors_are_clear(fake, echo_engine, reply, kind, text):
    fake.add(reply)
    with pytest.raises(ChatError, match=text) as err:
        ask(echo_engine, "hola")
    assert err.value.kind == kind


def test_error_in_a_later_round_still_raises(fake, echo_engine):
    fake.add(fake_chat.tool_calls(("echo", '{"text": "x"}')), fake_chat.http_error(429, "Rate limit reached"))
    with pytest.raises(ChatError, match="Rate limit"):
        ask(echo_engine, "hola")


USER = {"role": "user", "content": "hola"}


@pytest.mark.parametrize(
    ("messages", "needle"),
    [
        ([], "non-empty list"),
        ("hola", "non-empty list"),
        ([{"role": "user"}], "content"),
        ([{"role": "robot", "content": "x"}], "role"),
        ([{"role": "user", "content": "  "}], "content"),
        ([USER, {"role": "assistant", "content": "b"}], "last message"),
        ([{**USER, "stream": True}], "unknown fields: stream"),
        ([{"role": "assistant"}, USER], "content or tool_calls"),
        ([{"role": "assistant", "content": None, "tool_calls": []}, USER], "tool_calls"),
        (
            [{"role": "assistant", "content": None, "tool_calls": [{"id": "c", "function": {"name": "x"}}]}, USER],
            "tool_calls[0]",
        ),
        ([{"role": "tool", "content": "{}"}, USER], "tool_call_id"),
        ([{**USER, "name": 3}], "name"),
    ],
)
def test_bad_histories_are_rejected(messages, needle):
    with pytest.raises(ValueError) as err:
        check_messages(messages)
    assert needle in str(err.value)


def test_an_answers_messages_can_be_replayed(fake, echo_engine):
    fake.add(fake_chat.tool_calls(("echo", '{"text": "x"}')), fake_chat.text("uno"), fake_chat.text("dos"))
    first, _ = ask(echo_engine, "primera")
    history = [{"role": "user", "content": "primera"}, *first.messages, {"role": "user", "content": "segunda"}]
    assert check_messages(history) == history
    assert echo_engine.ask(history).text == "dos"
    assert fake.requests[2]["messages"][1:] == history


def test_an_abandoned_answer_is_logged(fake, echo_engine, caplog):
    fake.add(fake_chat.text("una respuesta en muchos pedazos", pieces=10))
    events = echo_engine.stream([USER])
    with caplog.at_level(logging.INFO, logger="chat.engine"):
        assert isinstance(next(events), TextDelta)
        events.close()
    assert any("abandoned by the caller" in r.getMessage() for r in caplog.records)


def test_fake_rejects_requests_the_openai_types_do_not_accept():
    assert fake_chat.check_request({"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True}) == []
    assert fake_chat.check_request({"model": "m", "messages": [{"role": "usr", "content": "x"}], "stream": True})
    assert fake_chat.check_request({"model": "m", "messages": [], "stream": True, "bogus": 1})
    bad_tool = {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "x"}}]}
    assert fake_chat.check_request({"model": "m", "messages": [bad_tool], "stream": True})
