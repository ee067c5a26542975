"""Profiles: the shipped example, selection by dialled number, and loud errors for bad files."""

from __future__ import annotations

import json

import pytest

from call_gateway.profiles import EXAMPLE_PATH, ProfileError, VadSettings, load_profiles, parse_profiles


def test_example_ships_isp_support_as_default_and_a_legal_line() -> None:
    book = load_profiles(EXAMPLE_PATH)
    isp = book.for_exten("3241000752")
    legal = book.for_exten("3241000753")
    assert isp.name == "soporte_isp" and legal.name == "informacion_legal"
    assert book.for_exten(None) is isp and book.for_exten("999") is isp and book.for_exten("") is isp
    assert isp.tools == ("consultar_mikrotik",)
    assert set(legal.tools or ()) == {"query_metadata_sql", "search_content", "get_database_stats"}
    assert "consultar_mikrotik" in isp.instructions and "\n" in isp.instructions  # list of lines joined
    assert (isp.vad.threshold, isp.vad.prefix_padding_ms, isp.vad.silence_duration_ms) == (0.2, 300, 100)
    assert isp.voice == "verse" and isp.greeting and isp.holding_phrase and isp.end_apology


def test_defaults_are_seed_000_thresholds() -> None:
    book = parse_profiles({"profiles": {"a": {"instructions": "x"}}})
    profile = book.for_exten("123")
    assert profile.vad == VadSettings(0.2, 300, 100)
    assert profile.tools is None  # every tool of the dispatcher
    assert profile.vad.turn_detection()["type"] == "server_vad"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"profiles": {}}, "non-empty 'profiles'"),
        ({"profiles": {"a": {"instructions": ""}}}, "non-empty instructions"),
        ({"profiles": {"a": {"instructions": "x", "voise": "verse"}}}, "unknown keys"),
        ({"profiles": {"a": {"instructions": "x"}}, "default": "b"}, "default profile 'b'"),
        ({"profiles": {"a": {"instructions": "x"}}, "numbers": {"1": "b"}}, "undefined profile 'b'"),
        ({"profiles": {"a": {"instructions": "x", "vad": {"threshold": 3}}}}, "between 0 and 1"),
        ({"profiles": {"a": {"instructions": "x", "vad": {"treshold": 0.3}}}}, "vad must be"),
        ({"profiles": {"a": {"instructions": "x", "tools": "consultar_mikrotik"}}}, "list of tool names"),
        ({"profiles": {"a": {"instructions": "x"}}, "extra": 1}, "unknown top-level"),
    ],
)
def test_bad_profiles_are_rejected(raw, message) -> None:
    with pytest.raises(ProfileError, match=message):
        parse_profiles(raw)


def test_load_from_file_errors(tmp_path) -> None:
    with pytest.raises(ProfileError, match="not found"):
        load_profiles(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    with pytest.raises(ProfileError, match="invalid JSON"):
        load_profiles(broken)
    good = tmp_path / "p.json"
    good.write_text(json.dumps({"numbers": {" 100 ": "b"}, "default": "a",
                                "profiles": {"a": {"instructions": "A"}, "b": {"instructions": "B"}}}))
    assert load_profiles(good).for_exten("100").instructions == "B"
