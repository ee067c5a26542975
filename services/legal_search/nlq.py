"""Deterministic reading of Spanish questions about normativas (no model, no SQL from the text).

`detect` finds metadata mentioned anywhere (municipalities, type, number, status, years and dates);
`parse_metadata` adds what a metadata question asks for (count or list, grouping, order, limit).
Everything works on `names.canonical` text: lower case, no accents, "Gral." -> "general", spoken
numbers as digits. Dates are read by `legal_search.dates` (a lark grammar), names by the Gazetteer.
A status word next to a norm's number, or in "¿está vigente…?", is a yes/no question: it never
becomes a filter, so a repealed norm is found and answers "derogada".
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from legal_search import dates
from legal_search.filters import Filters, fill
from legal_search.names import Gazetteer, canonical

TYPE_WORDS = {
    "ordenanza": "ordenanza",
    "ordenanzas": "ordenanza",
    "decreto": "decreto",
    "decretos": "decreto",
    "resolucion": "resolucion",
    "resoluciones": "resolucion",
    "disposicion": "disposicion",
    "disposiciones": "disposicion",
    "convenio": "convenio",
    "convenios": "convenio",
}
_PLURAL_TYPES = {w for w in TYPE_WORDS if w.endswith("s")}
# Written abbreviations, read as a type only right before a number ("Ord. 2947", "Dto. 315/2023").
_TYPE_ABBREVIATIONS = {
    "ord": "ordenanza",
    "dto": "decreto",
    "dec": "decreto",
    "decr": "decreto",
    "res": "resolucion",
    "resol": "resolucion",
    "disp": "disposicion",
    "conv": "convenio",
}
MONTHS = dates.MONTHS
_TYPE_RE = re.compile(r"\b(" + "|".join(TYPE_WORDS) + r")\b")
_NUMBER_RE = re.compile(
    r"\b(?:(" + "|".join([*TYPE_WORDS, *_TYPE_ABBREVIATIONS]) + r")\s+(?:(?:n|nro|numero|num|no)\s+)?"
    r"|(?:n|nro|numero|num)\s+)"
    r"(\d{1,6}(?:\s\d{2,4})?)\b"
)
_NUMBER_YEAR_RE = re.compile(r"\s*(?:/|barra\s)\s*(\d{2})\b")
_STATUS_RE = re.compile(
    r"\b(vigentes?|en vigor|derogad[oa]s?|modificad[oa]s?|abrogad[oa]s?|rigen|"
    r"(?:se )?derog(?:aron|o)|sin (?:derogar|abrogar|modificar|modificaciones))\b"
)
# "no", "ya no", "nunca" before a status word, at most two forms of "to be" between ("que no están
# derogadas", "no han sido derogadas", "ya no rigen"); "¿no tenés las vigentes?" is no negation.
_BE = (
    r"(?:esta|estan|esten|estaba|estaban|estuvo|estuvieron|es|son|sean|eran|fue|fueron|fueran|ha|han|haya|"
    r"hayan|sido|se|encuentra|encuentran|sigue|siguen|quedo|quedaron)"
)
_NEGATED_RE = re.compile(r"\b(?:no|nunca)(?:\s+" + _BE + r"){0,2}\s*$")
# "¿Está vigente…?", "¿sigue en vigor?", "¿fue derogada?": a yes/no question about one norm's status.
_STATUS_QUESTION_RE = re.compile(
    r"\b(esta|sigue|continua|fue|quedo|queda|se encuentra|todavia|aun|rige|sigue rigiendo)\b(?:\s+\w+){0,2}?"
    r"\s+(vigente|en vigor|derogad[oa]|abrogad[oa]|modificad[oa])\b|\brige\b|\bsigue rigiendo\b"
)


_CORRECTION_RE = re.compile(
    r"\b(?:perdon|digo|mejor dicho|quise decir|quiero decir|no mejor|no no|me equivoque|"
    r"no (?=(?:la|el) (?:ordenanza|decreto|resolucion|disposicion|convenio|norma)\b))"
)


@dataclass
class Detected:
    """Metadata read from the text, and which words it used up (so search can leave them out)."""

    filters: Filters = field(default_factory=Filters)
    types: list[str] = field(default_factory=list)
    used: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    status_question: str | None = None  # the status word of a yes/no question ("vigente")
    years: list[int] = field(default_factory=list)  # two or more separate years named (a comparison)


def _use(det: Detected, text: str) -> None:
    det.used.update(text.split())


def _blank(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


def _status(word: str) -> str:
    if word.startswith(("vigente", "en vigor", "rigen")):
        return "vigente"
    return "derogada" if word.startswith(("derog", "abrogad", "se derog")) else "modificada"


def _read_status(text: str, m: re.Match[str]) -> tuple[str, bool, str | None]:
    """(status, negated, the negated phrase or None) of a status word. The schema has three statuses:
    vigente, derogada and modificada (modified but still in force). So "no vigentes"/"ya no rigen" is derogada, while
    "no derogadas"/"sin derogar" is "any status but derogada" (vigente or modificada)."""
    word = m.group(1)
    if word.startswith("sin "):
        return _status(word[4:].replace("derogar", "derogad").replace("abrogar", "abrogad")), True, word
    status = _status(word)
    neg = _NEGATED_RE.search(text[: m.start()])
    if not neg:
        return status, False, None
    phrase = " ".join(text[neg.start() : m.end()].split())
    return ("derogada", False, phrase) if status == "vigente" else (status, True, phrase)


def detect(text: str, gazetteer: Gazetteer, today: dt.date | None = None) -> Detected:
    """Read municipalities, type, number, status and dates from a question (any case or accents,
    numbers spoken or written, relative dates against `today`).

    A spoken self-correction ("la ordenanza 3 mil… no, la 2947 de Merlo", "Pergamino… perdón,
    Mercedes") is read as two parts: what follows the last correction wins, group by group."""
    today = today or dt.date.today()
    t = canonical(text)
    fixes = list(_CORRECTION_RE.finditer(t))
    if not fixes:
        return _read(t, gazetteer, today)
    cut = fixes[-1]
    before, after = _read(t[: cut.start()], gazetteer, today), _read(t[cut.end() :], gazetteer, today)
    merged, _ = fill(after.filters, before.filters)
    return Detected(
        filters=merged,
        types=after.types or before.types,
        used=before.used | after.used | set(cut.group(0).split()),
        notes=before.notes + after.notes,
        status_question=after.status_question or before.status_question,
        years=after.years or before.years,
    )


def _read(t: str, gazetteer: Gazetteer, today: dt.date) -> Detected:
    """detect() on canonical text without corrections."""
    det = Detected()
    f = det.filters
    rest = t
    for m in gazetteer.find(t):
        f.municipalities.append(m.name)
        _use(det, t[m.start : m.end])
        rest = _blank(rest, m.start, m.end)
    for nm in _NUMBER_RE.finditer(rest):
        value = nm.group(2).split()[0]
        if nm.group(1) in _PLURAL_TYPES and len(value) == 4 and value[:2] in ("19", "20"):
            continue  # "decretos 2023": a year, not decree number 2023
        f.number = value
        _use(det, nm.group(0))
        ym = _NUMBER_YEAR_RE.match(rest, nm.end())
        if ym:  # "N° 1234/22", "decreto 45 barra 21": the two-digit year of the norm
            f.year = dates.two_digit_year(int(ym.group(1)), today)
            rest = _blank(rest, ym.start(), ym.end())
        if nm.group(1) in _TYPE_ABBREVIATIONS:
            f.type = _TYPE_ABBREVIATIONS[nm.group(1)]
        rest = (
            rest[: nm.start()]
            + " "
            + (nm.group(1) or "")
            + " " * (nm.end() - nm.start() - 1 - len(nm.group(1) or ""))
            + rest[nm.end() :]
        )
        break
    det.types = list(dict.fromkeys(TYPE_WORDS[w] for w in _TYPE_RE.findall(rest)))
    if len(det.types) == 1:
        f.type = det.types[0]
    elif f.type:
        det.types = [f.type]
    for w in _TYPE_RE.findall(rest):
        det.used.add(w)
    sm = _STATUS_RE.search(rest)
    qm = _STATUS_QUESTION_RE.search(rest)
    if sm:
        det.used.update(sm.group(1).split())
        status, negated, phrase = _read_status(rest, sm)
        if f.number or (qm and not _COUNT_RE.search(rest) and not _LIST_RE.search(rest)):
            det.status_question = "vigente" if negated else status  # a lookup that answers with the status
        elif negated:
            f.status_not = status
            det.notes.append(
                f"'{phrase}' se lee como cualquier estado salvo {status} "
                "(los estados son vigente, derogada y modificada)"
            )
        else:
            f.status = status
            if phrase:
                det.notes.append(f"'{phrase}' se lee como derogada (una norma modificada sigue vigente)")
    elif qm and f.number:
        det.status_question = "vigente"
    found = dates.find(rest, today)
    for d in found:
        _use(det, rest[d.start : d.end])
    years = sorted({d.year for d in found if d.year is not None})
    if len(found) == 1 and found[0].year is not None:
        f.year = found[0].year
    elif len(years) == len(found) and len(years) >= 2:  # "en 2019 y en 2020": the span, compared by year
        f.date_from, f.date_to = dt.date(years[0], 1, 1), dt.date(years[-1], 12, 31)
        det.years = years
    elif found:
        lows = [d.date_from or (dt.date(d.year, 1, 1) if d.year else None) for d in found]
        highs = [d.date_to or (dt.date(d.year, 12, 31) if d.year else None) for d in found]
        f.date_from = max((d for d in lows if d), default=None)
        f.date_to = min((d for d in highs if d), default=None)
        if f.date_from and f.date_to and f.date_from > f.date_to:  # contradictory: keep the first one
            f.date_from, f.date_to = lows[0], highs[0]
    return det


# ---- metadata questions -------------------------------------------------------------------------

_COUNT_RE = re.compile(
    r"\b(cuant[oa]s?|cantidad|total|contar|conta|numero de|cuenta|compar\w*|versus|vs|"
    r"mas|menos|mayor|menor|estadistic\w*|distribucion)\b"
)
_LIST_RE = re.compile(
    r"\b(lista\w*|listame|mostra\w*|muestr\w*|cuales|dame|decime|ver|busca\w*|"
    r"ultim[oa]s|recientes|enumera\w*|detall\w*)\b"
)
_BY_MUNI_RE = re.compile(
    r"\b(que|cual|cuales|cada|por|en que)\s+(municipios?|partidos?|ciudad(?:es)?|distritos?)\b"
    r"|\b(el|la|los|las)\s+(municipios?|partidos?|ciudad(?:es)?|distritos?|localidad(?:es)?)"
    r"\s+(con|que)\b|\b(ranking|top)\s+(?:de\s+)?(?:los\s+)?(municipios|partidos)\b"
)
_BY_YEAR_RE = re.compile(r"\b(que|cual|cada|por|en que)\s+anos?\b|\bano (?:por|a) ano\b")
_BY_TYPE_RE = re.compile(r"\b(que|cual|cada|por)\s+tipos?\b|\btipos? de normativas?\b")
_BY_STATUS_RE = re.compile(r"\b(por|cada|segun)\s+(su\s+)?estados?\b")
_LEAST_RE = re.compile(r"\b(menos|menor)\b")
_MOST_RE = re.compile(r"\b(mas|mayor)\b")
_OLDEST_RE = re.compile(r"\b(mas antigu[oa]s?|primer[oa]s|antigu[oa]s?)\b")
_NEWEST_RE = re.compile(r"\b(mas recientes?|ultim[oa]s?|recientes?|nuev[oa]s)\b")
_NOUN = r"(?:ordenanza|decreto|resolucion|disposicion|convenio|norma|normativa)"
# "el último decreto", "la norma más antigua", "la primera ordenanza": one row.
_SINGLE_RE = re.compile(
    r"\b(?:el|la)\s+(?:(?:ultim[oa]|primer[oa]?)\s+"
    + _NOUN
    + r"|"
    + _NOUN
    + r"\s+(?:mas\s+(?:antigu[oa]|recientes?|nuev[oa]|viej[oa])|ultim[oa]|primer[oa]))\b"
)
_LIMIT_RE = re.compile(
    r"\b(?:ultim[oa]s|primer[oa]s|las|los|top)\s+(\d{1,3})\b(?!\s+(?:dias|semanas|meses|anos)\b)"
    r"|\b(\d{1,3})\s+(?:ultim[oa]s|"
    r"primer[oa]s|normativas|ordenanzas|decretos|resoluciones|disposiciones|convenios)\b"
)
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
    status_question: str | None = None  # "¿está vigente…?": list the norm, its status is the answer
    sources: dict[str, str] = field(default_factory=dict)  # filter group -> "explicit" | "query"
    notes: list[str] = field(default_factory=list)  # what the reader wants the caller to know


_UPPER = "A-ZÁÉÍÓÚÑÜ"
# A capitalised name after "de/en/tiene" ("¿Cuántas ordenanzas tiene Springfield?") that is no known
# municipality: asked about as a place, it must count 0, not the whole province.
_PLACE_RE = re.compile(
    rf"\b(?:de|del|en|tiene|para)\s+([{_UPPER}]\w+"
    rf"(?:\s+(?:de\s+(?:la\s+|los\s+)?)?[{_UPPER}]\w+)*)"
)
_NOT_PLACES = frozenset(
    [
        "buenos aires",
        "provincia",
        "argentina",
        "concejo",
        "concejo deliberante",
        "intendente",
        "municipio",
        "municipalidad",
        "partido",
        "boletin oficial",
        "sibom",
    ]
)


def _unknown_place(text: str, det: Detected) -> str | None:
    for m in _PLACE_RE.finditer(text):
        words = canonical(m.group(1)).split()
        if not words or any(w in det.used or w in TYPE_WORDS or w in MONTHS for w in words):
            continue
        if " ".join(words) in _NOT_PLACES or _STATUS_RE.search(" ".join(words)):
            continue
        return m.group(1)
    return None


def parse_metadata(text: str, gazetteer: Gazetteer, today: dt.date | None = None) -> MetadataQuery:
    """Fill a MetadataQuery from a Spanish question alone."""
    det = detect(text, gazetteer, today)
    if not det.filters.municipalities:
        place = _unknown_place(text, det)
        if place:
            det.filters.municipalities = [place]
            det.notes.append(f"'{place}' no es un municipio de la base")
    t = canonical(text)
    q = MetadataQuery(filters=det.filters, status_question=det.status_question, notes=det.notes)
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
    if q.group_by == NONE and len(det.years) >= 2 and (counting or _COMPARE_RE.search(t)):
        q.group_by = YEAR  # "¿cuántas en 2019 y cuántas en 2020?"
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
    if q.operation == LIST and _SINGLE_RE.search(t):
        q.limit = 1
    if q.status_question and q.group_by == NONE:
        q.operation = LIST  # "¿está vigente…?": the norm itself, whose status is the answer
    lm = _LIMIT_RE.search(t)
    if lm and q.operation == LIST:
        value = int(lm.group(1) or lm.group(2))
        if 1 <= value <= 100 and str(value) != q.filters.number:
            q.limit = value
    return q
