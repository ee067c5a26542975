"""Checks ARI requests against Asterisk's published API docs (swagger 1.1 JSON), read at test time.

The docs are NOT copied into the project: they are read from ``CENTRALITA_ARI_DOCS`` or
``../shared/research/ari-api-docs`` next to the repository. Tests that need them call
``tests.helpers.require_ari_docs()``: a loud skip locally, a failure under CI=true.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from centralita_fixtures.paths import SHARED_DIR

SPEC_FILES = ("channels.json", "bridges.json", "events.json", "sounds.json")


def ari_docs_dir() -> Path:
    return Path(os.environ.get("CENTRALITA_ARI_DOCS", SHARED_DIR / "research" / "ari-api-docs"))


class SpecViolation(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # swagger path, e.g. /channels/{channelId}/answer
    nickname: str
    params: dict  # name -> parameter object
    regex: re.Pattern
    literal_segments: int


class AriSpec:
    def __init__(self, docs_dir: Path) -> None:
        self.ops: list[Operation] = []
        for name in SPEC_FILES:
            doc = json.loads((docs_dir / name).read_text())
            for api in doc["apis"]:
                path = api["path"]
                pattern = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$"
                literal = sum(1 for seg in path.split("/") if seg and not seg.startswith("{"))
                for op in api["operations"]:
                    params = {p["name"]: p for p in op.get("parameters", [])}
                    self.ops.append(
                        Operation(op["httpMethod"].upper(), path, op["nickname"], params, re.compile(pattern), literal)
                    )
        # literal paths win over templates (/channels/externalMedia before /channels/{channelId})
        self.ops.sort(key=lambda o: -o.literal_segments)

    def check(self, method: str, path: str, query: dict[str, str], body: dict | None) -> tuple[Operation, dict]:
        """Returns the matched operation and its path parameters, or raises ``SpecViolation``."""
        if not path.startswith("/ari/"):
            raise SpecViolation(404, f"not an ARI path: {path}")
        rel = path[len("/ari") :]
        matched_path = False
        for op in self.ops:
            m = op.regex.match(rel)
            if not m:
                continue
            matched_path = True
            if op.method != method:
                continue
            self._check_params(op, m.groupdict(), query, body or {})
            return op, m.groupdict()
        if matched_path:
            raise SpecViolation(405, f"{method} not allowed on {rel}")
        raise SpecViolation(404, f"no ARI resource {rel}")

    @staticmethod
    def _check_params(op: Operation, path_params: dict, query: dict, body: dict) -> None:
        supplied = {**{k: v for k, v in body.items() if k != "variables"}, **query}
        for name in supplied:
            p = op.params.get(name)
            if p is None or p["paramType"] not in ("query", "body"):
                if name == "api_key":
                    continue
                raise SpecViolation(400, f"{op.nickname}: unknown parameter {name!r}")
        for name, p in op.params.items():
            if p.get("required") and p["paramType"] == "query" and name not in supplied:
                raise SpecViolation(400, f"{op.nickname}: missing required parameter {name!r}")
            if p.get("required") and p["paramType"] == "path" and not path_params.get(name):
                raise SpecViolation(400, f"{op.nickname}: missing path parameter {name!r}")
            if p.get("required") and p["paramType"] == "body" and name not in body:
                raise SpecViolation(400, f"{op.nickname}: missing body parameter {name!r}")
        for name, value in supplied.items():
            p = op.params[name]
            values = [value] if not p.get("allowMultiple") else str(value).split(",")
            allowed = p.get("allowableValues") or {}
            for v in values:
                if allowed.get("valueType") == "LIST" and str(v) not in allowed["values"]:
                    raise SpecViolation(400, f"{op.nickname}: {name}={v!r} not in {allowed['values']}")
                if allowed.get("valueType") == "RANGE":
                    lo, hi = allowed.get("min"), allowed.get("max")
                    if not _is_int(v) or (lo is not None and int(v) < lo) or (hi is not None and int(v) > hi):
                        raise SpecViolation(400, f"{op.nickname}: {name}={v!r} out of range")
                dtype = p.get("dataType", "string")
                if dtype == "boolean" and str(v).lower() not in ("true", "false"):
                    raise SpecViolation(400, f"{op.nickname}: {name}={v!r} is not a boolean")
                if dtype in ("int", "long") and not _is_int(v):
                    raise SpecViolation(400, f"{op.nickname}: {name}={v!r} is not an integer")


def _is_int(v) -> bool:
    try:
        int(str(v))
        return True
    except ValueError:
        return False
