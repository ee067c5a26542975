"""The chat's one profile loader (``chat/profiles.py``): the kit's profiles, errors as ``config`` errors."""

from __future__ import annotations

import json

import pytest

from chat.errors import ChatError
from chat.profiles import chat_profile, chat_profiles


def test_the_chat_reads_the_profiles_file_the_gateway_reads(tmp_path, monkeypatch):
    path = tmp_path / "profiles.json"
    raw = {
        "default": "a",
        "profiles": {"a": {"instructions": "Eres A.", "tools": ["buscar"]}, "b": {"instructions": "B"}},
    }
    path.write_text(json.dumps(raw))
    monkeypatch.setenv("PROFILES_PATH", str(path))
    monkeypatch.setenv("CHAT_PROFILE", "a")
    assert sorted(chat_profiles()) == ["a", "b"]
    chosen = chat_profile()
    assert (chosen.name, chosen.instructions, chosen.tools) == ("a", "Eres A.", ("buscar",))
    assert chat_profile("b", str(path)).instructions == "B"


def test_an_unknown_profile_or_a_bad_file_is_a_config_error(tmp_path, monkeypatch):
    path = tmp_path / "profiles.json"
    path.write_text(json.dumps({"default": "a", "profiles": {"a": {"instructions": "A"}}}))
    with pytest.raises(ChatError, match=r"profile 'nope' is not defined; available: a") as err:
        chat_profile("nope", str(path))
    assert err.value.kind == "config"
    path.write_text(json.dumps({"default": "a", "profiles": {"a": {"instructions": "A", "voise": "x"}}}))
    monkeypatch.setenv("PROFILES_PATH", str(path))
    with pytest.raises(ChatError, match="unknown keys") as err:
        chat_profiles()
    assert err.value.kind == "config"
