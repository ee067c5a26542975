"""Reading protobuf descriptors for tool schemas and arguments: ProtoJSON's type tables, names as the model
sees them, proto comments, our tool/field options and the shape of a field (map, repeated, real oneof).

Shared by ``centralita.schema`` (descriptor → JSON Schema) and ``centralita.arguments`` (the model's JSON
→ a request message), which must agree on every one of these.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor, MethodDescriptor

from centralita.tools.v1 import tools_pb2

DEFAULT_DESCRIPTOR_SET = Path(__file__).resolve().parent / "tool_descriptors.binpb"
INT32 = (-(2**31), 2**31 - 1)
UINT32 = (0, 2**32 - 1)
DURATION_PATTERN = r"^-?[0-9]{1,11}(\.[0-9]{1,9})?s$"
_T = FieldDescriptor

# Scalar proto types → JSON schema (ProtoJSON: 64-bit ints are accepted as JSON integers too).
SCALARS: dict[int, dict[str, Any]] = {
    _T.TYPE_DOUBLE: {"type": "number"},
    _T.TYPE_FLOAT: {"type": "number"},
    _T.TYPE_INT64: {"type": "integer"},
    _T.TYPE_SINT64: {"type": "integer"},
    _T.TYPE_SFIXED64: {"type": "integer"},
    _T.TYPE_UINT64: {"type": "integer", "minimum": 0},
    _T.TYPE_FIXED64: {"type": "integer", "minimum": 0},
    _T.TYPE_INT32: {"type": "integer", "minimum": INT32[0], "maximum": INT32[1]},
    _T.TYPE_SINT32: {"type": "integer", "minimum": INT32[0], "maximum": INT32[1]},
    _T.TYPE_SFIXED32: {"type": "integer", "minimum": INT32[0], "maximum": INT32[1]},
    _T.TYPE_UINT32: {"type": "integer", "minimum": UINT32[0], "maximum": UINT32[1]},
    _T.TYPE_FIXED32: {"type": "integer", "minimum": UINT32[0], "maximum": UINT32[1]},
    _T.TYPE_BOOL: {"type": "boolean"},
    _T.TYPE_STRING: {"type": "string"},
    _T.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
}

WRAPPERS = {
    "google.protobuf.DoubleValue": {"type": "number"},
    "google.protobuf.FloatValue": {"type": "number"},
    "google.protobuf.Int64Value": {"type": "integer"},
    "google.protobuf.UInt64Value": {"type": "integer", "minimum": 0},
    "google.protobuf.Int32Value": {"type": "integer", "minimum": INT32[0], "maximum": INT32[1]},
    "google.protobuf.UInt32Value": {"type": "integer", "minimum": 0, "maximum": UINT32[1]},
    "google.protobuf.BoolValue": {"type": "boolean"},
    "google.protobuf.StringValue": {"type": "string"},
    "google.protobuf.BytesValue": {"type": "string", "contentEncoding": "base64"},
}
WELL_KNOWN = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": DURATION_PATTERN},
    "google.protobuf.FieldMask": {"type": "string"},
    **WRAPPERS,
}
UNSUPPORTED = {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue", "google.protobuf.Any"}


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


# ---------------------------------------------------------------- descriptor sets


def load_descriptor_set(path: str | Path = DEFAULT_DESCRIPTOR_SET) -> descriptor_pb2.FileDescriptorSet:
    data = Path(path).read_bytes()
    return descriptor_pb2.FileDescriptorSet.FromString(data)


def pool_from_descriptor_set(fds: descriptor_pb2.FileDescriptorSet) -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    for fdp in fds.file:
        pool.Add(fdp)
    return pool
