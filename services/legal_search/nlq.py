"""Deterministic reading of Spanish questions about normativas (no model, no SQL from the text).

`detect` finds metadata mentioned anywhere (municipalities, type, number, status, years and dates);
`parse_metadata` adds what a metadata question asks for (count or list, grouping, order, limit).
Everything works on `normalize`d text: lower case, no accents, "Gral." -> "general".
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass, field

from legal_search.filters import Filters
from legal_search.names import Gazetteer
from legal_search.text import normalize

TYPE_WORDS = {
    "ordenanza": "ordenanza", "ordenanzas": "ordenanza", "decreto": "decreto", "decretos": "decreto",
    "resolucion": "resolucion", "resoluciones": "resolucion", "disposicion": "disposicion",
    "disposiciones": "disposicion", "convenio": "convenio", "convenios": "convenio",
}
MONTHS = {m: i for i, m in enumerate(
    ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
     "noviembre", "diciembre"], 1)} | {"setiembre": 9}
_TYPE_RE = re.compile(r"\b(" + "|".join(TYPE_WORDS) + r")\b")
_NUMBER_RE = re.compile(
    r"\b(?:(" + "|".join(TYPE_WORDS) + r")\s+(?:(?:n|nro|numero|no)\s+)?|(?:n|nro|numero)\s+)(\d{1,6}(?:\s\d{2,4})?)\b")
_MONTH = r"(?:(" + "|".join(MONTHS) + r")\s+(?:de\s+|del\s+)?)?"
_YEAR = r"((?:19|20)\d\d)"
_BETWEEN_RE = re.compile(r"\bentre\s+(?:el\s+|los\s+anos\s+|el\s+ano\s+)?" + _MONTH + _YEAR + r"\s+y\s+(?:el\s+)?"
                         + _MONTH + _YEAR + r"\b")
_FROM_RE = re.compile(r"\b(?:desde|a partir de)\s+(?:el\s+|el\s+ano\s+|el\s+mes\s+de\s+)?" + _MONTH + _YEAR + r"\b")
_TO_RE = re.compile(r"\b(?:hasta)\s+(?:el\s+|el\s+ano\s+)?" + _MONTH + _YEAR + r"\b")
_BEFORE_RE = re.compile(r"\bantes\s+de(?:l)?\s+(?:ano\s+)?" + _MONTH + _YEAR + r"\b")
_AFTER_RE = re.compile(r"\bdespues\s+de(?:l)?\s+(?:ano\s+)?" + _MONTH + _YEAR + r"\b")
_IN_MONTH_RE = re.compile(r"\b(" + "|".join(MONTHS) + r")\s+(?:de\s+|del\s+)?" + _YEAR + r"\b")
_YEAR_RE = re.compile(r"\b" + _YEAR + r"\b")
_STATUS_RE = re.compile(r"\b(vigentes?|derogad[oa]s?|modificad[oa]s?|abrogad[oa]s?)\b")


@dataclass
class Detected:
    """Metadata read from the text, and which words it used up (so search can leave them out)."""

    filters: Filters = field(default_factory=Filters)
    types: list[str] = field(default_factory=list)
    used: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)


def _first_day(month: str | None, year: str) -> dt.date:
    return dt.date(int(year), MONTHS[month] if month else 1, 1)


def _last_day(month: str | None, year: str) -> dt.date:
    m = MONTHS[month] if month else 12
    return dt.date(int(year), m, calendar.monthrange(int(year), m)[1])


def _use(det: Detected, text: str) -> None:
    det.used.update(text.split())


def detect(text: str, gazetteer: Gazetteer) -> Detected:
    """Read municipalities, type, number, status and dates from a question (any case or accents)."""
    t = normalize(text)
    det = Detected()
    f = det.filters
    for m in gazetteer.find(t):
        f.municipalities.append(m.name)
        _use(det, t[m.start : m.end])
    nm = _NUMBER_RE.search(t)
    if nm:
        f.number = nm.group(2).split()[0]
        _use(det, nm.group(0))
        t = t[: nm.start()] + " " + (nm.group(1) or "") + " " + t[nm.end():]
    det.types = list(dict.fromkeys(TYPE_WORDS[w] for w in _TYPE_RE.findall(t)))
    if len(det.types) == 1:
        f.type = det.types[0]
    for w in _TYPE_RE.findall(t):
        det.used.add(w)
    sm = _STATUS_RE.search(t)
    if sm:
        word = sm.group(1)
        f.status = "vigente" if word.startswith("vigente") else (
            "derogada" if word.startswith(("derogad", "abrogad")) else "modificada")
        det.used.add(word)
    rest = t
    for rx, kind in ((_BETWEEN_RE, "between"), (_FROM_RE, "from"), (_TO_RE, "to"), (_BEFORE_RE, "before"),
                     (_AFTER_RE, "after"), (_IN_MONTH_RE, "month")):
        for m in rx.finditer(rest):
            g = m.groups()
            if kind == "between":
                f.date_from, f.date_to = _first_day(g[0], g[1]), _last_day(g[2], g[3])
                if f.date_from > f.date_to:
                    f.date_from, f.date_to = _first_day(g[2], g[3]), _last_day(g[0], g[1])
            elif kind == "from":
                f.date_from = _first_day(g[0], g[1])
            elif kind == "to":
                f.date_to = _last_day(g[0], g[1])
            elif kind == "before":
                f.date_to = _first_day(g[0], g[1]) - dt.timedelta(days=1)
            elif kind == "after":
                f.date_from = _last_day(g[0], g[1]) + dt.timedelta(days=1)
            else:
                f.date_from, f.date_to = _first_day(g[0], g[1]), _last_day(g[0], g[1])
            _use(det, m.group(0))
            rest = rest[: m.start()] + " " * (m.end() - m.start()) + rest[m.end():]
    if f.date_from is None and f.date_to is None:
        years = [y for y in _YEAR_RE.findall(rest) if y != f.number]
        if years:
            f.year = int(years[0])
            det.used.add(years[0])
    return det


# ---- metadata questions -------------------------------------------------------------------------

_COUNT_RE = re.compile(r"\b(cuant[oa]s?|cantidad|total|contar|conta|numero de|cuenta|compar\w*|versus|vs|"
                       r"mas|menos|mayor|menor|estadistic\w*|distribucion)\b")
_LIST_RE = re.compile(r"\b(lista\w*|listame|mostra\w*|muestr\w*|cuales|dame|decime|ver|busca\w*|"
                      r"ultim[oa]s|recientes|enumera\w*|detall\w*)\b")
_BY_MUNI_RE = re.compile(r"\b(que|cual|cuales|cada|por|en que)\s+(municipios?|partidos?|ciudad(?:es)?|distritos?)\b")
_BY_YEAR_RE = re.compile(r"\b(que|cual|cada|por|en que)\s+anos?\b")
_BY_TYPE_RE = re.compile(r"\b(que|cual|cada|por)\s+tipos?\b|\btipos? de normativas?\b")
_BY_STATUS_RE = re.compile(r"\b(por|cada|segun)\s+(su\s+)?estados?\b")
_LEAST_RE = re.compile(r"\b(menos|menor)\b")
_MOST_RE = re.compile(r"\b(mas|mayor)\b")
_OLDEST_RE = re.compile(r"\b(mas antigu[oa]s|primer[oa]s|antigu[oa]s)\b")
_NEWEST_RE = re.compile(r"\b(mas recientes?|ultim[oa]s|recientes?|nuev[oa]s)\b")
_LIMIT_RE = re.compile(r"\b(?:ultim[oa]s|primer[oa]s|las|los|top)\s+(\d{1,3})\b|\b(\d{1,3})\s+(?:ultim[oa]s|"
                       r"primer[oa]s|normativas|ordenanzas|decretos|resoluciones|disposiciones|convenios)\b")
_COMPARE_RE = re.compile(r"\b(compar\w*|versus|vs|diferencia\w*|frente a)\b")

LIST, COUNT = "list", "count"
NONE, MUNICIPALITY, TYPE, YEAR, STATUS = "none", "municipality", "type", "year", "status"
DATE_DESC, DATE_ASC, COUNT_DESC, COUNT_ASC = "date_desc", "date_asc", "count_desc", "count_asc"


@dataclass
class MetadataQuery:
    """A structured metadata request: what the compiler turns into one parameterised statement."""

    operation: str = LIST
    group_by: str = NONE
    filters: Filters = field(default_factory=Filters)
    order: str | None = None
    limit: int = 10


def parse_metadata(text: str, gazetteer: Gazetteer) -> MetadataQuery:
    """Fill a MetadataQuery from a Spanish question alone."""
    det = detect(text, gazetteer)
    t = normalize(text)
    q = MetadataQuery(filters=det.filters)
    counting = bool(_COUNT_RE.search(_OLDEST_RE.sub(" ", _NEWEST_RE.sub(" ", t))))
    listing = bool(_LIST_RE.search(t))
    if _BY_MUNI_RE.search(t):
        q.group_by = MUNICIPALITY
    elif _BY_YEAR_RE.search(t):
        q.group_by = YEAR
    elif _BY_TYPE_RE.search(t) or (len(det.types) > 1 and counting):
        q.group_by = TYPE
        if len(det.types) > 1:
            q.filters.type = None
    elif _BY_STATUS_RE.search(t):
        q.group_by = STATUS
    if len(q.filters.municipalities) >= 2 and (counting or _COMPARE_RE.search(t) or q.group_by == NONE):
        q.group_by = q.group_by if q.group_by != NONE else MUNICIPALITY
        counting = True
    if q.group_by != NONE:
        q.operation = COUNT
        q.order = COUNT_ASC if _LEAST_RE.search(t) else COUNT_DESC
    elif counting and not (listing and not re.search(r"\bcuant", t)):
        q.operation = COUNT
    else:
        q.operation = LIST
        if _OLDEST_RE.search(t):
            q.order = DATE_ASC
        elif _NEWEST_RE.search(t):
            q.order = DATE_DESC
    lm = _LIMIT_RE.search(t)
    if lm and q.operation == LIST:
        value = int(lm.group(1) or lm.group(2))
        if 1 <= value <= 100 and str(value) != q.filters.number:
            q.limit = value
    return q
