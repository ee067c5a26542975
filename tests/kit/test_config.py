"""The environment readers every part uses."""

from __future__ import annotations

import pytest

from centralita.config import ConfigError, env_bool, env_float, env_int, env_list, env_str


def test_readers_take_an_injected_mapping_and_defaults():
    env = {"A": " x ", "N": "7", "F": "1.5", "B": "sí", "E": "", "L": "a, b,,c"}
    assert env_str("A", env=env) == "x"
    assert env_str("MISSING", "d", env=env) == "d"
    assert env_int("N", 0, env=env) == 7 and env_float("F", 0.0, env=env) == 1.5
    assert env_bool("B", False, env=env) is True and env_bool("MISSING", True, env=env) is True
    assert env_int("E", 3, env=env) == 3  # empty means unset


def test_allow_empty_keeps_an_empty_value_as_a_choice():
    assert env_str("E", "default", env={"E": ""}) == "default"
    assert env_str("E", "default", env={"E": "  "}, allow_empty=True) == ""
    assert env_str("E", "default", env={}, allow_empty=True) == "default"


@pytest.mark.parametrize(("reader", "raw"), [(env_int, "3.5"), (env_float, "rápido"), (env_bool, "quizás")])
def test_bad_values_name_the_variable(reader, raw):
    with pytest.raises(ConfigError, match="X="):
        reader("X", None, env={"X": raw})


def test_list(monkeypatch):
    monkeypatch.setenv("CENTRALITA_TEST_LIST", "a, b,,c")
    assert env_list("CENTRALITA_TEST_LIST") == ["a", "b", "c"]
