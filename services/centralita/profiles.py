"""Assistant profiles: which instructions, voice, tools and phrases a call gets, by dialled number.

A pure data contract shared by the voice gateway and the text chat, so it lives in the kit below both.

A profile file (JSON, or YAML when PyYAML is installed) looks like::

    {"default": "soporte",
     "numbers": {"3241000752": "soporte", "3241000753": "legal"},
     "profiles": {"soporte": {"instructions": "...", "voice": "verse", "tools": ["consultar_mikrotik"],
                              "greeting": "...",
                              "turn_detection": {"type": "semantic_vad", "eagerness": "auto"}, ...}}}

``instructions`` may be a string or a list of lines. ``turn_detection`` is ``{"type": "semantic_vad",
"eagerness": ...}`` (the default) or ``{"type": "server_vad", "threshold", "prefix_padding_ms",
"silence_duration_ms", "idle_timeout_ms"}``; the older ``vad`` key is a server_vad with seed 000's
defaults. ``backend`` names the gateway's voice engine (default ``realtime``, the only one today; the
gateway refuses others at start, the chat ignores it). Unknown keys are an error (a typo in a profile
should not silently fall back to a default).
See ``profiles.example.json``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

log = logging.getLogger("centralita.profiles")
# The shipped example stays next to the gateway that documents it (README, Dockerfile, manifests point there).
EXAMPLE_PATH = Path(__file__).resolve().parent.parent / "call_gateway" / "profiles.example.json"

DEFAULT_HOLDING_PHRASE = "Un momento, estoy consultando."
DEFAULT_TOOL_APOLOGY = "Lo siento, no pude obtener esa información en este momento."
DEFAULT_END_APOLOGY = "Lo siento, tenemos un problema técnico y debo finalizar la llamada. Por favor, vuelva a llamar."


class ProfileError(ValueError):
    """The profile file cannot be used; the message says where."""


TURN_TYPES = ("semantic_vad", "server_vad")
EAGERNESS = ("low", "medium", "high", "auto")
SHORT_SILENCE_MS = 300  # server_vad silences under this cut a caller's question at its ordinary pauses


@dataclass(frozen=True)
class TurnDetection:
    """``audio.input.turn_detection``: when the caller's turn is over.

    ``semantic_vad`` (the GA API's advice for conversation) ends the turn when the words sound finished,
    so the pauses inside a question do not cut it; ``eagerness`` trades waiting for speed. ``server_vad``
    ends it after ``silence_duration_ms`` of silence (seed 000's 100 ms cuts natural questions apart).
    ``create_response``/``interrupt_response`` are what the profile asks for; with barge-in gating on,
    the session sends ``false`` for both and decides itself (see ``realtime/README.md``).
    """

    type: str = "semantic_vad"
    eagerness: str = "auto"
    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    idle_timeout_ms: int | None = None
    create_response: bool = True
    interrupt_response: bool = True

    def turn_detection(self, *, gated: bool = False) -> dict[str, Any]:
        """The wire object; ``gated``: the gateway creates responses and interrupts them itself."""
        create = False if gated else self.create_response
        interrupt = False if gated else self.interrupt_response
        if self.type == "semantic_vad":
            return {
                "type": "semantic_vad",
                "eagerness": self.eagerness,
                "create_response": create,
                "interrupt_response": interrupt,
            }
        td: dict[str, Any] = {
            "type": "server_vad",
            "threshold": self.threshold,
            "prefix_padding_ms": self.prefix_padding_ms,
            "silence_duration_ms": self.silence_duration_ms,
            "create_response": create,
            "interrupt_response": interrupt,
        }
        if self.idle_timeout_ms is not None:
            td["idle_timeout_ms"] = self.idle_timeout_ms
        return td

    def warning(self) -> str | None:
        """Why callers will be cut off with these settings, or None."""
        if self.type == "server_vad" and self.silence_duration_ms < SHORT_SILENCE_MS:
            return (
                f"server_vad silence_duration_ms={self.silence_duration_ms} (< {SHORT_SILENCE_MS} ms): callers "
                "will be cut off at the pauses of a spoken question; use semantic_vad or a longer silence"
            )
        return None


VadSettings = TurnDetection  # the name older code and tests use


@dataclass(frozen=True)
class Profile:
    name: str
    instructions: str
    voice: str = "verse"
    tools: tuple[str, ...] | None = None  # allow-list of tool names; None = every tool of the dispatcher
    greeting: str = ""
    turn_detection: TurnDetection = field(default_factory=TurnDetection)
    holding_phrase: str = DEFAULT_HOLDING_PHRASE
    tool_apology: str = DEFAULT_TOOL_APOLOGY
    end_apology: str = DEFAULT_END_APOLOGY
    transcription_model: str | None = None
    apology_media: str = ""  # see _check_fallback_keys; "" = the gateway's GATEWAY_APOLOGY_MEDIA
    backend: str = "realtime"  # the gateway's voice engine (call_gateway.factories.VOICE_BACKENDS); chat ignores it

    @property
    def vad(self) -> TurnDetection:
        """Older name of ``turn_detection``."""
        return self.turn_detection


@dataclass(frozen=True)
class ProfileBook:
    profiles: Mapping[str, Profile]
    numbers: Mapping[str, str]
    default: str

    def for_exten(self, exten: str | None) -> Profile:
        """The profile of the dialled number, or the default profile for an unknown/absent number."""
        name = self.numbers.get((exten or "").strip(), self.default)
        return self.profiles[name]


_PROFILE_KEYS = ({f.name for f in fields(Profile)} - {"name"}) | {"vad"}
_COMMON_KEYS = {"type", "create_response", "interrupt_response"}
_TURN_KEYS = {
    "semantic_vad": _COMMON_KEYS | {"eagerness"},
    "server_vad": _COMMON_KEYS | {"threshold", "prefix_padding_ms", "silence_duration_ms", "idle_timeout_ms"},
}
# seed 000's thresholds: what a bare ``"vad": {}`` meant before turn_detection existed
_SEED_VAD = {"type": "server_vad", "threshold": 0.2, "prefix_padding_ms": 300, "silence_duration_ms": 100}


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
    data["turn_detection"] = _turn_detection(name, data.pop("turn_detection", None), data.pop("vad", None), where)
    tools = data.get("tools")
    if tools is not None:
        if not isinstance(tools, list) or not all(isinstance(t, str) for t in tools):
            raise ProfileError(f"{where}: profile {name!r}: tools must be a list of tool names")
        data["tools"] = tuple(tools)
    for key in ("voice", "greeting", "holding_phrase", "tool_apology", "end_apology", "backend"):
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
        raise ProfileError(
            f"{where}: apology media {value!r} must be 'prompt', 'none' or an ARI media URI "
            f"({', '.join(k + ':…' for k in APOLOGY_MEDIA_KINDS)})"
        )
    return value


def _check_fallback_keys(name: str, data: dict[str, Any], where: str) -> None:
    """Per-profile fallback keys: ``apology_media`` overrides ``GATEWAY_APOLOGY_MEDIA`` for this profile."""
    if "apology_media" in data:
        if not isinstance(data["apology_media"], str):
            raise ProfileError(f"{where}: profile {name!r}: apology_media must be a string")
        if data["apology_media"].strip():
            data["apology_media"] = check_apology_media(data["apology_media"], f"{where}: profile {name!r}")


def _int_in(value: Any, lo: int, hi: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def _turn_detection(name: str, turn: Any, vad: Any, where: str) -> TurnDetection:
    """``turn_detection`` (either type), or the older ``vad`` key (server_vad, seed 000's defaults)."""
    at = f"{where}: profile {name!r}"
    if turn is not None and vad is not None:
        raise ProfileError(f"{at}: give either turn_detection or vad (its older server_vad form), not both")
    if vad is not None:
        if not isinstance(vad, dict):
            raise ProfileError(f"{at}: vad must be an object")
        if "type" in vad and vad["type"] != "server_vad":
            raise ProfileError(f"{at}: vad.type must be server_vad (use turn_detection for semantic_vad)")
        unknown = set(vad) - _TURN_KEYS["server_vad"]
        if unknown:
            raise ProfileError(
                f"{at}: vad must be an object with keys from {sorted(_TURN_KEYS['server_vad'])}; "
                f"unknown {sorted(unknown)}"
            )
        turn, key = {**_SEED_VAD, **vad}, "vad"
    else:
        turn, key = ({"type": "semantic_vad"} if turn is None else turn), "turn_detection"
    if not isinstance(turn, dict):
        raise ProfileError(f"{at}: {key} must be an object")
    kind = turn.get("type")
    if kind not in TURN_TYPES:
        raise ProfileError(f"{at}: {key}.type must be one of {list(TURN_TYPES)}, not {kind!r}")
    unknown = set(turn) - _TURN_KEYS[kind]
    if unknown:
        raise ProfileError(
            f"{at}: {key} of type {kind} has unknown keys {sorted(unknown)}; allowed {sorted(_TURN_KEYS[kind])}"
        )
    checks: dict[str, tuple[Any, str]] = {
        "eagerness": (lambda v: v in EAGERNESS, f"one of {list(EAGERNESS)}"),
        "threshold": (
            lambda v: isinstance(v, int | float) and not isinstance(v, bool) and 0.0 <= v <= 1.0,
            "a number between 0 and 1",
        ),
        "prefix_padding_ms": (lambda v: _int_in(v, 0, 5000), "an integer between 0 and 5000"),
        "silence_duration_ms": (lambda v: _int_in(v, 1, 10000), "an integer between 1 and 10000"),
        "idle_timeout_ms": (lambda v: v is None or _int_in(v, 5000, 30000), "an integer between 5000 and 30000"),
        "create_response": (lambda v: isinstance(v, bool), "true or false"),
        "interrupt_response": (lambda v: isinstance(v, bool), "true or false"),
    }
    for field_name, value in turn.items():
        ok, wanted = checks.get(field_name, (lambda v: True, ""))
        if not ok(value):
            raise ProfileError(f"{at}: {key}.{field_name} must be {wanted}, not {value!r}")
    values = dict(turn)
    if "threshold" in values:
        values["threshold"] = float(values["threshold"])
    return TurnDetection(**values)


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
    for profile in profiles.values():
        warning = profile.turn_detection.warning()
        if warning:
            log.warning("%s: profile %s: %s", where, profile.name, warning)
    return ProfileBook(profiles=profiles, numbers=numbers, default=default)


def load_profiles(path: str | Path | None = None) -> ProfileBook:
    """Load a profile file (default: the shipped example)."""
    p = Path(path) if path else EXAMPLE_PATH
    if not p.is_file():
        raise ProfileError(f"{p}: profile file not found")
    return parse_profiles(_read(p), str(p))
