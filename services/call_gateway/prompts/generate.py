"""``centralita prompts`` (``make prompts``): render the spoken fallbacks from the profile texts.

One prompt per distinct ``end_apology`` text of the given profile files, plus the generic apology
(``profiles.DEFAULT_END_APOLOGY``), each rendered by espeak-ng (Latin American Spanish voice) and
converted by sox to raw G.711 u-law 8 kHz mono, normalised to -3 dBFS, with 0.1 s of silence before and
0.4 s after (so that Asterisk's jitter buffer has played the last word before the gateway hangs up).
``sox -R -D`` (repeatable, no dither) and espeak-ng are deterministic: the same tool versions give the
same bytes, which ``--check`` (and the tests) verify against ``manifest.json``.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from centralita.profiles import DEFAULT_END_APOLOGY, EXAMPLE_PATH, load_profiles

from . import BYTES_PER_SECOND, MANIFEST, PACKAGE_DIR, PromptError, normalise, text_key

VOICE = "es-419"
SPEED = 160  # words per minute; espeak-ng's 175 is hurried on a phone line
GAIN_DB = -3
PAD_S = ("0.1", "0.4")
FORMAT = "raw G.711 u-law, 8000 Hz, mono (no header)"
REPO_PROFILES = PACKAGE_DIR.parents[2] / "deploy" / "k8s" / "base" / "profiles.json"


def default_profile_files() -> list[Path]:
    """The profiles this repository configures: the shipped example and the Kubernetes ConfigMap."""
    return [p for p in (EXAMPLE_PATH, REPO_PROFILES) if p.is_file()]


def tool_versions() -> dict[str, str]:
    """espeak-ng and sox versions (the bytes depend on them); PromptError when either is missing."""
    versions = {}
    for tool, args, pattern in (
        ("espeak-ng", ["--version"], r"text-to-speech:\s*(\S+)"),
        ("sox", ["--version"], r"SoX v(\S+)"),
    ):
        if shutil.which(tool) is None:
            raise PromptError(
                f"{tool} not found: install it (Debian: apt-get install espeak-ng sox) to "
                "generate prompts; the gateway itself never needs it"
            )
        out = subprocess.run([tool, *args], capture_output=True, text=True, check=False).stdout
        m = re.search(pattern, out)
        versions[tool] = m.group(1) if m else out.strip()[:40]
    return versions


def render(text: str, voice: str = VOICE, speed: int = SPEED) -> bytes:
    """The prompt's audio: raw u-law 8 kHz mono bytes."""
    with tempfile.TemporaryDirectory(prefix="centralita-prompt-") as tmp:
        wav, raw = Path(tmp) / "speech.wav", Path(tmp) / "speech.ulaw"
        _run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), "--stdin"], normalise(text))
        _run(
            [
                "sox",
                "-R",
                "-D",
                str(wav),
                "-r",
                "8000",
                "-c",
                "1",
                "-e",
                "u-law",
                "-t",
                "raw",
                str(raw),
                "gain",
                "-n",
                str(GAIN_DB),
                "pad",
                *PAD_S,
            ],
            None,
        )
        return raw.read_bytes()


def _run(cmd: list[str], stdin: str | None) -> None:
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise PromptError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.strip()[:300]}")


def collect_texts(profile_files: Iterable[Path]) -> list[tuple[str, list[str]]]:
    """(text, profiles using it): the generic apology first, then each distinct profile text."""
    texts: dict[str, tuple[str, list[str]]] = {normalise(DEFAULT_END_APOLOGY): (DEFAULT_END_APOLOGY, [])}
    for path in profile_files:
        for name, profile in load_profiles(path).profiles.items():
            entry = texts.setdefault(normalise(profile.end_apology), (profile.end_apology, []))
            entry[1].append(f"{Path(path).name}:{name}")
    return [(normalise(text), owners) for text, owners in texts.values()]


def build_manifest(
    profile_files: Iterable[Path], voice: str = VOICE, speed: int = SPEED
) -> tuple[dict, dict[str, bytes]]:
    """The manifest and the audio of every prompt (nothing written)."""
    versions = tool_versions()
    entries, audio = [], {}
    for i, (text, owners) in enumerate(collect_texts(profile_files)):
        name = f"end_apology-{text_key(text)}"
        data = render(text, voice, speed)
        audio[f"{name}.ulaw"] = data
        entry = {
            "name": name,
            "file": f"{name}.ulaw",
            "kind": "end_apology",
            "text": text,
            "voice": voice,
            "speed_wpm": speed,
            "espeak_ng": versions["espeak-ng"],
            "sox": versions["sox"],
            "bytes": len(data),
            "duration_ms": len(data) * 1000 // BYTES_PER_SECOND,
            "sha256": hashlib.sha256(data).hexdigest(),
            "profiles": owners,
        }
        if i == 0:
            entry["generic"] = True
        entries.append(entry)
    manifest = {
        "format": FORMAT,
        "generator": "centralita prompts (call_gateway/prompts/generate.py)",
        "gain_dbfs": GAIN_DB,
        "pad_seconds": [float(p) for p in PAD_S],
        "prompts": entries,
    }
    return manifest, audio


def write(out_dir: Path, manifest: dict, audio: dict[str, bytes]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*.ulaw"):
        if stale.name not in audio:
            stale.unlink()
    for name, data in audio.items():
        (out_dir / name).write_bytes(data)
    (out_dir / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def check(out_dir: Path, manifest: dict, audio: dict[str, bytes]) -> list[str]:
    """Differences between what is in ``out_dir`` and a fresh rendering (empty: identical)."""
    problems = []
    try:
        shipped = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"{out_dir / MANIFEST}: {exc}"]
    if shipped != manifest:
        problems.append(f"{out_dir / MANIFEST} differs from a fresh rendering")
    for name, data in audio.items():
        path = out_dir / name
        if not path.is_file() or path.read_bytes() != data:
            problems.append(f"{path} differs from a fresh rendering")
    return problems
