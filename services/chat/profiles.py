"""The chat's one way to its profiles: the kit's ``centralita.profiles`` loader (the same file the voice
gateway reads, ``PROFILES_PATH``), with its errors as the chat's ``config`` errors, and the default
profile ``CHAT_PROFILE``."""

from __future__ import annotations

from collections.abc import Mapping

from centralita.config import env_str
from centralita.profiles import Profile, ProfileError, load_profiles
from chat.errors import ChatError

DEFAULT_PROFILE = "informacion_legal"


def chat_profiles(path: str | None = None) -> Mapping[str, Profile]:
    """Every profile of ``path`` (default ``PROFILES_PATH``, else the shipped example), by name."""
    try:
        return load_profiles(path or env_str("PROFILES_PATH", "") or None).profiles
    except ProfileError as exc:
        raise ChatError(str(exc), "config") from None


def default_profile() -> str:
    return env_str("CHAT_PROFILE", DEFAULT_PROFILE)


def chat_profile(name: str | None = None, path: str | None = None) -> Profile:
    """One profile by name (default ``CHAT_PROFILE``); a ``config`` error naming the available ones if absent."""
    profiles = chat_profiles(path)
    chosen = name or default_profile()
    if chosen not in profiles:
        raise ChatError(f"profile {chosen!r} is not defined; available: {', '.join(profiles)}", "config")
    return profiles[chosen]
