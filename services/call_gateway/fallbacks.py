"""What the caller hears when the model cannot speak (the Realtime connection is lost mid-call).

Resolved once per profile at startup, so a call never discovers a missing apology in front of a caller:

* ``prompt`` (default): the gateway plays its own Spanish prompt through the call's RTP path — the
  shipped rendering of the profile's ``end_apology`` text, or the generic apology (with a startup
  warning) when that text has no prompt.
* ``sound:<id>`` (or another ARI media URI): Asterisk plays it on the caller channel. Each ``sound:``
  is checked with ``GET /ari/sounds/{id}``: it must exist with a format in ``GATEWAY_APOLOGY_LANG``,
  or the gateway refuses to start (a stock Asterisk has no ``an-error-has-occurred``: the playback
  fails and the caller hears silence). Other URIs (``recording:``, ``tone:``…) cannot be checked.
* ``none``: hang up without an apology.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from call_gateway.ari import AriError, AriRest
from call_gateway.prompts import Prompt, PromptLibrary
from centralita.config import ConfigError
from centralita.profiles import Profile, ProfileError, check_apology_media

log = logging.getLogger("call_gateway.fallbacks")


class FallbackError(ConfigError):
    """A configured fallback cannot be played: the gateway must not start."""


@dataclass(frozen=True)
class Apology:
    kind: str  # "prompt" (RTP, ours) | "ari" (Asterisk plays media) | "none"
    prompt: Prompt | None = None
    media: str = ""
    lang: str = ""


NO_APOLOGY = Apology("none")


def resolve_apologies(
    profiles: Mapping[str, Profile], media: str, lang: str, prompts_dir: str = ""
) -> dict[str, Apology]:
    """Profile name → what its callers hear. ``media`` is GATEWAY_APOLOGY_MEDIA ("" = none)."""
    chosen: dict[str, str] = {}
    for name, profile in profiles.items():
        value = profile.apology_media or media or "none"
        try:
            chosen[name] = check_apology_media(
                value, "GATEWAY_APOLOGY_MEDIA" if not profile.apology_media else f"profile {name!r}"
            )
        except ProfileError as exc:
            raise FallbackError(str(exc)) from None
    library = PromptLibrary.load(prompts_dir or None) if "prompt" in chosen.values() else None
    out: dict[str, Apology] = {}
    for name, value in chosen.items():
        if value == "none":
            out[name] = NO_APOLOGY
        elif value == "prompt":
            assert library is not None
            prompt = library.for_text(profiles[name].end_apology)
            if prompt is None:
                log.warning(
                    "profile %s: no prompt in %s for its end_apology text: callers will hear the generic "
                    "apology (%r); render its own with `centralita prompts --profiles FILE --out DIR` and "
                    "set GATEWAY_PROMPTS_DIR=DIR",
                    name,
                    library.directory,
                    library.generic.text,
                )
                prompt = library.generic
            out[name] = Apology("prompt", prompt=prompt)
        else:
            if not value.startswith("sound:"):
                log.warning(
                    "profile %s: apology %s cannot be checked before a call; make sure Asterisk has it", name, value
                )
            out[name] = Apology("ari", media=value, lang=lang)
    return out


def sounds_to_check(apologies: Iterable[Apology]) -> list[tuple[str, str]]:
    """(sound id, language) of every ``sound:`` media Asterisk may be asked to play."""
    return sorted(
        {(a.media[len("sound:") :], a.lang) for a in apologies if a.kind == "ari" and a.media.startswith("sound:")}
    )


def check_sounds(rest: AriRest, wanted: Iterable[tuple[str, str]]) -> tuple[list[str], str | None]:
    """(problems, why unchecked): problems are sounds missing or missing in the language; the second is
    set when Asterisk could not answer (unreachable, 5xx, 401…), leaving the rest unchecked."""
    problems: list[str] = []
    for sound_id, lang in wanted:
        try:
            sound = rest.get_sound(sound_id)
        except AriError as exc:
            if exc.status == 404:
                problems.append(
                    f"sound:{sound_id} does not exist on this Asterisk (GET /ari/sounds/{sound_id} "
                    "-> 404): install it or use GATEWAY_APOLOGY_MEDIA=prompt"
                )
                continue
            return problems, str(exc)
        langs = sorted({str(f.get("language", "")) for f in (sound or {}).get("formats") or []})
        if lang not in langs:
            problems.append(
                f"sound:{sound_id} exists on this Asterisk only in language(s) {langs}, not in "
                f"{lang!r} (GATEWAY_APOLOGY_LANG): install that language's sound or use "
                "GATEWAY_APOLOGY_MEDIA=prompt"
            )
    return problems, None
