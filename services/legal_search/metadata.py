"""query_metadata_sql and get_database_stats: structured requests compiled to parameterised SQLAlchemy.

The question text only ever selects among fixed columns and becomes bound parameters; it is never
part of the SQL text. `sql` in the response is the statement with its parameters rendered, for
transparency only (it is not what runs: the driver receives the parameters separately).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from sqlalchemy import Engine, Select, and_, func, select
from sqlalchemy.sql.elements import ColumnElement

from legal_search.filters import Filters
from legal_search.models import TYPE_LABEL, Normativa
from legal_search.nlq import (
    COUNT,
    COUNT_ASC,
    DATE_ASC,
    DATE_DESC,
    MUNICIPALITY,
    NONE,
    STATUS,
    TYPE,
    YEAR,
    MetadataQuery,
)
from legal_search.text import fold

N = Normativa
# Municipalities are grouped by their key (covered by the composite indexes, so the wide rows are not
# read) and shown by display name.
_GROUP_COLUMNS = {MUNICIPALITY: N.municipality_key, TYPE: N.type, YEAR: N.year, STATUS: N.status}
_GROUP_LABEL = {MUNICIPALITY: "municipio", TYPE: "tipo", YEAR: "año", STATUS: "estado"}


@dataclass
class Row:
    id: str
    municipality: str
    type: str
    number: str
    year: int
    date: str
    title: str
    url: str
    status: str


@dataclass
class MetadataResult:
    total: int = 0
    groups: list[tuple[str, int]] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    sql: str = ""
    interpretation: str = ""


def where(f: Filters) -> list[ColumnElement[bool]]:
    """The WHERE conditions of a filter set (all bound parameters)."""
    conds: list[ColumnElement[bool]] = []
    keys = f.keys()
    if len(keys) == 1:
        conds.append(N.municipality_key == keys[0])
    elif keys:
        conds.append(N.municipality_key.in_(keys))
    if f.type:
        conds.append(N.type == f.type)
    if f.year is not None:
        conds.append(N.year == f.year)
    if f.date_from:
        conds.append(N.date >= f.date_from)
    if f.date_to:
        conds.append(N.date <= f.date_to)
    if f.number:
        conds.append(N.number == f.number)
    if f.status:
        conds.append(N.status == fold(f.status))
    if f.status_not:
        conds.append(N.status != fold(f.status_not))
    return conds


def render(stmt: Select, engine: Engine) -> str:
    """The statement with parameters inlined, in the engine's dialect."""
    try:
        return str(stmt.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    except Exception:  # a type without a literal renderer: show the parameters beside the statement
        compiled = stmt.compile(dialect=engine.dialect)
        return f"{compiled} -- {compiled.params}"


def _date(d: dt.date | None) -> str:
    return d.isoformat() if d else ""


def run(engine: Engine, q: MetadataQuery, names: dict[str, str] | None = None) -> MetadataResult:
    """Execute a structured query; `names` maps municipality keys to display names."""
    names = names or {}
    conds = where(q.filters)
    cond = and_(*conds) if conds else None
    result = MetadataResult()
    with engine.connect() as conn:
        if q.operation == COUNT and q.group_by in _GROUP_COLUMNS:
            col = _GROUP_COLUMNS[q.group_by]
            n = func.count().label("n")
            stmt = select(col.label("key"), n, func.sum(func.count()).over().label("total")).select_from(N)
            if cond is not None:
                stmt = stmt.where(cond)
            order = [n.asc() if q.order == COUNT_ASC else n.desc(), col.asc()]
            if q.group_by == YEAR and q.order in (DATE_ASC, DATE_DESC):  # a time series, asked for as such
                order = [col.asc() if q.order == DATE_ASC else col.desc()]
            stmt = stmt.group_by(col).order_by(*order).limit(q.limit)
            rows = conn.execute(stmt).all()
            result.groups = [
                (names.get(r.key, r.key) if q.group_by == MUNICIPALITY else str(r.key), int(r.n)) for r in rows
            ]
            if rows:
                result.total = int(rows[0].total)
            result.sql = render(stmt, engine)
        else:
            count_stmt = select(func.count()).select_from(N)
            if cond is not None:
                count_stmt = count_stmt.where(cond)
            result.total = int(conn.execute(count_stmt).scalar_one())
            result.sql = render(count_stmt, engine)
            if q.operation != COUNT:
                cols = [N.id, N.municipality, N.type, N.number, N.year, N.date, N.title, N.url, N.status]
                stmt = select(*cols)
                if cond is not None:
                    stmt = stmt.where(cond)
                if q.order == DATE_ASC:
                    stmt = stmt.order_by(N.date.asc(), N.id.asc())
                else:
                    stmt = stmt.order_by(N.date.desc(), N.id.desc())
                stmt = stmt.limit(q.limit)
                result.rows = [
                    Row(r.id, r.municipality, r.type, r.number, r.year, _date(r.date), r.title, r.url, r.status)
                    for r in conn.execute(stmt)
                ]
                result.sql = render(stmt, engine) + ";\n" + result.sql
    result.interpretation = interpret(q, result)
    if result.total == 0 and q.filters.number and (q.filters.status or q.filters.status_not):
        result.interpretation += _status_hint(engine, q.filters)
    return result


def _status_hint(engine: Engine, f: Filters) -> str:
    """A numbered norm asked for with a status it does not have ("¿está vigente…?" sent as
    status=vigente): say which status it has, so the caller does not hear that it does not exist."""
    other = replace(f, status=None, status_not=None)
    stmt = select(N.municipality, N.type, N.number, N.status).where(and_(*where(other))).limit(5)
    with engine.connect() as conn:
        found = conn.execute(stmt).all()
    if not found:
        return ""
    listed = "; ".join(
        f"{TYPE_LABEL.get(r.type, r.type).lower()} {r.number} de {r.municipality}: {r.status}" for r in found
    )
    return f" Sin el filtro de estado sí existe: {listed}."


def describe_filters(f: Filters) -> str:
    parts = []
    if f.type:
        parts.append(f"de tipo {TYPE_LABEL.get(f.type, f.type).lower()}")
    if f.municipalities:
        names = f.municipalities
        parts.append("de " + (names[0] if len(names) == 1 else ", ".join(names[:-1]) + " y " + names[-1]))
    if f.number:
        parts.append(f"con número {f.number}")
    if f.year is not None:
        parts.append(f"del año {f.year}")
    if f.date_from and f.date_to:
        parts.append(f"con fecha entre el {f.date_from.isoformat()} y el {f.date_to.isoformat()}")
    elif f.date_from:
        parts.append(f"con fecha desde el {f.date_from.isoformat()}")
    elif f.date_to:
        parts.append(f"con fecha hasta el {f.date_to.isoformat()}")
    if f.status:
        parts.append(f"en estado {f.status}")
    if f.status_not:
        parts.append(f"en cualquier estado salvo {f.status_not}")
    return " ".join(parts) if parts else "sin filtros"


def describe_sources(q: MetadataQuery) -> str:
    """Which filters the caller sent and which were read from the question's words."""
    given = [g for g, src in q.sources.items() if src == "explicit"]
    read = [g for g, src in q.sources.items() if src == "query"]
    parts = []
    if given:
        parts.append("Filtros indicados explícitamente: " + ", ".join(given) + ".")
    if read:
        parts.append("Leídos de la pregunta: " + ", ".join(read) + ".")
    parts.extend(note[:1].upper() + note[1:] + "." for note in q.notes)
    if q.status_question:
        parts.append(
            f"Es una pregunta sobre si la norma está {q.status_question}: el estado no se usa como "
            "filtro; la respuesta es el estado de cada norma listada."
        )
    return (" " + " ".join(parts)) if parts else ""


def interpret(q: MetadataQuery, r: MetadataResult) -> str:
    return _interpret(q, r) + describe_sources(q)


def _interpret(q: MetadataQuery, r: MetadataResult) -> str:
    what = describe_filters(q.filters)
    if q.operation == COUNT and q.group_by != NONE:
        label = _GROUP_LABEL[q.group_by]
        text = f"Conteo de normativas {what}, agrupado por {label}: {r.total} en total."
        if r.groups:
            key, n = r.groups[0]
            adj = "menos" if q.order == COUNT_ASC else "más"
            text += f" El {label} con {adj} normativas es {key} ({n})."
        return text
    if q.operation == COUNT:
        return f"Conteo de normativas {what}: {r.total}."
    order = "de la más antigua a la más reciente" if q.order == DATE_ASC else "de la más reciente a la más antigua"
    text = f"Listado de normativas {what}, {order}: {r.total} en total, se muestran {len(r.rows)}."
    if q.status_question and r.rows:
        text += (
            " Estado: "
            + "; ".join(
                f"{TYPE_LABEL.get(x.type, x.type).lower()} {x.number} de {x.municipality}: {x.status}"
                for x in r.rows[:5]
            )
            + "."
        )
    return text


@dataclass
class Stats:
    total: int
    municipalities: list[tuple[str, int]]
    types: list[tuple[str, int]]
    years: list[tuple[int, int]]
    last_updated: dt.datetime | None


def stats(engine: Engine, names: dict[str, str] | None = None) -> Stats:
    def grouped(conn, col, order_by_key: bool = False):
        n = func.count().label("n")
        order = [col.desc()] if order_by_key else [n.desc(), col.asc()]
        return [(k, int(c)) for k, c in conn.execute(select(col, n).group_by(col).order_by(*order))]

    with engine.connect() as conn:
        total = int(conn.execute(select(func.count()).select_from(N)).scalar_one())
        last = conn.execute(select(func.max(N.updated_at))).scalar_one()
        if isinstance(last, str):
            last = dt.datetime.fromisoformat(last)
        if last is not None and last.tzinfo is None:
            last = last.replace(tzinfo=dt.UTC)
        munis = [((names or {}).get(k, k), c) for k, c in grouped(conn, N.municipality_key)]
        munis.sort(key=lambda x: (-x[1], x[0]))
        return Stats(total, munis, grouped(conn, N.type), grouped(conn, N.year, order_by_key=True), last)
