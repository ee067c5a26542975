"""Configuration from the environment (a ``.env`` file is read once if present) and safe logging.

Secrets (variables whose name contains KEY, PASSWORD, SECRET or TOKEN, and credentials embedded in
URLs) are redacted from every log line by a filter installed on the root handler.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

from dotenv import load_dotenv

_SECRET_NAME = re.compile(r"(KEY|PASSWORD|PASSWD|SECRET|TOKEN)", re.IGNORECASE)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]+):(?P<pw>[^@/\s]+)@", re.IGNORECASE)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._\-]+")
_OPENAI_KEY = re.compile(r"sk-[A-Za-z0-9_\-]{8,}")
_loaded = False
_TRUE = {"1", "true", "yes", "on", "si", "sí"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(ValueError):
    """A variable is set to something that cannot be used; the message names it."""


def load_env(path: str | os.PathLike[str] | None = None) -> None:
    """Read ``.env`` (the working directory's, or ``CENTRALITA_ENV_FILE``) without overriding the environment."""
    global _loaded
    if _loaded and path is None:
        return
    env_file = Path(path or os.environ.get("CENTRALITA_ENV_FILE", ".env"))
    if env_file.is_file():
        load_dotenv(env_file, override=False)
    _loaded = True


def env_str(name: str, default: str = "", *, env: Mapping[str, str] | None = None, allow_empty: bool = False) -> str:
    """A variable's value, stripped; ``default`` when unset (or empty, unless ``allow_empty``).

    ``env`` replaces ``os.environ`` (tests pass a dict); ``.env`` is read only for the real environment.
    """
    if env is None:
        load_env()
        env = os.environ
    value = env.get(name)
    if value is None or (value.strip() == "" and not allow_empty):
        return default
    return value.strip()


def env_int(name: str, default: int, *, env: Mapping[str, str] | None = None) -> int:
    raw = env_str(name, "", env=env)
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None


def env_float(name: str, default: float, *, env: Mapping[str, str] | None = None) -> float:
    raw = env_str(name, "", env=env)
    if raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None


def env_bool(name: str, default: bool, *, env: Mapping[str, str] | None = None) -> bool:
    raw = env_str(name, "", env=env).lower()
    if raw == "":
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use true or false)")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


_secrets_seen: tuple[object, list[str]] | None = None


def _secret_values() -> list[str]:
    """Secret values of the environment, longest first; recomputed only when the environment changed.

    Every log line is redacted, so this runs per line: decoding and scanning ``os.environ`` costs
    ~60 µs, comparing a snapshot of its raw items (the same objects while nothing changes) ~1 µs.
    """
    global _secrets_seen
    raw = getattr(os.environ, "_data", None)
    snapshot = tuple(raw.items()) if isinstance(raw, dict) else None
    seen = _secrets_seen
    if snapshot is not None and seen is not None and seen[0] == snapshot:
        return seen[1]
    values = sorted(
        (v for k, v in os.environ.items() if _SECRET_NAME.search(k) and v and len(v) >= 4),
        key=len,
        reverse=True,
    )
    if snapshot is not None:
        _secrets_seen = (snapshot, values)
    return values


def redact(text: str) -> str:
    """Remove secret values, URL credentials and bearer tokens from ``text``."""
    for secret in _secret_values():
        if secret in text:
            text = text.replace(secret, "***")
    # Each pattern needs a literal it cannot match without: most lines skip the regexes.
    if "@" in text:
        text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    if "Bearer" in text:
        text = _BEARER.sub(r"\1***", text)
    if "sk-" in text:
        text = _OPENAI_KEY.sub("sk-***", text)
    return text


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then redacts: covers arguments, exceptions and stack traces alike."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(service: str, level: str | None = None) -> None:
    """One readable line per event on stderr: time, level, service, logger, message."""
    load_env()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        RedactingFormatter(f"%(asctime)s %(levelname)-7s {service} %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel((level or env_str("LOG_LEVEL", "INFO")).upper())
    for noisy in (
        "urllib3",
        "websocket",
        "httpx",
        "httpcore",
        "alembic.runtime.plugins",
        "grpc_reflection.v1alpha.proto_reflection_descriptor_database",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
