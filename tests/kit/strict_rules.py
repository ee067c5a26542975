"""OpenAI strict-mode rules for tool parameter schemas (Structured Outputs "supported schemas")."""

from __future__ import annotations

from typing import Any

ALLOWED_TYPES = {"string", "number", "boolean", "integer", "object", "array", "null"}
ALLOWED_KEYS = {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "anyOf",
    "description",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "$defs",
    "$ref",
    "const",
    "title",
    "contentEncoding",
}
FORMATS = {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}


def strict_violations(schema: dict[str, Any], path: str = "$", depth: int = 0) -> list[str]:
    problems: list[str] = []
    if depth == 0 and (schema.get("type") != "object" or "anyOf" in schema):
        problems.append(f"{path}: the root must be an object, not a union")
    if depth > 10:
        problems.append(f"{path}: more than 10 levels of nesting")
    for key in schema:
        if key not in ALLOWED_KEYS:
            problems.append(f"{path}: keyword {key!r} is not supported in strict mode")
    types = schema.get("type")
    for t in types if isinstance(types, list) else [types] if types else []:
        if t not in ALLOWED_TYPES:
            problems.append(f"{path}: type {t!r}")
    if "format" in schema and schema["format"] not in FORMATS:
        problems.append(f"{path}: format {schema['format']!r}")
    is_object = types == "object" or (isinstance(types, list) and "object" in types)
    if is_object:
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is not False:
            problems.append(f"{path}: additionalProperties must be false")
        if sorted(schema.get("required", [])) != sorted(props):
            problems.append(f"{path}: every property must be required")
        for name, sub in props.items():
            problems += strict_violations(sub, f"{path}.{name}", depth + 1)
    if "enum" in schema and isinstance(types, list) and "null" in types and None not in schema["enum"]:
        problems.append(f"{path}: a nullable enum must list null")
    if "items" in schema:
        problems += strict_violations(schema["items"], f"{path}[]", depth + 1)
    for i, alt in enumerate(schema.get("anyOf", [])):
        problems += strict_violations(alt, f"{path}|{i}", depth)
    return problems
