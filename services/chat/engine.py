"""Text chat over any OpenAI-compatible Chat Completions endpoint, with the dispatcher's gRPC tools.

One answer = up to ``max_tool_roundtrips`` rounds of tool calls (the calls of one round run
concurrently), then, if the model still wants tools, one last request without tools. Everything is
streamed: ``ChatEngine.stream`` yields text deltas and tool-call notices as they happen and ends
with ``Finished``. A failing tool never ends the answer: its error goes back to the model as the
tool message and the model answers anyway. Endpoint problems raise ``ChatError``.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from centralita.config import env_float, env_int, env_str
from centralita.dispatcher import Dispatcher, ToolResult
from centralita.schema import ToolSpec, chat_tool
from chat.completions import PendingCall, Reply, stream_completion
from chat.errors import ChatError
from chat.messages import check_messages
from chat.profiles import chat_profile

log = logging.getLogger("chat.engine")

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4.1-mini"


@dataclass(frozen=True)
class ChatSettings:
    """Where and how to ask; ``from_env`` reads OPENAI_BASE_URL, OPENAI_API_KEY and CHAT_*."""

    base_url: str = DEFAULT_BASE_URL
    model: str = DEFAULT_MODEL
    api_key: str = field(default="", repr=False)
    max_tool_roundtrips: int = 3
    timeout: float = 60.0
    connect_timeout: float = 5.0
    temperature: float | None = None
    max_tokens: int | None = None

    @classmethod
    def from_env(cls) -> ChatSettings:
        temperature = env_str("CHAT_TEMPERATURE", "")
        max_tokens = env_int("CHAT_MAX_TOKENS", 0)
        return cls(
            base_url=env_str("OPENAI_BASE_URL", DEFAULT_BASE_URL).rstrip("/"),
            model=env_str("CHAT_MODEL", DEFAULT_MODEL),
            api_key=env_str("OPENAI_API_KEY", ""),
            max_tool_roundtrips=max(0, env_int("CHAT_MAX_TOOL_ROUNDTRIPS", 3)),
            timeout=env_float("CHAT_TIMEOUT", 60.0),
            temperature=env_float("CHAT_TEMPERATURE", 0.0) if temperature else None,
            max_tokens=max_tokens or None,
        )


# ---------------------------------------------------------------- events


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolCallStarted:
    round: int
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ToolCallFinished:
    round: int
    call_id: str
    name: str
    ok: bool
    code: str
    elapsed_ms: float
    output: str  # what the model receives (ToolResult.output_json())


@dataclass
class ChatAnswer:
    text: str
    messages: list[dict[str, Any]]  # new messages (assistant, tool, ...) to append to the history
    tools_used: list[str]
    rounds: int
    requests: int
    usage: dict[str, int]
    latency_ms: float
    finish_reason: str | None
    stopped_by_limit: bool = False


@dataclass(frozen=True)
class Finished:
    answer: ChatAnswer


ChatEvent = TextDelta | ToolCallStarted | ToolCallFinished | Finished


# ---------------------------------------------------------------- engine


class ChatEngine:
    """Answers chat histories with the dispatcher's tools. Thread-safe; one HTTP client per engine."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        settings: ChatSettings | None = None,
        *,
        instructions: str = "",
        allow: Iterable[str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.settings = settings or ChatSettings.from_env()
        self.instructions = instructions
        self.allow = tuple(allow) if allow is not None else None
        timeout = httpx.Timeout(self.settings.timeout, connect=self.settings.connect_timeout)
        self._http = httpx.Client(timeout=timeout, transport=transport)

    @classmethod
    def for_profile(
        cls, dispatcher: Dispatcher, profile: str | None = None, settings: ChatSettings | None = None, **kw: Any
    ) -> ChatEngine:
        """Instructions and tool allow-list of a voice profile (default ``CHAT_PROFILE``, the legal one)."""
        chosen = chat_profile(profile)
        return cls(dispatcher, settings, instructions=chosen.instructions, allow=chosen.tools, **kw)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ChatEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def tool_specs(self) -> list[ToolSpec]:
        return self.dispatcher.tools(self.allow)

    # ------------------------------------------------------------ public

    def ask(
        self, messages: Sequence[dict[str, Any]], on_event: Callable[[ChatEvent], None] | None = None
    ) -> ChatAnswer:
        """Run ``stream`` to the end and return the answer (``on_event`` sees every event)."""
        for event in self.stream(messages):
            if on_event is not None:
                on_event(event)
            if isinstance(event, Finished):
                return event.answer
        raise ChatError("the answer ended without a result", "protocol")  # pragma: no cover

    def stream(self, messages: Sequence[dict[str, Any]]) -> Iterator[ChatEvent]:
        """Events of one answer to ``messages`` (history without the system prompt)."""
        started = time.perf_counter()
        if not self.settings.api_key:
            raise ChatError(
                "OPENAI_API_KEY is not set: the chat needs a key for its Chat Completions endpoint", "config"
            )
        history = check_messages(list(messages))
        specs = self.tool_specs()
        tools = [chat_tool(s, strict=True) for s in specs]
        offered = {s.name for s in specs}
        conversation = ([{"role": "system", "content": self.instructions}] if self.instructions else []) + history
        new: list[dict[str, Any]] = []
        usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        tools_used: list[str] = []
        rounds = requests = 0
        text_parts: list[str] = []
        try:
            while True:
                with_tools = tools if rounds < self.settings.max_tool_roundtrips else []
                reply = Reply()
                requests += 1
                for delta in self._complete(conversation + new, with_tools, reply, usage):
                    text_parts.append(delta)
                    yield TextDelta(delta)
                calls = [reply.calls[i] for i in sorted(reply.calls)]
                for i, call in enumerate(calls):  # some compatible servers send no ids; the API needs them
                    call.call_id = call.call_id or f"call_r{rounds + 1}_{i}"
                if calls and with_tools:
                    rounds += 1
                    new.append(_assistant_message(reply.text, calls))
                    for event in self._run_tools(rounds, calls, offered, new):
                        if isinstance(event, ToolCallStarted):
                            tools_used.append(event.name)
                        yield event
                    continue
                if calls:
                    log.warning(
                        "model asked for %d tool call(s) in the final request without tools; ignored", len(calls)
                    )
                new.append({"role": "assistant", "content": reply.text})
                break
        except ChatError as exc:
            log.warning(
                "chat answer failed after %.0f ms (%d requests, tools used: %s): %s",
                (time.perf_counter() - started) * 1000,
                requests,
                ", ".join(tools_used) or "none",
                exc,
            )
            raise
        except GeneratorExit:
            log.info(
                "chat answer abandoned by the caller after %.0f ms (%d requests, tools used: %s)",
                (time.perf_counter() - started) * 1000,
                requests,
                ", ".join(tools_used) or "none",
            )
            raise
        answer = ChatAnswer(
            text="".join(text_parts),
            messages=new,
            tools_used=tools_used,
            rounds=rounds,
            requests=requests,
            usage=usage,
            latency_ms=(time.perf_counter() - started) * 1000,
            finish_reason=reply.finish_reason,
            stopped_by_limit=rounds > 0 and not with_tools,
        )
        log.info(
            "chat answer in %.0f ms: %d round(s), %d request(s), tools used: %s, tokens %d in / %d out%s",
            answer.latency_ms,
            rounds,
            requests,
            ", ".join(tools_used) or "none",
            usage["prompt_tokens"],
            usage["completion_tokens"],
            " (tool limit reached)" if answer.stopped_by_limit else "",
        )
        yield Finished(answer)

    # ------------------------------------------------------------ tools

    def _run_tools(
        self, round_no: int, calls: list[PendingCall], offered: set[str], new: list[dict[str, Any]]
    ) -> Iterator[ChatEvent]:
        """Start every call of the round at once; notices in completion order, messages in call order."""
        results: dict[int, ToolResult] = {}
        futures: dict[concurrent.futures.Future[ToolResult], int] = {}
        for i, call in enumerate(calls):
            if call.name in offered:
                futures[self.dispatcher.submit(call.name, call.arguments)] = i
            else:  # never call what the profile does not allow, even if the dispatcher knows it
                known = ", ".join(sorted(offered)) or "none"
                results[i] = ToolResult.failure(
                    call.name, "UNKNOWN_TOOL", f"unknown tool {call.name!r}; available tools: {known}"
                )
        for call in calls:
            yield ToolCallStarted(round_no, call.call_id, call.name, call.arguments)
        for i in sorted(results):
            yield self._finished(round_no, calls[i], results[i])
        limit = (
            max((s.timeout_ms / 1000 for s in self.tool_specs() if s.name in {c.name for c in calls}), default=0)
            or self.dispatcher.default_timeout
        )
        try:
            for future in concurrent.futures.as_completed(futures, timeout=limit + 5):
                results[futures[future]] = future.result()
                yield self._finished(round_no, calls[futures[future]], results[futures[future]])
        except concurrent.futures.TimeoutError:  # the dispatcher's deadlines should make this unreachable
            for future, i in futures.items():
                if i not in results:
                    future.cancel()
                    results[i] = ToolResult.failure(calls[i].name, "DEADLINE_EXCEEDED", "the tool did not answer")
                    yield self._finished(round_no, calls[i], results[i])
        for i, call in enumerate(calls):
            new.append({"role": "tool", "tool_call_id": call.call_id, "content": results[i].output_json()})

    @staticmethod
    def _finished(round_no: int, call: PendingCall, result: ToolResult) -> ToolCallFinished:
        return ToolCallFinished(
            round_no, call.call_id, call.name, result.ok, result.code, result.elapsed_ms, result.output_json()
        )

    # ------------------------------------------------------------ HTTP

    def _body(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.settings.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools:
            body["tools"] = tools
            body["tool_choice"] = "auto"
            body["parallel_tool_calls"] = True
        if self.settings.temperature is not None:
            body["temperature"] = self.settings.temperature
        if self.settings.max_tokens is not None:
            body["max_completion_tokens"] = self.settings.max_tokens
        return body

    def _complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], reply: Reply, usage: dict[str, int]
    ) -> Iterator[str]:
        """One streamed request: yields text deltas, fills ``reply`` and ``usage``."""
        yield from stream_completion(
            self._http, self.settings.base_url, self.settings.api_key, self._body(messages, tools), reply, usage
        )


def _assistant_message(content: str, calls: list[PendingCall]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": content or None,
        "tool_calls": [
            {"id": c.call_id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in calls
        ],
    }
