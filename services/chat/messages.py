"""Checks a caller-supplied chat history before it reaches the model (``POST /v1/chat``, the CLI)."""

from __future__ import annotations

from typing import Any

ROLES = {"system", "developer", "user", "assistant", "tool"}

_KEYS = {
    "system": {"role", "content", "name"},
    "developer": {"role", "content", "name"},
    "user": {"role", "content", "name"},
    "assistant": {"role", "content", "name", "tool_calls", "refusal"},
    "tool": {"role", "content", "tool_call_id"},
}


def _check_tool_calls(calls: Any, where: str) -> None:
    if not isinstance(calls, list) or not calls:
        raise ValueError(f"{where}.tool_calls must be a non-empty list")
    for j, call in enumerate(calls):
        fn = call.get("function") if isinstance(call, dict) else None
        if not (
            isinstance(call, dict)
            and set(call) == {"id", "type", "function"}
            and isinstance(call["id"], str)
            and call["type"] == "function"
            and isinstance(fn, dict)
            and set(fn) == {"name", "arguments"}
            and isinstance(fn["name"], str)
            and isinstance(fn["arguments"], str)
        ):
            raise ValueError(
                f'{where}.tool_calls[{j}] must be {{"id", "type": "function", '
                f'"function": {{"name", "arguments"}}}} with string values'
            )


def check_messages(raw: Any) -> list[dict[str, Any]]:
    """Validate caller-supplied history; raises ``ValueError`` with a readable reason.

    Accepts what ``ChatAnswer.messages`` hands back (so a front end can replay it) and plain
    user/assistant turns; anything else is refused before it reaches the model.
    """
    if not isinstance(raw, list) or not raw:
        raise ValueError("messages must be a non-empty list")
    out = []
    for i, msg in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(msg, dict):
            raise ValueError(f"{where} must be an object")
        role = msg.get("role")
        if role not in ROLES:
            raise ValueError(f"{where}.role must be one of {sorted(ROLES)}")
        unknown = set(msg) - _KEYS[role]
        if unknown:
            raise ValueError(f"{where} ({role}) has unknown fields: {', '.join(sorted(map(str, unknown)))}")
        content = msg.get("content")
        if role in {"user", "system", "developer"} and not (isinstance(content, str) and content.strip()):
            raise ValueError(f"{where}.content must be a non-empty string")
        if role == "tool" and not (isinstance(msg.get("tool_call_id"), str) and isinstance(content, str)):
            raise ValueError(f"{where} (tool) needs tool_call_id and content strings")
        if role == "assistant":
            if content is not None and not isinstance(content, str):
                raise ValueError(f"{where}.content must be a string or null")
            if "tool_calls" in msg:
                _check_tool_calls(msg["tool_calls"], where)
            elif not isinstance(content, str):
                raise ValueError(f"{where} (assistant) needs content or tool_calls")
        if "name" in msg and not isinstance(msg["name"], str):
            raise ValueError(f"{where}.name must be a string")
        out.append(dict(msg))
    if out[-1]["role"] not in {"user", "tool"}:
        raise ValueError("the last message must be from the user")
    return out
