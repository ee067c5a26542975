"""The composition root (issue 17): the ``centralita`` command keeps every subcommand, the fixture commands are
the root's (no part registers them), and ``centralita run`` starts without sample data when legal_search is
not installed instead of failing."""

from __future__ import annotations

import argparse
import importlib
import logging
import subprocess
import sys

import pytest

from centralita_suite import cli, supervisor

COMMANDS = {
    "tools",
    "call",
    "serve",
    "run",
    "mikrotik-sim",
    "ingest",
    "legal-sample",
    "legal-migrate",
    "legal-index",
    "prompts",
    "chat",
    "mcp",
}
FIXTURE_COMMANDS = {"mikrotik-sim", "legal-sample"}


def _subcommands(parser: argparse.ArgumentParser) -> set[str]:
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices)


def test_the_centralita_command_keeps_every_subcommand():
    assert _subcommands(cli.build_parser()) == COMMANDS


@pytest.mark.parametrize("part_cli", cli.PART_CLIS)
def test_no_part_registers_a_fixture_command(part_cli):
    parser = argparse.ArgumentParser()
    importlib.import_module(part_cli).register(parser.add_subparsers())
    registered = _subcommands(parser)
    assert registered, f"{part_cli} registered nothing"
    assert not registered & FIXTURE_COMMANDS


def test_the_kit_package_holds_no_composition_root():
    for name in ("cli", "compose", "supervisor"):
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(f"centralita.{name}")


def test_serve_call_gateway_runs_the_root_compose_module():
    assert cli.SERVICES["call_gateway"] == "centralita_suite.compose"


def test_mikrotik_sim_rejects_an_unknown_fault():
    out = subprocess.run(
        [sys.executable, "-m", "centralita_suite.cli", "mikrotik-sim", "--fault", "nonsense"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "invalid choice: 'nonsense'" in out.stderr


def test_run_starts_without_sample_data_when_legal_search_is_missing(monkeypatch, caplog):
    # A blocked import (None in sys.modules) is what an environment without the part raises.
    for name in ("centralita_suite.sample_data", "centralita_fixtures.legal_sample"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setitem(sys.modules, "legal_search.models", None)
    with caplog.at_level(logging.WARNING, logger="centralita.run"):
        supervisor._ensure_sample_data()
    assert "legal_search is not installed: starting without sample data" in caplog.text


def test_run_does_not_hide_other_missing_modules(monkeypatch):
    for name in ("centralita_suite.sample_data", "centralita_fixtures.legal_sample"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setitem(sys.modules, "centralita_fixtures.legal_sample", None)
    with pytest.raises(ModuleNotFoundError):
        supervisor._ensure_sample_data()
