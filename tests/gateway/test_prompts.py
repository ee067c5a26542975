"""The shipped spoken fallbacks: files match their manifest, every configured profile has its own
prompt, regeneration is byte-identical with the recorded espeak-ng/sox versions, the runtime refuses
damaged files and needs no speech synthesiser."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import sys

import pytest

from call_gateway.fallbacks import resolve_apologies
from call_gateway.prompts import PACKAGE_DIR, PromptError, PromptLibrary, normalise
from call_gateway.prompts.generate import (
    REPO_PROFILES,
    build_manifest,
    default_profile_files,
    tool_versions,
)
from centralita.profiles import DEFAULT_END_APOLOGY, Profile, load_profiles
from tests.helpers import REPO_ROOT, require

MANIFEST = json.loads((PACKAGE_DIR / "manifest.json").read_text(encoding="utf-8"))


def test_every_shipped_file_matches_its_manifest_entry_and_nothing_else_is_shipped():
    files = {e["file"] for e in MANIFEST["prompts"]}
    assert files == {p.name for p in PACKAGE_DIR.glob("*.ulaw")}
    for e in MANIFEST["prompts"]:
        data = (PACKAGE_DIR / e["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == e["sha256"] and len(data) == e["bytes"], e["file"]
        assert e["duration_ms"] == len(data) // 8
        assert {"text", "voice", "espeak_ng", "sox"} <= set(e) and e["voice"].startswith("es")


def test_the_audio_is_speech_at_telephone_level_not_silence():
    for e in MANIFEST["prompts"]:
        data = (PACKAGE_DIR / e["file"]).read_bytes()
        assert 2.0 < len(data) / 8000 < 12.0, e["file"]
        # u-law: 0xFF/0x7F are zero; loud samples have a small magnitude code (byte & 0x7F)
        loud = sum(1 for b in data if (b & 0x7F) < 0x30)
        quiet = sum(1 for b in data if (b & 0x7F) >= 0x70)
        assert loud > len(data) * 0.05, f"{e['file']}: too quiet"
        assert quiet > len(data) * 0.05, f"{e['file']}: no pauses at all"
        assert data[-160:] == b"\xff" * 160 or max(0x7F - (b & 0x7F) for b in data[-160:]) < 4, (
            f"{e['file']}: does not end in silence (the hangup would cut a word)"
        )


def test_every_configured_profile_has_its_own_prompt_and_the_generic_one_exists():
    lib = PromptLibrary.load()
    assert normalise(lib.generic.text) == normalise(DEFAULT_END_APOLOGY)
    files = default_profile_files()
    assert REPO_PROFILES in files and len(files) == 2
    for path in files:
        for name, profile in load_profiles(path).profiles.items():
            prompt = lib.for_text(profile.end_apology)
            assert prompt is not None, f"{path.name}: profile {name} has no prompt (run `make prompts`)"
            assert prompt is not lib.generic


def test_regenerating_gives_the_same_bytes_with_the_recorded_tool_versions():
    require(bool(shutil.which("espeak-ng") and shutil.which("sox")), "espeak-ng and sox are needed (make setup)")
    versions = tool_versions()
    recorded = {(e["espeak_ng"], e["sox"]) for e in MANIFEST["prompts"]}
    if recorded != {(versions["espeak-ng"], versions["sox"])}:
        pytest.skip(
            f"prompts were rendered with espeak-ng/sox {recorded}, this machine has {versions}: "
            "byte equality is only promised for the same versions"
        )
    manifest, audio = build_manifest(default_profile_files())
    assert manifest == MANIFEST, "manifest.json is stale: run `make prompts`"
    for name, data in audio.items():
        assert (PACKAGE_DIR / name).read_bytes() == data, name
    check = subprocess.run(
        [sys.executable, "-m", "centralita_suite.cli", "prompts", "--check"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stderr


def test_operator_renders_prompts_for_their_own_profiles(tmp_path, caplog):
    require(bool(shutil.which("espeak-ng") and shutil.which("sox")), "espeak-ng and sox are needed (make setup)")
    own = {"profiles": {"tienda": {"instructions": "Atención.", "end_apology": "Perdone, se cortó el sistema."}}}
    (tmp_path / "mine.json").write_text(json.dumps(own), encoding="utf-8")
    out = tmp_path / "prompts"
    cli = [sys.executable, "-m", "centralita_suite.cli", "prompts"]
    done = subprocess.run(
        [*cli, "--profiles", str(tmp_path / "mine.json"), "--out", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "4 prompt(s)" in done.stdout
    caplog.set_level(logging.WARNING, logger="call_gateway.fallbacks")
    book = load_profiles(tmp_path / "mine.json")
    plan = resolve_apologies(book.profiles, "prompt", "es", str(out))
    assert plan["tienda"].prompt.text == "Perdone, se cortó el sistema." and caplog.records == []
    check = subprocess.run(
        [*cli, "--profiles", str(tmp_path / "mine.json"), "--out", str(out), "--check"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stderr
    (out / "manifest.json").write_text("{}", encoding="utf-8")
    stale = subprocess.run(
        [*cli, "--out", str(out), "--check"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert stale.returncode == 1 and "differs from a fresh rendering" in stale.stderr


def test_the_runtime_needs_no_speech_synthesiser(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")

    def no_subprocess(*a, **k):
        raise AssertionError("the runtime ran a program")

    monkeypatch.setattr(subprocess, "run", no_subprocess)
    monkeypatch.setattr(subprocess, "Popen", no_subprocess)
    plan = resolve_apologies({"p": Profile(name="p", instructions="x")}, "prompt", "es")
    assert plan["p"].kind == "prompt" and len(plan["p"].prompt.audio) > 8000


def _copy(tmp_path):
    d = tmp_path / "copy"
    shutil.copytree(PACKAGE_DIR, d, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return d


def test_a_damaged_prompt_file_is_refused_at_start(tmp_path):
    d = _copy(tmp_path)
    victim = d / MANIFEST["prompts"][1]["file"]
    data = bytearray(victim.read_bytes())
    data[1000] ^= 0x01
    victim.write_bytes(bytes(data))
    with pytest.raises(PromptError, match=f"{victim.name}: sha256 differs"):
        resolve_apologies({"p": Profile(name="p", instructions="x")}, "prompt", "es", str(d))


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: (d / "manifest.json").unlink(), "prompt manifest not found"),
        (lambda d: (d / "manifest.json").write_text("[1]"), "not a prompt manifest"),
        (lambda d: (d / MANIFEST["prompts"][0]["file"]).unlink(), "prompt file unreadable"),
        (
            lambda d: (d / "manifest.json").write_text(
                json.dumps({"prompts": [{k: v for k, v in e.items() if k != "generic"} for e in MANIFEST["prompts"]]})
            ),
            "no prompt is marked generic",
        ),
    ],
    ids=["no-manifest", "bad-manifest", "missing-file", "no-generic"],
)
def test_an_unusable_prompt_directory_is_refused_with_a_clear_message(tmp_path, damage, message):
    d = _copy(tmp_path)
    damage(d)
    with pytest.raises(PromptError, match=message):
        PromptLibrary.load(d)


def test_apology_off_or_sounds_do_not_even_read_the_prompts(tmp_path):
    plan = resolve_apologies(
        {"p": Profile(name="p", instructions="x")}, "sound:vm-goodbye", "es", str(tmp_path / "absent")
    )
    assert plan["p"].kind == "ari" and plan["p"].media == "sound:vm-goodbye"
    assert (
        resolve_apologies({"p": Profile(name="p", instructions="x")}, "", "es", str(tmp_path / "absent"))["p"].kind
        == "none"
    )
