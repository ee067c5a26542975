"""Schemas generated from the protos: the seed tools, the mapping rules, strict form, metaschema."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import jsonschema
import pytest

from centralita.schema import (
    CommentIndex,
    load_descriptor_set,
    message_schema,
    tool_name,
    tools_from_descriptor_set,
)
from centralita_fixtures.echo_service import TEST_PROTOS, compile_protos
from tests.kit.strict_rules import strict_violations

SEED_TOOLS = ["consultar_mikrotik", "get_database_stats", "query_metadata_sql", "search_content"]


def run_cli(*args: str) -> list[dict]:
    out = subprocess.run(
        [sys.executable, "-m", "centralita_suite.cli", "tools", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout)


@pytest.mark.parametrize("fmt", ["realtime", "chat", "mcp"])
@pytest.mark.parametrize("strict", [False, True])
def test_cli_prints_the_four_seed_tools(fmt, strict):
    tools = run_cli("--format", fmt, *(["--strict"] if strict else []))
    if fmt == "realtime":
        names = [t["name"] for t in tools]
        assert all(t["type"] == "function" and "strict" not in t for t in tools)
        schemas = [t["parameters"] for t in tools]
    elif fmt == "chat":
        names = [t["function"]["name"] for t in tools]
        assert all(t["type"] == "function" for t in tools)
        assert all(t["function"].get("strict", False) == strict for t in tools)
        schemas = [t["function"]["parameters"] for t in tools]
    else:
        names = [t["name"] for t in tools]
        schemas = [t["inputSchema"] for t in tools]
    assert sorted(names) == SEED_TOOLS
    for schema in schemas:
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["additionalProperties"] is False
        if strict:
            assert strict_violations(schema) == []


def test_descriptions_come_from_proto_comments():
    tools = {t.name: t for t in tools_from_descriptor_set()}
    assert tools["search_content"].description.startswith("Search the FULL TEXT of normativas")
    assert "DO NOT use this for content" in tools["query_metadata_sql"].description
    filters = tools["query_metadata_sql"].parameters["properties"]["filters"]
    assert filters["properties"]["type"]["enum"] == ["ordenanza", "decreto", "resolucion", "disposicion", "convenio"]
    assert "Carlos Tejedor" in filters["properties"]["municipality"]["description"]
    assert tools["consultar_mikrotik"].parameters["required"] == ["question"]
    assert tools["get_database_stats"].parameters == {"type": "object", "properties": {}, "additionalProperties": False}


def test_changing_a_proto_comment_changes_the_description(tmp_path):
    scratch = tmp_path / "protos"
    shutil.copytree(TEST_PROTOS, scratch)
    proto = scratch / "echo" / "v1" / "echo.proto"
    before = tools_from_descriptor_set(load_descriptor_set(compile_protos(tmp_path / "a", scratch)))
    proto.write_text(proto.read_text().replace("// Echo the text back.", "// Repite el texto tal cual."))
    proto.write_text(proto.read_text().replace("// Text to echo.", "// Texto a repetir."))
    after = tools_from_descriptor_set(load_descriptor_set(compile_protos(tmp_path / "b", scratch)))
    echo_before = next(t for t in before if t.name == "echo")
    echo_after = next(t for t in after if t.name == "echo")
    assert echo_before.description.startswith("Echo the text back.")
    assert echo_after.description.startswith("Repite el texto tal cual.")
    assert echo_after.parameters["properties"]["text"]["description"] == "Texto a repetir."


def test_tool_names_are_snake_case_rpc_names():
    assert tool_name("ConsultarMikrotik") == "consultar_mikrotik"
    assert tool_name("QueryMetadataSql") == "query_metadata_sql"
    assert tool_name("SearchContent") == "search_content"
    assert tool_name("GetDatabaseStats") == "get_database_stats"
    assert tool_name("GetHTTPStatus") == "get_http_status"


@pytest.fixture(scope="module")
def edge(echo_build):
    pb2, _, descriptor_set = echo_build
    comments = CommentIndex(load_descriptor_set(descriptor_set).file)
    desc = pb2.DESCRIPTOR.message_types_by_name["EdgeCasesRequest"]
    return message_schema(desc, comments), message_schema(desc, comments, strict=True)


def test_edge_case_mapping_plain(edge):
    plain, _ = edge
    p = plain["properties"]
    assert p["big"]["type"] == "integer" and p["ubig"] == {**p["ubig"], "type": "integer", "minimum": 0}
    assert p["small"]["minimum"] == -5 and p["small"]["maximum"] == 5
    assert p["colour"]["enum"] == ["red", "dark_blue"]  # no COLOUR_UNSPECIFIED, prefix stripped
    assert p["colours"]["type"] == "array" and p["colours"]["items"]["enum"] == ["red", "dark_blue"]
    assert p["tags"] == {"type": "array", "items": {"type": "string"}, "description": "Repeated strings."}
    assert p["counts"]["type"] == "object" and p["counts"]["additionalProperties"]["type"] == "integer"
    assert p["names"]["propertyNames"] == {"pattern": "^-?[0-9]+$"}
    assert p["when"]["format"] == "date-time"
    assert p["how_long"]["pattern"] == r"^-?[0-9]{1,11}(\.[0-9]{1,9})?s$"
    assert p["wrapped"]["type"] == "string"
    assert p["inner"]["properties"]["child"]["type"] == "object"  # one level of recursion kept
    assert "child" not in p["inner"]["properties"]["child"]["properties"]  # and cut after that
    branches = p["scope"]["anyOf"]
    assert [b["properties"]["kind"]["enum"] for b in branches] == [["municipality"], ["region_id"]]
    assert branches[1]["required"] == ["kind", "region_id"]
    assert "municipality" not in p and "region_id" not in p  # oneof members live inside their object
    # implicit-presence scalars are required; optional, repeated, map, message and oneof are not
    assert plain["required"] == ["big", "ubig", "ratio", "flag", "colour"]
    jsonschema.Draft202012Validator.check_schema(plain)


def test_edge_case_mapping_strict(edge):
    _, strict = edge
    assert strict_violations(strict) == []
    p = strict["properties"]
    assert p["small"]["type"] == ["integer", "null"]
    assert p["maybe_colour"]["enum"] == ["red", "dark_blue", None]
    assert p["counts"]["type"] == "array"  # open maps are not expressible in strict mode
    assert p["counts"]["items"]["required"] == ["key", "value"]
    assert p["inner"]["anyOf"][1] == {"type": "null"}
    jsonschema.Draft202012Validator.check_schema(strict)


def test_not_a_tool_rpc_is_not_offered(echo_build):
    _, _, descriptor_set = echo_build
    names = [t.name for t in tools_from_descriptor_set(load_descriptor_set(descriptor_set), ["echo.v1.EchoService"])]
    assert names == ["echo", "edge_cases", "misbehave"]
