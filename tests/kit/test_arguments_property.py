"""Property: whatever a generated schema accepts parses into the request; anything else is a
model-readable ArgumentError — never another exception."""

from __future__ import annotations

import contextlib
import json

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from centralita.arguments import ArgumentError, message_to_json, parse_arguments
from centralita.legal.v1 import legal_pb2
from centralita.mikrotik.v1 import mikrotik_pb2
from centralita.schema import message_schema, tools_from_descriptor_set
from tests.kit.schema_strategy import instances

SPECS = {t.request_type: t for t in tools_from_descriptor_set()}
REQUESTS = [
    legal_pb2.QueryMetadataSqlRequest,
    legal_pb2.SearchContentRequest,
    legal_pb2.GetDatabaseStatsRequest,
    mikrotik_pb2.ConsultarMikrotikRequest,
]
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _schema(cls, strict):
    spec = SPECS[cls.DESCRIPTOR.full_name]
    return spec.strict_parameters if strict else spec.parameters


def _valid_case(strict):
    return st.sampled_from(REQUESTS).flatmap(lambda cls: st.tuples(st.just(cls), instances(_schema(cls, strict))))


@SETTINGS
@given(_valid_case(strict=False))
def test_valid_plain_arguments_parse(case):
    cls, args = case
    message = parse_arguments(json.dumps(args), cls)
    assert isinstance(message, cls)
    message_to_json(message)


@SETTINGS
@given(_valid_case(strict=True))
def test_valid_strict_arguments_parse(case):
    cls, args = case
    assert isinstance(parse_arguments(args, cls), cls)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


@SETTINGS
@given(st.sampled_from(REQUESTS), json_values)
def test_anything_else_is_a_readable_error(cls, args):
    try:
        jsonschema.validate(args, _schema(cls, strict=False))
        schema_ok = True
    except jsonschema.ValidationError:
        schema_ok = False
    try:
        parse_arguments(json.dumps(args), cls)
    except ArgumentError as exc:
        assert str(exc)
        assert not schema_ok or "null" in json.dumps(args), f"schema accepted {args!r} but parsing refused: {exc}"
    else:
        # Parsing may accept what the plain schema refuses only where ProtoJSON is lenient on purpose
        # (null as "unset", which strict schemas send for every optional).
        assert schema_ok or "null" in json.dumps(args) or args == {}, f"accepted invalid {args!r}"


@SETTINGS
@given(st.text(max_size=40))
def test_garbage_strings_never_raise_anything_else(raw):
    for cls in REQUESTS:
        with contextlib.suppress(ArgumentError):
            parse_arguments(raw, cls)


def test_schema_is_generated_from_the_same_descriptor_as_the_parser():
    for cls in REQUESTS:
        assert message_schema(cls.DESCRIPTOR)["additionalProperties"] is False


@pytest.mark.parametrize("strict", [False, True])
def test_edge_cases_schema_instances_parse(echo_build, strict):
    """Every hazard of the edge-case proto (oneof, maps, WKTs, 64-bit ints) in both forms."""
    pb2, _, _ = echo_build
    cls = pb2.EdgeCasesRequest
    schema = message_schema(cls.DESCRIPTOR, strict=strict)

    @SETTINGS
    @given(instances(schema))
    def check(args):
        jsonschema.validate(args, schema)
        assert isinstance(parse_arguments(json.dumps(args), cls), cls)

    check()
