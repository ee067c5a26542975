"""Validation of ingest records (DESIGN §7): one bad record is reported, never fatal for the others."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from legal_search.models import TYPES
from legal_search.text import clean, fold, name_key

_TYPE_ALIASES = {fold(t): t for t in TYPES} | {"resolución": "resolucion", "disposición": "disposicion"}
_MAX_TEXT = 2_000_000
# JSON spellings of control characters (a literal backslash before b/f only causes a harmless scrub)
_ESCAPED_CONTROL = re.compile(r"\\u00[01][0-9a-fA-F]|\\u007[fF]|\\[bf]|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# The same test in two scans that run at C speed: escapes start with a literal backslash (sre jumps to
# each one), raw control characters are one character class. The alternation above tried every position.
_ESCAPE = re.compile(r"\\(?:u00[01][0-9a-fA-F]|u007[fF]|[bf])")
_RAW_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class RecordError(ValueError):
    """A record that cannot be stored; the message says which field and why (in Spanish)."""


@dataclass
class Record:
    """A validated normativa, ready for the database and the index."""

    id: str
    municipality: str
    type: str
    number: str
    year: int
    date: dt.date | None
    title: str
    url: str = ""
    status: str = "vigente"
    content: str = ""
    articles: list[dict[str, str]] = field(default_factory=list)
    considerandos: list[str] = field(default_factory=list)
    tables: list[dict[str, Any]] = field(default_factory=list)

    @property
    def municipality_key(self) -> str:
        return name_key(self.municipality)

    def digest(self) -> str:
        """Hash of every stored field: equal digests mean nothing to re-index (idempotent re-ingest)."""
        payload = json.dumps(self.to_json(), sort_keys=True, ensure_ascii=False).encode()
        return hashlib.blake2b(payload, digest_size=12).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "municipality": self.municipality,
            "type": self.type,
            "number": self.number,
            "year": self.year,
            "date": self.date.isoformat() if self.date else None,
            "title": self.title,
            "url": self.url,
            "status": self.status,
            "content": self.content,
            "articles": self.articles,
            "considerandos": self.considerandos,
            "tables": self.tables,
        }


def _text(obj: dict[str, Any], name: str, *, required: bool, max_len: int, default: str = "") -> str:
    value = obj.get(name)
    if value is None or value == "":
        if required:
            raise RecordError(f"falta el campo '{name}'")
        return default
    if isinstance(value, int) and not isinstance(value, bool) and name == "number":
        value = str(value)
    if not isinstance(value, str):
        raise RecordError(f"el campo '{name}' debe ser texto")
    value = value.strip()
    if required and not value:
        raise RecordError(f"el campo '{name}' está vacío")
    if len(value) > max_len:
        raise RecordError(f"el campo '{name}' supera {max_len} caracteres")
    return value


def _articles(value: Any) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError("'articles' debe ser una lista")
    out = []
    for i, art in enumerate(value):
        if not isinstance(art, dict) or not isinstance(art.get("text"), str):
            raise RecordError(f"'articles[{i}]' debe tener 'text' de tipo texto")
        out.append({"number": str(art.get("number", i + 1)), "text": art["text"]})
    return out


def _strings(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RecordError(f"'{name}' debe ser una lista de textos")
    return list(value)


def _tables(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError("'tables' debe ser una lista")
    out = []
    for i, table in enumerate(value):
        rows = table.get("rows") if isinstance(table, dict) else None
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise RecordError(f"'tables[{i}].rows' debe ser una lista de filas")
        out.append({"title": str(table.get("title", "")), "rows": [[str(c) for c in r] for r in rows]})
    return out


def scrub(value: Any) -> Any:
    """The value with control characters removed from every string in it."""
    return _scrub(value)


def may_hold_control_chars(json_text: str) -> bool:
    """Can this JSON source decode to strings with control characters? (They can only be written
    escaped: \\u0000-\\u001f, \\u007f, \\b, \\f.) False lets ingest skip scrubbing, ~15 % of its time."""
    return _ESCAPE.search(json_text) is not None or _RAW_CONTROL.search(json_text) is not None


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    return value


def validate(obj: Any, *, clean_text: bool = True) -> Record:
    """Check one decoded JSON object and return a Record, or raise RecordError saying what is wrong.

    `clean_text=False` when the caller already knows the strings hold no control characters.
    """
    if not isinstance(obj, dict):
        raise RecordError("cada normativa debe ser un objeto JSON")
    if clean_text:
        obj = _scrub(obj)
    rid = _text(obj, "id", required=True, max_len=200)
    municipality = _text(obj, "municipality", required=True, max_len=100)
    if not name_key(municipality):
        raise RecordError("el campo 'municipality' no tiene letras")
    raw_type = _text(obj, "type", required=True, max_len=20)
    doc_type = _TYPE_ALIASES.get(fold(raw_type))
    if doc_type is None:
        raise RecordError(f"tipo desconocido '{raw_type}' (válidos: {', '.join(TYPES)})")
    number = _text(obj, "number", required=True, max_len=40)
    date = None
    raw_date = obj.get("date")
    if raw_date not in (None, ""):
        if not isinstance(raw_date, str):
            raise RecordError("'date' debe ser texto AAAA-MM-DD")
        try:
            date = dt.date.fromisoformat(raw_date)
        except ValueError as exc:
            raise RecordError(f"fecha inválida '{raw_date}' (se espera AAAA-MM-DD)") from exc
    year = obj.get("year")
    if year is None and date is not None:
        year = date.year
    if isinstance(year, str) and year.isdigit():
        year = int(year)
    if not isinstance(year, int) or isinstance(year, bool) or not 1800 <= year <= 2100:
        raise RecordError("'year' debe ser un año entre 1800 y 2100")
    if date is not None and date.year != year:
        raise RecordError(f"'year' ({year}) no coincide con 'date' ({date.isoformat()})")
    record = Record(
        id=rid,
        municipality=municipality,
        type=doc_type,
        number=number,
        year=year,
        date=date,
        title=_text(obj, "title", required=True, max_len=2000),
        url=_text(obj, "url", required=False, max_len=2000),
        status=_text(obj, "status", required=False, max_len=40, default="vigente").lower(),
        content=_text(obj, "content", required=False, max_len=_MAX_TEXT),
        articles=_articles(obj.get("articles")),
        considerandos=_strings(obj.get("considerandos"), "considerandos"),
        tables=_tables(obj.get("tables")),
    )
    if not (record.content or record.articles):
        raise RecordError("la normativa no tiene texto ('content' o 'articles')")
    return record
