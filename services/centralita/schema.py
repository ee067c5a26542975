"""JSON schemas for LLM tools, generated from protobuf descriptors and their comments.

One neutral ``ToolSpec`` per tool RPC (``centralita.tool_spec``, with its Realtime/Chat/MCP envelopes,
re-exported here); descriptors are read through ``centralita.descriptors``. The mapping follows ProtoJSON so
that ``json_format.ParseDict`` accepts what the model sends, after ``centralita.arguments`` has undone the two
shapes JSON Schema forces on us: lower-case enum names and oneofs as a discriminated object
(``{"kind": member, member: value}``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor

from centralita.descriptors import (
    DEFAULT_DESCRIPTOR_SET,
    SCALARS,
    UNSUPPORTED,
    WELL_KNOWN,
    CommentIndex,
    enum_names,
    enum_value_name,
    field_options,
    is_map,
    is_repeated,
    load_descriptor_set,
    pool_from_descriptor_set,
    real_oneof,
    tool_name,
    tool_options,
)
from centralita.tool_spec import FORMATTERS, ToolSpec, chat_tool, mcp_tool, realtime_tool
from centralita.tools.v1 import tools_pb2

__all__ = [
    "DEFAULT_DESCRIPTOR_SET",
    "FORMATTERS",
    "MAX_DEPTH",
    "CommentIndex",
    "SchemaError",
    "ToolSpec",
    "chat_tool",
    "enum_names",
    "enum_value_name",
    "load_descriptor_set",
    "mcp_tool",
    "message_schema",
    "pool_from_descriptor_set",
    "realtime_tool",
    "tool_name",
    "tool_spec",
    "tools_from_descriptor_set",
]

MAX_DEPTH = 8  # OpenAI strict allows 10 levels of nesting; recursion is cut before that.
_T = FieldDescriptor


class SchemaError(ValueError):
    """The proto uses something a tool schema cannot express; the message names the field."""


# ---------------------------------------------------------------- schemas


def message_schema(desc: Descriptor, comments: CommentIndex | None = None, *, strict: bool = False) -> dict[str, Any]:
    """JSON schema of a request message (an object with ``additionalProperties: false``)."""
    return _SchemaBuilder(comments if comments is not None else CommentIndex([]), strict).message(
        desc, depth=0, stack=()
    )


class _SchemaBuilder:
    def __init__(self, comments: CommentIndex, strict: bool) -> None:
        self.comments = comments
        self.strict = strict

    def message(self, desc: Descriptor, depth: int, stack: tuple[str, ...]) -> dict[str, Any]:
        if depth > MAX_DEPTH:
            raise SchemaError(f"{desc.full_name}: nesting deeper than {MAX_DEPTH} levels")
        stack = (*stack, desc.full_name)
        properties: dict[str, Any] = {}
        required: list[str] = []
        seen_oneofs: set[str] = set()
        for fd in desc.fields:
            oneof = real_oneof(fd)
            if oneof is not None:
                if oneof.name in seen_oneofs:
                    continue
                seen_oneofs.add(oneof.name)
                properties[oneof.name] = self._nullable_union(self.oneof(oneof, depth, stack))
                if self.strict:
                    required.append(oneof.name)
                continue
            if fd.type == _T.TYPE_MESSAGE and not is_map(fd) and stack.count(fd.message_type.full_name) >= 2:
                continue  # recursion: a second level of the same message is as deep as a tool needs
            schema = self.field(fd, depth, stack)
            has_presence = fd.has_presence and not is_repeated(fd)
            properties[fd.name] = self._nullable(schema, has_presence and self.strict)
            if self.strict or not (has_presence or is_repeated(fd)):
                required.append(fd.name)
        schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
        if required:
            schema["required"] = required
        elif self.strict:
            schema["required"] = []
        text = self.comments.get(desc.full_name) if depth > 0 else ""
        if text:
            schema["description"] = text
        return schema

    def oneof(self, oneof, depth: int, stack: tuple[str, ...]) -> dict[str, Any]:
        """A discriminated object: one branch per member, ``kind`` naming it (never a top-level union)."""
        branches = []
        for m in oneof.fields:
            branches.append(
                {
                    "type": "object",
                    "properties": {"kind": {"type": "string", "enum": [m.name]}, m.name: self.field(m, depth, stack)},
                    "required": ["kind", m.name],
                    "additionalProperties": False,
                }
            )
        names = ", ".join(m.name for m in oneof.fields)
        text = self.comments.get(f"{oneof.containing_type.full_name}.{oneof.name}")
        return {"anyOf": branches, "description": (text + "\n" if text else "") + f"Exactly one of: {names}."}

    def field(self, fd: FieldDescriptor, depth: int, stack: tuple[str, ...]) -> dict[str, Any]:
        if is_map(fd):
            schema = self._map(fd, depth, stack)
        elif is_repeated(fd):
            schema = {"type": "array", "items": self._single(fd, depth, stack)}
        else:
            schema = self._single(fd, depth, stack)
        text = self.comments.get(fd.full_name)
        if text:
            schema = {**schema, "description": text}
        return schema

    def _map(self, fd: FieldDescriptor, depth: int, stack: tuple[str, ...]) -> dict[str, Any]:
        key_fd = fd.message_type.fields_by_name["key"]
        value_fd = fd.message_type.fields_by_name["value"]
        value = self._single(value_fd, depth, stack)
        if not self.strict:
            schema: dict[str, Any] = {"type": "object", "additionalProperties": value}
            if key_fd.type != _T.TYPE_STRING:
                schema["propertyNames"] = {"pattern": "^-?[0-9]+$" if key_fd.type != _T.TYPE_BOOL else "^(true|false)$"}
            return schema
        # OpenAI strict cannot express open maps: an array of {key, value} pairs instead.
        return {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"key": self._single(key_fd, depth, stack), "value": value},
                "required": ["key", "value"],
                "additionalProperties": False,
            },
        }

    def _single(self, fd: FieldDescriptor, depth: int, stack: tuple[str, ...]) -> dict[str, Any]:
        if fd.type == _T.TYPE_ENUM:
            return {"type": "string", "enum": enum_names(fd.enum_type)}
        if fd.type in (_T.TYPE_MESSAGE, _T.TYPE_GROUP):
            full = fd.message_type.full_name
            if full in WELL_KNOWN:
                return dict(WELL_KNOWN[full])
            if full in UNSUPPORTED:
                raise SchemaError(f"{fd.full_name}: {full} cannot be expressed in a tool schema; use typed fields")
            return self.message(fd.message_type, depth + 1, stack)
        schema = dict(SCALARS[fd.type])
        opts = field_options(fd)
        if opts.HasField("minimum"):
            schema["minimum"] = opts.minimum
        if opts.HasField("maximum"):
            schema["maximum"] = opts.maximum
        if opts.HasField("max_length") and not self.strict:
            schema["maxLength"] = opts.max_length  # not in OpenAI strict's keywords; the dispatcher checks it
        if opts.format:
            schema["format"] = opts.format
        return schema

    def _nullable_union(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {**schema, "anyOf": [*schema["anyOf"], {"type": "null"}]} if self.strict else schema

    @staticmethod
    def _nullable(schema: dict[str, Any], nullable: bool) -> dict[str, Any]:
        if not nullable:
            return schema
        kind = schema.get("type")
        if kind == "object" or kind == "array" or kind is None:
            extra = {k: schema[k] for k in ("description",) if k in schema}
            inner = {k: v for k, v in schema.items() if k != "description"}
            return {"anyOf": [inner, {"type": "null"}], **extra}
        out = {**schema, "type": [kind, "null"]}
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        return out


# ---------------------------------------------------------------- tools from descriptors


def tool_spec(method: MethodDescriptor, comments: CommentIndex, options: tools_pb2.ToolOptions) -> ToolSpec:
    return ToolSpec(
        name=tool_name(method.name),
        description=comments.get(method.full_name),
        method=f"/{method.containing_service.full_name}/{method.name}",
        request_type=method.input_type.full_name,
        response_type=method.output_type.full_name,
        parameters=message_schema(method.input_type, comments, strict=False),
        strict_parameters=message_schema(method.input_type, comments, strict=True),
        timeout_ms=options.timeout_ms,
        kind="action" if options.kind == tools_pb2.TOOL_KIND_ACTION else "query",
        holding_phrase=options.holding_phrase,
    )


def tools_from_descriptor_set(
    fds: descriptor_pb2.FileDescriptorSet | None = None,
    services: Iterable[str] | None = None,
) -> list[ToolSpec]:
    """Every tool RPC of ``services`` (full names; all services when None), in declaration order."""
    fds = fds if fds is not None else load_descriptor_set()
    pool = pool_from_descriptor_set(fds)
    comments = CommentIndex(fds.file)
    wanted = set(services) if services is not None else None
    specs: list[ToolSpec] = []
    for fdp in fds.file:
        for svc in fdp.service:
            full = f"{fdp.package}.{svc.name}" if fdp.package else svc.name
            if wanted is not None and full not in wanted:
                continue
            sd = pool.FindServiceByName(full)
            for method in sd.methods:
                options = tool_options(method)
                if options is not None:
                    specs.append(tool_spec(method, comments, options))
    names = [s.name for s in specs]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise SchemaError(f"tool names defined twice: {', '.join(sorted(duplicates))}")
    return specs
