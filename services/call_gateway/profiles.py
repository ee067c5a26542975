"""Assistant profiles: which instructions, voice, tools and phrases a call gets, by dialled number.

A profile file (JSON, or YAML when PyYAML is installed) looks like::

    {"default": "soporte",
     "numbers": {"3241000752": "soporte", "3241000753": "legal"},
     "profiles": {"soporte": {"instructions": "...", "voice": "verse", "tools": ["consultar_mikrotik"],
                              "greeting": "...", "vad": {"threshold": 0.2}, ...}}}

``instructions`` may be a string or a list of lines. Unknown keys are an error (a typo in a profile
should not silently fall back to a default). See ``profiles.example.json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

EXAMPLE_PATH = Path(__file__).with_name("profiles.example.json")

DEFAULT_HOLDING_PHRASE = "Un momento, estoy consultando."
DEFAULT_TOOL_APOLOGY = "Lo siento, no pude obtener esa información en este momento."
DEFAULT_END_APOLOGY = "Lo siento, tenemos un problema técnico y debo finalizar la llamada. Por favor, vuelva a llamar."


class ProfileError(ValueError):
    """The profile file cannot be used; the message says where."""


@dataclass(frozen=True)
class VadSettings:
    """``audio.input.turn_detection`` of type server_vad. Defaults are seed 000's thresholds."""

    threshold: float = 0.2
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 100
    create_response: bool = True
    interrupt_response: bool = True
    idle_timeout_ms: int | None = None

    def turn_detection(self) -> dict[str, Any]:
        td: dict[str, Any] = {
            "type": "server_vad",
            "threshold": self.threshold,
            "prefix_padding_ms": self.prefix_padding_ms,
            "silence_duration_ms": self.silence_duration_ms,
            "create_response": self.create_response,
            "interrupt_response": self.interrupt_response,
        }
        if self.idle_timeout_ms is not None:
            td["idle_timeout_ms"] = self.idle_timeout_ms
        return td


@dataclass(frozen=True)
class Profile:
    name: str
    instructions: str
    voice: str = "verse"
    tools: tuple[str, ...] | None = None  # allow-list of tool names; None = every tool of the dispatcher
    greeting: str = ""
    vad: VadSettings = field(default_factory=VadSettings)
    holding_phrase: str = DEFAULT_HOLDING_PHRASE
    tool_apology: str = DEFAULT_TOOL_APOLOGY
    end_apology: str = DEFAULT_END_APOLOGY
    transcription_model: str | None = None
    apology_media: str = ""   # see _check_fallback_keys; "" = the gateway's GATEWAY_APOLOGY_MEDIA


@dataclass(frozen=True)
class ProfileBook:
    profiles: Mapping[str, Profile]
    numbers: Mapping[str, str]
    default: str

    def for_exten(self, exten: str | None) -> Profile:
        """The profile of the dialled number, or the default profile for an unknown/absent number."""
        name = self.numbers.get((exten or "").strip(), self.default)
        return self.profiles[name]


_PROFILE_KEYS = {f.name for f in fields(Profile)} - {"name"}
_VAD_KEYS = {f.name for f in fields(VadSettings)}


def _read(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix in {".yaml", ".yml"}:
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError:  # pragma: no cover - depends on the environment
            raise ProfileError(f"{path}: YAML profiles need PyYAML; use the JSON format") from None
        return yaml.safe_load(text)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProfileError(f"{path}: invalid JSON ({exc})") from None


def _profile(name: str, raw: Any, where: str) -> Profile:
    if not isinstance(raw, dict):
        raise ProfileError(f"{where}: profile {name!r} must be an object")
    unknown = set(raw) - _PROFILE_KEYS
    if unknown:
        raise ProfileError(f"{where}: profile {name!r} has unknown keys {sorted(unknown)}")
    data = dict(raw)
    instructions = data.get("instructions")
    if isinstance(instructions, list):
        instructions = "\n".join(str(line) for line in instructions)
    if not isinstance(instructions, str) or not instructions.strip():
        raise ProfileError(f"{where}: profile {name!r} needs non-empty instructions")
    data["instructions"] = instructions.strip()
    vad = data.get("vad", {})
    if not isinstance(vad, dict) or set(vad) - _VAD_KEYS:
        raise ProfileError(f"{where}: profile {name!r}: vad must be an object with keys from {sorted(_VAD_KEYS)}")
    data["vad"] = VadSettings(**vad)
    if not 0.0 <= data["vad"].threshold <= 1.0:
        raise ProfileError(f"{where}: profile {name!r}: vad.threshold must be between 0 and 1")
    tools = data.get("tools")
    if tools is not None:
        if not isinstance(tools, list) or not all(isinstance(t, str) for t in tools):
            raise ProfileError(f"{where}: profile {name!r}: tools must be a list of tool names")
        data["tools"] = tuple(tools)
    for key in ("voice", "greeting", "holding_phrase", "tool_apology", "end_apology"):
        if key in data and not isinstance(data[key], str):
            raise ProfileError(f"{where}: profile {name!r}: {key} must be a string")
    _check_fallback_keys(name, data, where)
    return Profile(name=name, **data)


# -- spoken fallbacks (what the caller hears when the model cannot speak) ----------------------------
APOLOGY_MEDIA_KINDS = ("sound", "recording", "tone", "digits", "number", "characters")


def check_apology_media(value: str, where: str) -> str:
    """``prompt`` (the gateway plays its shipped Spanish prompt over RTP), ``none`` (no apology), or an
    ARI media URI Asterisk plays (``sound:<id>``, checked at startup; ``recording:``, ``tone:``, …)."""
    value = value.strip()
    if value in ("prompt", "none"):
        return value
    kind, sep, rest = value.partition(":")
    if not sep or kind not in APOLOGY_MEDIA_KINDS or not rest.strip():
        raise ProfileError(f"{where}: apology media {value!r} must be 'prompt', 'none' or an ARI media URI "
                           f"({', '.join(k + ':…' for k in APOLOGY_MEDIA_KINDS)})")
    return value


def _check_fallback_keys(name: str, data: dict[str, Any], where: str) -> None:
    """Per-profile fallback keys: ``apology_media`` overrides ``GATEWAY_APOLOGY_MEDIA`` for this profile."""
    if "apology_media" in data:
        if not isinstance(data["apology_media"], str):
            raise ProfileError(f"{where}: profile {name!r}: apology_media must be a string")
        if data["apology_media"].strip():
            data["apology_media"] = check_apology_media(data["apology_media"], f"{where}: profile {name!r}")


def parse_profiles(raw: Any, where: str = "<profiles>") -> ProfileBook:
    if not isinstance(raw, dict) or not isinstance(raw.get("profiles"), dict) or not raw["profiles"]:
        raise ProfileError(f"{where}: expected an object with a non-empty 'profiles' object")
    unknown = set(raw) - {"default", "numbers", "profiles"}
    if unknown:
        raise ProfileError(f"{where}: unknown top-level keys {sorted(unknown)}")
    profiles = {name: _profile(name, body, where) for name, body in raw["profiles"].items()}
    default = raw.get("default", next(iter(profiles)))
    if default not in profiles:
        raise ProfileError(f"{where}: default profile {default!r} is not defined")
    numbers = {str(k).strip(): v for k, v in (raw.get("numbers") or {}).items()}
    for number, name in numbers.items():
        if name not in profiles:
            raise ProfileError(f"{where}: number {number} points to undefined profile {name!r}")
    return ProfileBook(profiles=profiles, numbers=numbers, default=default)


def load_profiles(path: str | Path | None = None) -> ProfileBook:
    """Load a profile file (default: the shipped example)."""
    p = Path(path) if path else EXAMPLE_PATH
    if not p.is_file():
        raise ProfileError(f"{p}: profile file not found")
    return parse_profiles(_read(p), str(p))
