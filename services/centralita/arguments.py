"""The model's JSON arguments → request message, and response message → JSON for the model.

Errors are meant to be read by the model, which may then retry: they name the field, what was
wrong and what is accepted. Nothing here raises anything but ``ArgumentError``.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from centralita.descriptors import (
    UNSUPPORTED,
    WELL_KNOWN,
    enum_names,
    enum_value_name,
    field_options,
    is_map,
    real_oneof,
)

_T = FieldDescriptor
_INTS = {
    _T.TYPE_INT32: (-(2**31), 2**31 - 1),
    _T.TYPE_SINT32: (-(2**31), 2**31 - 1),
    _T.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    _T.TYPE_UINT32: (0, 2**32 - 1),
    _T.TYPE_FIXED32: (0, 2**32 - 1),
    _T.TYPE_INT64: (-(2**63), 2**63 - 1),
    _T.TYPE_SINT64: (-(2**63), 2**63 - 1),
    _T.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    _T.TYPE_UINT64: (0, 2**64 - 1),
    _T.TYPE_FIXED64: (0, 2**64 - 1),
}
_INT64 = {_T.TYPE_INT64, _T.TYPE_SINT64, _T.TYPE_SFIXED64, _T.TYPE_UINT64, _T.TYPE_FIXED64}
MAX_ARGUMENT_BYTES = 256 * 1024


class ArgumentError(ValueError):
    """The arguments do not fit the tool's schema; the message is written for the model."""


def parse_arguments(raw: str | bytes | dict[str, Any] | None, message_class: type[Message]) -> Message:
    """Validate and convert the model's arguments (a JSON string or an already parsed object)."""
    if raw is None or (isinstance(raw, str | bytes) and not raw.strip()):
        data: Any = {}
    elif isinstance(raw, str | bytes):
        if len(raw) > MAX_ARGUMENT_BYTES:
            raise ArgumentError(f"arguments are too long ({len(raw)} bytes, at most {MAX_ARGUMENT_BYTES})")
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ArgumentError(f"arguments are not valid JSON ({exc}); send one JSON object") from None
    else:
        data = raw
    if not isinstance(data, dict):
        raise ArgumentError(f"arguments must be a JSON object, got {_json_type(data)}")
    protojson = _message(data, message_class.DESCRIPTOR, "")
    message = message_class()
    try:
        json_format.ParseDict(protojson, message)
    except json_format.ParseError as exc:  # a case the walk above did not foresee: still readable
        raise ArgumentError(f"invalid arguments: {exc}") from None
    return message


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _where(path: str) -> str:
    return f"`{path}`" if path else "the arguments"


def _message(data: Any, desc: Descriptor, path: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ArgumentError(f"{_where(path)} must be an object, got {_json_type(data)}")
    out: dict[str, Any] = {}
    oneofs = {}
    for fd in desc.fields:
        oneof = real_oneof(fd)
        if oneof is not None:
            oneofs[oneof.name] = oneof
    allowed = [*(f.name for f in desc.fields if real_oneof(f) is None), *oneofs]
    for key, value in data.items():
        sub = f"{path}.{key}" if path else key
        if key in oneofs:
            if value is not None:
                member, member_value = _oneof(value, oneofs[key], sub)
                out[member.name] = _field(member_value, member, f"{sub}.{member.name}")
            continue
        fd = desc.fields_by_name.get(key)
        if fd is None or real_oneof(fd) is not None:
            raise ArgumentError(f"unknown field {_where(sub)}; allowed fields: {', '.join(allowed) or 'none'}")
        if value is None:
            continue  # null means "not set" (OpenAI strict sends null for every optional)
        out[key] = _field(value, fd, sub)
    return out


def _oneof(value: Any, oneof, path: str) -> tuple[FieldDescriptor, Any]:
    names = [f.name for f in oneof.fields]
    if not isinstance(value, dict):
        raise ArgumentError(f"{_where(path)} must be an object with `kind` (one of {', '.join(names)})")
    kind = value.get("kind")
    if kind not in names:
        raise ArgumentError(f"{_where(path)}.kind must be one of {', '.join(names)}, got {kind!r}")
    extra = [k for k, v in value.items() if k not in ("kind", kind) and v is not None]
    if extra:
        raise ArgumentError(f"{_where(path)}: only `{kind}` may be given with kind={kind!r}, not {', '.join(extra)}")
    unknown = [k for k in value if k != "kind" and k not in names]
    if unknown:
        raise ArgumentError(f"unknown field in {_where(path)}: {', '.join(unknown)}")
    if value.get(kind) is None:
        raise ArgumentError(f"{_where(path)}.{kind} is missing (kind={kind!r})")
    return next(f for f in oneof.fields if f.name == kind), value[kind]


def _field(value: Any, fd: FieldDescriptor, path: str) -> Any:
    if is_map(fd):
        return _map(value, fd, path)
    if fd.is_repeated:
        if not isinstance(value, list):
            raise ArgumentError(f"{_where(path)} must be an array, got {_json_type(value)}")
        return [_single(item, fd, f"{path}[{i}]") for i, item in enumerate(value) if item is not None]
    return _single(value, fd, path)


def _map(value: Any, fd: FieldDescriptor, path: str) -> dict[str, Any]:
    key_fd = fd.message_type.fields_by_name["key"]
    value_fd = fd.message_type.fields_by_name["value"]
    if isinstance(value, list):  # strict form: [{"key": k, "value": v}, ...]
        pairs = []
        for i, item in enumerate(value):
            if not isinstance(item, dict) or set(item) != {"key", "value"}:
                raise ArgumentError(f"{_where(f'{path}[{i}]')} must be an object with `key` and `value`")
            pairs.append((item["key"], item["value"]))
    elif isinstance(value, dict):
        pairs = list(value.items())
    else:
        raise ArgumentError(f"{_where(path)} must be an object, got {_json_type(value)}")
    out: dict[str, Any] = {}
    for k, v in pairs:
        key = _single(k if key_fd.type == _T.TYPE_STRING else _coerce_key(k, path), key_fd, f"{path}.key")
        out[str(key).lower() if isinstance(key, bool) else str(key)] = _single(v, value_fd, f"{path}[{k!r}]")
    return out


def _coerce_key(key: Any, path: str) -> Any:
    if isinstance(key, str):
        if key in ("true", "false"):
            return key == "true"
        try:
            return int(key)
        except ValueError:
            raise ArgumentError(f"{_where(path)}: map key {key!r} must be a number") from None
    return key


def _single(value: Any, fd: FieldDescriptor, path: str) -> Any:
    kind = fd.type
    if kind == _T.TYPE_ENUM:
        return _enum(value, fd, path)
    if kind in (_T.TYPE_MESSAGE, _T.TYPE_GROUP):
        full = fd.message_type.full_name
        if full in UNSUPPORTED:
            raise ArgumentError(f"{_where(path)}: {full} is not accepted from tools")
        if full in WELL_KNOWN:
            expected = WELL_KNOWN[full]["type"]
            ok = {
                "string": isinstance(value, str),
                "integer": isinstance(value, int) and not isinstance(value, bool),
                "number": isinstance(value, int | float) and not isinstance(value, bool),
                "boolean": isinstance(value, bool),
            }[expected]
            if not ok:
                raise ArgumentError(f"{_where(path)} must be {_article(expected)}, got {_json_type(value)}")
            return value
        return _message(value, fd.message_type, path)
    if kind == _T.TYPE_BOOL:
        if not isinstance(value, bool):
            raise ArgumentError(f"{_where(path)} must be true or false, got {_json_type(value)}")
        return value
    if kind == _T.TYPE_STRING:
        if not isinstance(value, str):
            raise ArgumentError(f"{_where(path)} must be a string, got {_json_type(value)}")
        opts = field_options(fd)
        if opts.HasField("max_length") and len(value) > opts.max_length:
            raise ArgumentError(f"{_where(path)} is too long ({len(value)} characters, at most {opts.max_length})")
        return value
    if kind == _T.TYPE_BYTES:
        if not isinstance(value, str):
            raise ArgumentError(f"{_where(path)} must be a base64 string, got {_json_type(value)}")
        try:
            base64.b64decode(value, validate=True)
        except ValueError:
            raise ArgumentError(f"{_where(path)} is not valid base64") from None
        return value
    if kind in _INTS:
        return _integer(value, fd, path)
    # float / double
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ArgumentError(f"{_where(path)} must be a finite number, got {_json_type(value)}")
    _bounds(value, fd, path)
    return value


def _article(kind: str) -> str:
    return {"integer": "an integer", "string": "a string", "number": "a number", "boolean": "true or false"}[kind]


def _integer(value: Any, fd: FieldDescriptor, path: str) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and fd.type in _INT64 and value.strip().lstrip("-").isdigit():
        value = int(value)  # ProtoJSON writes 64-bit integers as strings
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgumentError(f"{_where(path)} must be an integer, got {_json_type(value)}")
    low, high = _INTS[fd.type]
    if not low <= value <= high:
        raise ArgumentError(f"{_where(path)} is out of range ({low}..{high})")
    _bounds(value, fd, path)
    return value


def _bounds(value: float, fd: FieldDescriptor, path: str) -> None:
    opts = field_options(fd)
    if opts.HasField("minimum") and value < opts.minimum:
        raise ArgumentError(f"{_where(path)} must be at least {opts.minimum}, got {value}")
    if opts.HasField("maximum") and value > opts.maximum:
        raise ArgumentError(f"{_where(path)} must be at most {opts.maximum}, got {value}")


def _enum(value: Any, fd: FieldDescriptor, path: str) -> str:
    enum = fd.enum_type
    accepted = enum_names(enum)
    if isinstance(value, str):
        wanted = value.strip().lower()
        for v in enum.values:
            if wanted in (enum_value_name(enum, v.name), v.name.lower()) and enum_value_name(enum, v.name) in accepted:
                return v.name
    raise ArgumentError(f"{_where(path)} must be one of {', '.join(accepted)}, got {value!r}")


# ---------------------------------------------------------------- response → JSON


def message_to_json(message: Message) -> dict[str, Any]:
    """Proto field names, every field printed, enums as the model's lower-case names, 64-bit ints as numbers."""
    data = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return _relabel(data, message.DESCRIPTOR)


def _relabel(data: dict[str, Any], desc: Descriptor) -> dict[str, Any]:
    for fd in desc.fields:
        if fd.name not in data:
            continue
        value = data[fd.name]
        if is_map(fd):
            value_fd = fd.message_type.fields_by_name["value"]
            data[fd.name] = {k: _relabel_single(v, value_fd) for k, v in value.items()}
        elif fd.is_repeated:
            data[fd.name] = [_relabel_single(v, fd) for v in value]
        else:
            data[fd.name] = _relabel_single(value, fd)
    return data


def _relabel_single(value: Any, fd: FieldDescriptor) -> Any:
    if fd.type == _T.TYPE_ENUM and isinstance(value, str):
        return enum_value_name(fd.enum_type, value)
    if fd.type in _INT64 and isinstance(value, str):
        return int(value)
    if fd.type == _T.TYPE_MESSAGE and isinstance(value, dict) and fd.message_type.full_name not in WELL_KNOWN:
        return _relabel(value, fd.message_type)
    return value
