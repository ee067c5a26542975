"""Profiles: the shipped example, selection by dialled number, and loud errors for bad files."""

from __future__ import annotations

import json

import pytest

from centralita.profiles import EXAMPLE_PATH, ProfileError, TurnDetection, load_profiles, parse_profiles


def test_example_ships_isp_support_as_default_and_a_legal_line() -> None:
    book = load_profiles(EXAMPLE_PATH)
    isp = book.for_exten("3241000752")
    legal = book.for_exten("3241000753")
    assert isp.name == "soporte_isp" and legal.name == "informacion_legal"
    assert book.for_exten(None) is isp and book.for_exten("999") is isp and book.for_exten("") is isp
    assert isp.tools == ("consultar_mikrotik",)
    assert set(legal.tools or ()) == {"query_metadata_sql", "search_content", "get_database_stats"}
    assert "consultar_mikrotik" in isp.instructions and "\n" in isp.instructions  # list of lines joined
    # a paused spoken question must stay one turn (issue 14; tests/gateway/e2e/test_spoken_turns.py)
    assert isp.turn_detection == legal.turn_detection == TurnDetection(type="semantic_vad", eagerness="low")
    assert isp.turn_detection.warning() is None
    assert isp.voice == "verse" and isp.greeting and isp.holding_phrase and isp.end_apology


def test_default_turn_detection_is_semantic_vad_and_the_old_vad_key_keeps_seed_000s_values() -> None:
    book = parse_profiles({"profiles": {"a": {"instructions": "x"}, "b": {"instructions": "y", "vad": {}}}})
    profile = book.for_exten("123")
    assert profile.tools is None  # every tool of the dispatcher
    assert profile.turn_detection.turn_detection() == {
        "type": "semantic_vad",
        "eagerness": "auto",
        "create_response": True,
        "interrupt_response": True,
    }
    seed = book.profiles["b"].turn_detection
    assert seed == TurnDetection(type="server_vad", threshold=0.2, prefix_padding_ms=300, silence_duration_ms=100)
    assert seed.turn_detection() == {
        "type": "server_vad",
        "threshold": 0.2,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 100,
        "create_response": True,
        "interrupt_response": True,
    }
    # with the barge-in gate on, the gateway creates and interrupts responses itself
    assert seed.turn_detection(gated=True)["create_response"] is False
    assert seed.turn_detection(gated=True)["interrupt_response"] is False


def test_seed_000_values_load_with_one_warning_per_profile(caplog) -> None:
    raw = {
        "profiles": {
            "seed": {
                "instructions": "x",
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.2,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": 100,
                },
            },
            "old": {"instructions": "x", "vad": {"threshold": 0.2, "silence_duration_ms": 200}},
            "fine": {
                "instructions": "x",
                "turn_detection": {"type": "server_vad", "silence_duration_ms": 600, "idle_timeout_ms": 8000},
            },
            "semantic": {"instructions": "x", "turn_detection": {"type": "semantic_vad", "eagerness": "high"}},
        }
    }
    with caplog.at_level("WARNING", logger="centralita.profiles"):
        book = parse_profiles(raw, "p.json")
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 2
    assert "profile seed" in warnings[0] and "silence_duration_ms=100" in warnings[0] and "cut off" in warnings[0]
    assert "profile old" in warnings[1] and "silence_duration_ms=200" in warnings[1]
    assert book.profiles["fine"].turn_detection.turn_detection()["idle_timeout_ms"] == 8000
    assert book.profiles["semantic"].turn_detection.eagerness == "high"


@pytest.mark.parametrize(
    ("turn", "message"),
    [
        ({"type": "vad"}, r"'a': turn_detection.type must be one of \['semantic_vad', 'server_vad'\]"),
        ({"eagerness": "low"}, "turn_detection.type must be one of"),
        ({"type": "semantic_vad", "eagerness": "slow"}, "turn_detection.eagerness must be one of"),
        ({"type": "semantic_vad", "threshold": 0.5}, r"semantic_vad has unknown keys \['threshold'\]"),
        ({"type": "server_vad", "eagerness": "low"}, r"server_vad has unknown keys \['eagerness'\]"),
        ({"type": "server_vad", "threshold": 1.5}, "turn_detection.threshold must be a number between 0 and 1"),
        ({"type": "server_vad", "threshold": "0.5"}, "turn_detection.threshold must be a number"),
        ({"type": "server_vad", "silence_duration_ms": 0}, "turn_detection.silence_duration_ms must be an integer"),
        ({"type": "server_vad", "silence_duration_ms": 500.5}, "silence_duration_ms must be an integer"),
        ({"type": "server_vad", "prefix_padding_ms": -1}, "turn_detection.prefix_padding_ms must be"),
        ({"type": "server_vad", "idle_timeout_ms": 100}, "idle_timeout_ms must be an integer between 5000 and 30000"),
        ({"type": "server_vad", "create_response": "yes"}, "turn_detection.create_response must be true or false"),
        ({"type": "semantic_vad", "interrupt_response": 1}, "turn_detection.interrupt_response must be true or"),
        ("semantic_vad", "turn_detection must be an object"),
    ],
)
def test_bad_turn_detection_names_profile_and_key(turn, message) -> None:
    with pytest.raises(ProfileError, match=message):
        parse_profiles({"profiles": {"a": {"instructions": "x", "turn_detection": turn}}}, "p.json")


def test_vad_and_turn_detection_together_or_a_semantic_vad_under_vad_are_rejected() -> None:
    with pytest.raises(ProfileError, match="either turn_detection or vad"):
        parse_profiles({"profiles": {"a": {"instructions": "x", "vad": {}, "turn_detection": {"type": "server_vad"}}}})
    with pytest.raises(ProfileError, match=r"vad\.type must be server_vad"):
        parse_profiles({"profiles": {"a": {"instructions": "x", "vad": {"type": "semantic_vad"}}}})


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
    good.write_text(
        json.dumps(
            {
                "numbers": {" 100 ": "b"},
                "default": "a",
                "profiles": {"a": {"instructions": "A"}, "b": {"instructions": "B"}},
            }
        )
    )
    assert load_profiles(good).for_exten("100").instructions == "B"
