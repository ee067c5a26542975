"""Metadata filters as the domain sees them, validated once and turned into SQL or index constraints."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from legal_search.analysis import number_key
from legal_search.errors import InvalidArgument
from legal_search.models import TYPES
from legal_search.searcher import FilterSpec
from legal_search.text import clean, fold, name_key

NOTHING = "-"  # a key no document has: keys are built from letters and digits only


@dataclass
class Filters:
    """Every set field must match. `municipalities` means any of them (comparisons)."""

    municipalities: list[str] = field(default_factory=list)
    type: str | None = None
    year: int | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    number: str | None = None
    status: str | None = None
    # A status the norms must NOT have ("las que no están derogadas" = vigente or modificada). Read
    # from the words only; the gRPC filters have no field for it.
    status_not: str | None = None

    def merged(self, override: Filters) -> Filters:
        """Fields set in `override` win (structured arguments over what the parser read)."""
        out = replace(self, municipalities=list(self.municipalities))
        if override.municipalities:
            out.municipalities = list(override.municipalities)
        for name in ("type", "year", "date_from", "date_to", "number", "status", "status_not"):
            value = getattr(override, name)
            if value is not None:
                setattr(out, name, value)
        return out

    def is_empty(self) -> bool:
        return self == Filters()

    def keys(self) -> list[str]:
        """Comparison keys; a name with no letters at all becomes "-", which matches nothing."""
        return list(dict.fromkeys(name_key(m) or NOTHING for m in self.municipalities if m.strip()))

    def to_spec(self) -> FilterSpec:
        def ymd(d: dt.date | None) -> int | None:
            return d.year * 10000 + d.month * 100 + d.day if d else None

        return FilterSpec(
            municipalities=tuple(self.keys()),
            type=self.type,
            number=(number_key(self.number) or NOTHING) if self.number else None,
            status=fold(self.status) if self.status else None,
            year=self.year,
            date_from=ymd(self.date_from),
            date_to=ymd(self.date_to),
        )


def parse_date(value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError as exc:
        raise InvalidArgument(f"La {name} '{value[:40]}' no es válida; use el formato AAAA-MM-DD.") from exc


def build(
    *,
    municipality: str | None = None,
    municipalities: list[str] | None = None,
    type: str | None = None,
    year: int | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    number: str | None = None,
    status: str | None = None,
    status_not: str | None = None,
) -> Filters:
    """Validated Filters from raw request values (None = not set)."""
    municipality = clean(municipality) if municipality else municipality
    number = clean(number) if number else number
    status = clean(status) if status else status
    names = [clean(m) for m in (municipalities or []) if m and m.strip()]
    if municipality and municipality.strip():
        names = [municipality, *[m for m in names if name_key(m) != name_key(municipality)]]
    for m in names:
        if len(m) > 100:
            raise InvalidArgument("El nombre del municipio es demasiado largo.")
    if type is not None and type not in TYPES:
        raise InvalidArgument(
            f"El tipo '{type}' no existe; use ordenanza, decreto, resolucion, disposicion o convenio."
        )
    if year is not None and not 1800 <= year <= 2100:
        raise InvalidArgument("El año debe estar entre 1800 y 2100.")
    dfrom = parse_date(date_from, "fecha inicial") if date_from else None
    dto = parse_date(date_to, "fecha final") if date_to else None
    if dfrom and dto and dfrom > dto:
        raise InvalidArgument("La fecha inicial es posterior a la fecha final.")
    if number is not None and len(number) > 40:
        raise InvalidArgument("El número de normativa es demasiado largo.")
    if any(s is not None and len(s) > 40 for s in (status, status_not)):
        raise InvalidArgument("El estado es demasiado largo.")
    return Filters(
        municipalities=names,
        type=type,
        year=year,
        date_from=dfrom,
        date_to=dto,
        number=number.strip() if number and number.strip() else None,
        status=status.strip().lower() if status and status.strip() else None,
        status_not=status_not.strip().lower() if status_not and status_not.strip() else None,
    )


# Filter groups as the caller thinks of them: a year and a date range are one "when".
GROUPS: dict[str, tuple[str, ...]] = {
    "municipio": ("municipalities",),
    "tipo": ("type",),
    "número": ("number",),
    "fechas": ("year", "date_from", "date_to"),
    "estado": ("status", "status_not"),
}
EXPLICIT, QUERY = "explicit", "query"


def fill(explicit: Filters, read: Filters, *, status_question: bool = False) -> tuple[Filters, dict[str, str]]:
    """Explicit filters win: what was read from the words only fills groups the caller left empty,
    never narrows or contradicts them. Returns the filters and where each set group came from.

    A status read from the words is dropped when the caller named one norm (explicit number) or
    asked a yes/no status question: the answer is the norm with its status, not a filter."""
    out = replace(explicit, municipalities=list(explicit.municipalities))
    sources: dict[str, str] = {}
    for group, names in GROUPS.items():
        if any(_is_set(getattr(explicit, n)) for n in names):
            sources[group] = EXPLICIT
            continue
        if group == "estado" and (status_question or explicit.number):
            continue
        if any(_is_set(getattr(read, n)) for n in names):
            for n in names:
                value = getattr(read, n)
                setattr(out, n, list(value) if isinstance(value, list) else value)
            sources[group] = QUERY
    return out, sources


def _is_set(value: object) -> bool:
    return bool(value) if isinstance(value, list) else value is not None
