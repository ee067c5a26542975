"""A Hypothesis strategy for instances of the JSON schemas our generator emits (the subset it uses)."""

from __future__ import annotations

import datetime as dt
import string
from typing import Any

from hypothesis import strategies as st

_TEXT = st.text(alphabet=string.ascii_letters + "áéíóúñ ¿?", max_size=30)


def instances(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "anyOf" in schema:
        return st.one_of([instances(alt) for alt in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of([instances({**schema, "type": k}) for k in kind])
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(schema.get("minimum", -(2**63)), schema.get("maximum", 2**63 - 1))
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False, width=32)
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "date":
            return st.dates(dt.date(1900, 1, 1), dt.date(2100, 1, 1)).map(dt.date.isoformat)
        if fmt == "date-time":
            return st.datetimes(dt.datetime(1970, 1, 1), dt.datetime(2100, 1, 1)).map(lambda d: d.isoformat() + "Z")
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True)
        return _TEXT.map(lambda s: s[: schema["maxLength"]] if "maxLength" in schema else s)
    if kind == "array":
        return st.lists(instances(schema["items"]), max_size=3)
    if kind == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        if not props and isinstance(schema.get("additionalProperties"), dict):
            pattern = schema.get("propertyNames", {}).get("pattern")
            keys = st.from_regex(pattern, fullmatch=True).filter(lambda k: abs(int(k)) < 2**31) if pattern else _TEXT
            return st.dictionaries(keys, instances(schema["additionalProperties"]), max_size=3)
        fixed = {k: instances(v) for k, v in props.items() if k in required}
        optional = {k: instances(v) for k, v in props.items() if k not in required}
        return st.fixed_dictionaries(fixed, optional=optional)
    raise ValueError(f"schema construct not covered by the strategy: {schema}")
