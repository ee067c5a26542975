"""JSON schemas for LLM tools, generated from protobuf descriptors and their comments.

One neutral ``ToolSpec`` per tool RPC; three thin envelopes (Realtime, Chat Completions, MCP).
The mapping follows ProtoJSON so that ``json_format.ParseDict`` accepts what the model sends, after
``centralita.arguments`` has undone the two shapes JSON Schema forces on us: lower-case enum names
and oneofs as a discriminated object (``{"kind": member, member: value}``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor, MethodDescriptor

from centralita.tools.v1 import tools_pb2

DEFAULT_DESCRIPTOR_SET = Path(__file__).resolve().parent / "tool_descriptors.binpb"
MAX_DEPTH = 8  # OpenAI strict allows 10 levels of nesting; recursion is cut before that.
_INT32 = (-(2**31), 2**31 - 1)
_UINT32 = (0, 2**32 - 1)
_DURATION_PATTERN = r"^-?[0-9]{1,11}(\.[0-9]{1,9})?s$"
_T = FieldDescriptor

# Scalar proto types → JSON schema (ProtoJSON: 64-bit ints are accepted as JSON integers too).
_SCALARS: dict[int, dict[str, Any]] = {
    _T.TYPE_DOUBLE: {"type": "number"},
    _T.TYPE_FLOAT: {"type": "number"},
    _T.TYPE_INT64: {"type": "integer"},
    _T.TYPE_SINT64: {"type": "integer"},
    _T.TYPE_SFIXED64: {"type": "integer"},
    _T.TYPE_UINT64: {"type": "integer", "minimum": 0},
    _T.TYPE_FIXED64: {"type": "integer", "minimum": 0},
    _T.TYPE_INT32: {"type": "integer", "minimum": _INT32[0], "maximum": _INT32[1]},
    _T.TYPE_SINT32: {"type": "integer", "minimum": _INT32[0], "maximum": _INT32[1]},
    _T.TYPE_SFIXED32: {"type": "integer", "minimum": _INT32[0], "maximum": _INT32[1]},
    _T.TYPE_UINT32: {"type": "integer", "minimum": _UINT32[0], "maximum": _UINT32[1]},
    _T.TYPE_FIXED32: {"type": "integer", "minimum": _UINT32[0], "maximum": _UINT32[1]},
    _T.TYPE_BOOL: {"type": "boolean"},
    _T.TYPE_STRING: {"type": "string"},
    _T.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
}

_WRAPPERS = {
    "google.protobuf.DoubleValue": {"type": "number"},
    "google.protobuf.FloatValue": {"type": "number"},
    "google.protobuf.Int64Value": {"type": "integer"},
    "google.protobuf.UInt64Value": {"type": "integer", "minimum": 0},
    "google.protobuf.Int32Value": {"type": "integer", "minimum": _INT32[0], "maximum": _INT32[1]},
    "google.protobuf.UInt32Value": {"type": "integer", "minimum": 0, "maximum": _UINT32[1]},
    "google.protobuf.BoolValue": {"type": "boolean"},
    "google.protobuf.StringValue": {"type": "string"},
    "google.protobuf.BytesValue": {"type": "string", "contentEncoding": "base64"},
}
_WELL_KNOWN = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": _DURATION_PATTERN},
    "google.protobuf.FieldMask": {"type": "string"},
    **_WRAPPERS,
}
_UNSUPPORTED = {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue", "google.protobuf.Any"}


class SchemaError(ValueError):
    """The proto uses something a tool schema cannot express; the message names the field."""


@dataclass(frozen=True)
class ToolSpec:
    """A tool, independent of who consumes it."""

    name: str
    description: str
    method: str
    request_type: str
    response_type: str
    parameters: dict[str, Any] = field(hash=False)
    strict_parameters: dict[str, Any] = field(hash=False)
    timeout_ms: int = 0
    kind: str = "query"
    holding_phrase: str = ""

    def to_proto(self) -> tools_pb2.Tool:
        import json

        return tools_pb2.Tool(
            name=self.name,
            description=self.description,
            method=self.method,
            request_type=self.request_type,
            response_type=self.response_type,
            parameters_json=json.dumps(self.parameters, ensure_ascii=False),
            strict_parameters_json=json.dumps(self.strict_parameters, ensure_ascii=False),
            timeout_ms=self.timeout_ms,
            kind=tools_pb2.TOOL_KIND_ACTION if self.kind == "action" else tools_pb2.TOOL_KIND_QUERY,
            holding_phrase=self.holding_phrase,
        )

    @classmethod
    def from_proto(cls, tool: tools_pb2.Tool) -> ToolSpec:
        import json

        return cls(
            name=tool.name,
            description=tool.description,
            method=tool.method,
            request_type=tool.request_type,
            response_type=tool.response_type,
            parameters=json.loads(tool.parameters_json),
            strict_parameters=json.loads(tool.strict_parameters_json),
            timeout_ms=tool.timeout_ms,
            kind="action" if tool.kind == tools_pb2.TOOL_KIND_ACTION else "query",
            holding_phrase=tool.holding_phrase,
        )


# ---------------------------------------------------------------- envelopes


def realtime_tool(spec: ToolSpec, strict: bool = False) -> dict[str, Any]:
    """``session.tools`` item of the Realtime API (flat; the API has no ``strict`` flag)."""
    params = spec.strict_parameters if strict else spec.parameters
    return {"type": "function", "name": spec.name, "description": spec.description, "parameters": params}


def chat_tool(spec: ToolSpec, strict: bool = True) -> dict[str, Any]:
    """``tools`` item of Chat Completions."""
    function: dict[str, Any] = {
        "name": spec.name,
        "description": spec.description,
        "parameters": spec.strict_parameters if strict else spec.parameters,
    }
    if strict:
        function["strict"] = True
    return {"type": "function", "function": function}


def mcp_tool(spec: ToolSpec, strict: bool = False) -> dict[str, Any]:
    """``tools/list`` item of MCP."""
    return {
        "name": spec.name,
        "description": spec.description,
        "inputSchema": spec.strict_parameters if strict else spec.parameters,
        "annotations": {"readOnlyHint": spec.kind != "action", "openWorldHint": True},
    }


FORMATTERS = {"realtime": realtime_tool, "chat": chat_tool, "mcp": mcp_tool}


# ---------------------------------------------------------------- naming and comments


def tool_name(rpc_name: str) -> str:
    """``ConsultarMikrotik`` → ``consultar_mikrotik``; ``QueryMetadataSql`` → ``query_metadata_sql``."""
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", rpc_name))
    return words.lower()


def enum_value_name(enum: EnumDescriptor, value_name: str) -> str:
    """``NORMATIVA_TYPE_ORDENANZA`` → ``ordenanza`` (the enum's own prefix stripped, lower case)."""
    prefix = tool_name(enum.name).upper() + "_"
    short = value_name[len(prefix) :] if value_name.startswith(prefix) else value_name
    return short.lower()


def enum_names(enum: EnumDescriptor) -> list[str]:
    """Values offered to the model: every value but a zero ``*_UNSPECIFIED``."""
    return [
        enum_value_name(enum, v.name) for v in enum.values if not (v.number == 0 and v.name.endswith("UNSPECIFIED"))
    ]


def _clean_comment(text: str) -> str:
    """Reflow a proto comment: wrapped lines joined, paragraphs and list items kept."""
    out: list[str] = []
    for raw in text.strip("\n").splitlines():
        line = raw.strip()
        if not line:
            if out and out[-1] != "":
                out.append("")
        elif out and out[-1] != "" and not line.startswith(("- ", "* ")):
            out[-1] = f"{out[-1]} {line}"
        else:
            out.append(line)
    return "\n".join(out).strip()


class CommentIndex:
    """Leading comments of services, methods, messages and fields by full name (from source info)."""

    def __init__(self, files: Iterable[descriptor_pb2.FileDescriptorProto]) -> None:
        self._by_name: dict[str, str] = {}
        for fdp in files:
            self._index_file(fdp)

    def get(self, full_name: str) -> str:
        return self._by_name.get(full_name, "")

    def _index_file(self, fdp: descriptor_pb2.FileDescriptorProto) -> None:
        pkg = f"{fdp.package}." if fdp.package else ""
        names: dict[tuple[int, ...], str] = {}
        for si, svc in enumerate(fdp.service):
            names[(6, si)] = pkg + svc.name
            for mi, m in enumerate(svc.method):
                names[(6, si, 2, mi)] = f"{pkg}{svc.name}.{m.name}"

        def walk(msgs, path: tuple[int, ...], prefix: str) -> None:
            for i, msg in enumerate(msgs):
                full = prefix + msg.name
                names[(*path, i)] = full
                for fi, f in enumerate(msg.field):
                    names[(*path, i, 2, fi)] = f"{full}.{f.name}"
                for oi, o in enumerate(msg.oneof_decl):
                    names[(*path, i, 8, oi)] = f"{full}.{o.name}"
                walk(msg.nested_type, (*path, i, 3), full + ".")

        walk(fdp.message_type, (4,), pkg)
        for loc in fdp.source_code_info.location:
            key = tuple(loc.path)
            if key in names and loc.leading_comments:
                self._by_name[names[key]] = _clean_comment(loc.leading_comments)


# ---------------------------------------------------------------- options


def tool_options(method: MethodDescriptor) -> tools_pb2.ToolOptions | None:
    opts = descriptor_pb2.MethodOptions.FromString(method.GetOptions().SerializeToString())
    if not opts.HasExtension(tools_pb2.tool):
        return None
    tool = opts.Extensions[tools_pb2.tool]
    return tool if tool.enabled else None


@lru_cache(maxsize=8192)
def field_options(fd: FieldDescriptor) -> tools_pb2.FieldOptions:
    """Our field constraints, re-read through the default pool (works on reflected descriptors too)."""
    opts = descriptor_pb2.FieldOptions.FromString(fd.GetOptions().SerializeToString())
    return opts.Extensions[tools_pb2.field] if opts.HasExtension(tools_pb2.field) else tools_pb2.FieldOptions()


@lru_cache(maxsize=1024)
def _proto3_optional_names(desc: Descriptor) -> frozenset[str]:
    dp = descriptor_pb2.DescriptorProto()
    desc.CopyToProto(dp)
    return frozenset(f.name for f in dp.field if f.proto3_optional)


@lru_cache(maxsize=8192)
def real_oneof(fd: FieldDescriptor):
    """The field's oneof unless it is the synthetic one of a proto3 ``optional``."""
    oneof = fd.containing_oneof
    if oneof is None or fd.name in _proto3_optional_names(fd.containing_type):
        return None
    return oneof


def is_map(fd: FieldDescriptor) -> bool:
    return fd.type == _T.TYPE_MESSAGE and fd.message_type.GetOptions().map_entry


def is_repeated(fd: FieldDescriptor) -> bool:
    return fd.is_repeated


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
            if full in _WELL_KNOWN:
                return dict(_WELL_KNOWN[full])
            if full in _UNSUPPORTED:
                raise SchemaError(f"{fd.full_name}: {full} cannot be expressed in a tool schema; use typed fields")
            return self.message(fd.message_type, depth + 1, stack)
        schema = dict(_SCALARS[fd.type])
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


def load_descriptor_set(path: str | Path = DEFAULT_DESCRIPTOR_SET) -> descriptor_pb2.FileDescriptorSet:
    data = Path(path).read_bytes()
    return descriptor_pb2.FileDescriptorSet.FromString(data)


def pool_from_descriptor_set(fds: descriptor_pb2.FileDescriptorSet) -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    for fdp in fds.file:
        pool.Add(fdp)
    return pool


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
