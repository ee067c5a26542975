"""Spanish date expressions in questions -> a year or a date range, read with a lark grammar.

People say dates many ways: "entre marzo y junio de 2024", "el primer semestre de 2023", "desde el
1/1/2023 hasta el 31/12/2024", "a partir de 2020", "hasta mayo", "en los últimos seis meses", "el
año pasado", "del 2019 al 2021", "antes de 2018", "el tercer trimestre del año pasado". A word
classifier turns the folded question into tokens; an LALR grammar (the language of ranges, points
and relative spans) is run from every word that can start an expression and the longest complete
expression wins, so the rest of the question is never parsed. Numeric dates are day-first
(Argentina) and parsed by dateparser; relative expressions use an injectable `today`.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from functools import cache, lru_cache

import dateparser
from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError

MONTHS = {
    m: i
    for i, m in enumerate(
        [
            "enero",
            "febrero",
            "marzo",
            "abril",
            "mayo",
            "junio",
            "julio",
            "agosto",
            "septiembre",
            "octubre",
            "noviembre",
            "diciembre",
        ],
        1,
    )
} | {"setiembre": 9}
_ORDINALS = {
    "primer": 1,
    "primero": 1,
    "primera": 1,
    "1er": 1,
    "1ro": 1,
    "1ero": 1,
    "1ra": 1,
    "segundo": 2,
    "segunda": 2,
    "2do": 2,
    "2da": 2,
    "tercer": 3,
    "tercero": 3,
    "tercera": 3,
    "3er": 3,
    "3ro": 3,
    "3ra": 3,
    "cuarto": 4,
    "cuarta": 4,
    "4to": 4,
    "4ta": 4,
}
# Word -> terminal. Everything else is not part of a date expression.
_WORDS = {
    "entre": "ENTRE",
    "y": "Y",
    "desde": "DESDE",
    "hasta": "HASTA",
    "a": "A",
    "al": "AL",
    "de": "DE",
    "del": "DEL",
    "el": "ART",
    "la": "ART",
    "los": "ART",
    "las": "ART",
    "partir": "PARTIR",
    "antes": "ANTES",
    "despues": "DESPUES",
    "en": "EN",
    "durante": "EN",
    "ultimo": "ULTIMOS",
    "ultimos": "ULTIMOS",
    "ultima": "ULTIMOS",
    "ultimas": "ULTIMOS",
    "pasado": "PASADO",
    "pasada": "PASADO",
    "anterior": "PASADO",
    "este": "ESTE",
    "esta": "ESTE",
    "corriente": "ESTE",
    "actual": "ESTE",
    "ano": "ANO",
    "anos": "ANO",
    "mes": "MES",
    "meses": "MESES",
    "semana": "SEMANA",
    "semanas": "SEMANA",
    "dia": "DIA",
    "dias": "DIA",
    "semestre": "SEMESTRE",
    "semestres": "SEMESTRE",
    "mitad": "SEMESTRE",
    "trimestre": "TRIMESTRE",
    "trimestres": "TRIMESTRE",
    "cuatrimestre": "CUATRIMESTRE",
    "hoy": "HOY",
    "hace": "HACE",
    "lo": "LO",
    "que": "QUE",
    "va": "VA",
    "fecha": "FECHA",
    "posterior": "POSTERIOR",
    "posteriores": "POSTERIOR",
    "anteriores": "ANTERIORES",
    "previa": "ANTERIORES",
    "previas": "ANTERIORES",
    "previo": "ANTERIORES",
    "previos": "ANTERIORES",
    "adelante": "ADELANTE",
    "principios": "PRINCIPIOS",
    "principio": "PRINCIPIOS",
    "comienzos": "PRINCIPIOS",
    "comienzo": "PRINCIPIOS",
    "inicios": "PRINCIPIOS",
    "inicio": "PRINCIPIOS",
    "mediados": "MEDIADOS",
    "fines": "FINES",
    "fin": "FINES",
    "finales": "FINES",
    "final": "FINES",
    "ayer": "AYER",
    "anteayer": "AYER",
    "antepasado": "ANTEPASADO",
    "antepasada": "ANTEPASADO",
    "viene": "VIENE",
    "proximo": "PROXIMO",
    "proxima": "PROXIMO",
    "entrante": "PROXIMO",
    "para": "PARA",
    "aca": "ACA",
    "aqui": "ACA",
    "ahora": "ACA",
}
GRAMMAR = r"""
%declare ENTRE Y DESDE HASTA A AL DE DEL ART PARTIR ANTES DESPUES EN ULTIMOS PASADO ESTE ANO MES MESES
%declare SEMANA DIA SEMESTRE TRIMESTRE CUATRIMESTRE HOY HACE LO QUE VA FECHA MONTH YEAR NUM DMY ORD
%declare POSTERIOR ANTERIORES ADELANTE PRINCIPIOS MEDIADOS FINES AYER ANTEPASADO VIENE PROXIMO PARA ACA

start: range | since | until | before | after | within | last | so_far

range: ENTRE ART? point Y ART? point
     | (ENTRE | DESDE | DE | DEL) ART? daynum (Y | A | AL | HASTA) ART? point -> day_range
     | DESDE ART? point (HASTA | A | AL) ART? point
     | (DE | DEL) ART? point (A | AL | HASTA) ART? point
since: DESDE ART? point | A PARTIR (DE | DEL) ART? point | DESDE HACE NUM unit
     | (DE | DEL | DESDE) ART? point EN ADELANTE
     | (DE | DEL | DESDE) ART? point (PARA | HASTA) ACA
until: HASTA ART? point
before: ANTES (DE | DEL) ART? point | (ANTERIORES | PASADO) (A | AL) ART? point
after: DESPUES (DE | DEL) ART? point | POSTERIOR (A | AL) ART? point
within: (EN | DE | DEL | A)? ART? point
last: (EN | DE | DEL)? ART? ULTIMOS NUM? unit | HACE NUM unit
so_far: EN LO QUE VA (DE | DEL) (ART | ESTE)? (ANO | MES | SEMANA)

unit: ANO | MES | MESES | SEMANA | DIA | SEMESTRE | TRIMESTRE
_of: DE ART? | DEL
ord: ORD | NUM
daynum: NUM | ORD

?point: yearref
     | MONTH _of? yearref                        -> month
     | MONTH                                     -> month
     | (NUM | ORD) DE? MONTH (_of? yearref)?     -> day
     | DMY                                       -> dmy
     | ord SEMESTRE (_of? yearref)?               -> semester
     | ord TRIMESTRE (_of? yearref)?              -> quarter
     | ord CUATRIMESTRE (_of? yearref)?           -> cuatrimestre
     | ULTIMOS (SEMESTRE | TRIMESTRE | CUATRIMESTRE) _of? yearref -> last_part
     | (PRINCIPIOS | MEDIADOS | FINES) _of yearref -> part_of_year
     | (ESTE | ART) MES                          -> this_month
     | MES PASADO                                -> last_month
     | MES (QUE VIENE | PROXIMO)                 -> next_month
     | PROXIMO MES                               -> next_month
     | (ESTE | ART) SEMANA                       -> this_week
     | SEMANA PASADO                             -> last_week
     | SEMANA (QUE VIENE | PROXIMO)              -> next_week
     | PROXIMO SEMANA                            -> next_week
     | AYER                                      -> yesterday
     | HOY                                       -> now
     | FECHA                                     -> now

yearref: YEAR                                    -> year
       | ANO YEAR                                -> year
       | ESTE ANO                                -> this_year
       | ANO PASADO                              -> last_year
       | ANO ANTEPASADO                          -> year_before_last
       | ANO (QUE VIENE | PROXIMO)               -> next_year
       | PROXIMO ANO                             -> next_year
"""
_DMY_RE = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{2}|\d{4})$|^(\d{4})[/.-](\d{1,2})[/.-](\d{1,2})$")
_TOKEN_RE = re.compile(r"\d{1,4}[/.-]\d{1,2}[/.-]\d{2,4}|\w+")


@dataclass(frozen=True)
class Found:
    """A date expression in the text: its character span and what it means."""

    start: int
    end: int
    date_from: dt.date | None
    date_to: dt.date | None
    year: int | None  # set instead of the dates when a whole single year was named ("en 2023")


@dataclass(frozen=True)
class _Point:
    """A moment or period, possibly without its year yet ("marzo" in "entre marzo y junio de 2024")."""

    kind: str
    year: int | None
    a: int = 0  # month, semester, quarter...
    b: int = 0  # day
    lo: dt.date | None = None
    hi: dt.date | None = None
    whole_year: bool = False

    def span(self, default_year: int) -> tuple[dt.date, dt.date]:
        if self.lo is not None and self.hi is not None:
            return self.lo, self.hi
        y = self.year if self.year is not None else default_year
        if self.kind == "year":
            return dt.date(y, 1, 1), dt.date(y, 12, 31)
        if self.kind == "month":
            return dt.date(y, self.a, 1), _month_end(y, self.a)
        if self.kind == "day":
            return dt.date(y, self.a, self.b), dt.date(y, self.a, self.b)
        size = {"semester": 6, "quarter": 3, "cuatrimestre": 4}[self.kind]
        first = (self.a - 1) * size + 1
        return dt.date(y, first, 1), _month_end(y, first + size - 1)


def _month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day `months` earlier (clamped to the month's length)."""
    index = day.year * 12 + day.month - 1 - months
    y, m = divmod(index, 12)
    return dt.date(y, m + 1, min(day.day, calendar.monthrange(y, m + 1)[1]))


@lru_cache(maxsize=512)
def _parse_dmy(text: str) -> dt.date | None:
    """Day-first numeric dates (1/1/2023, 31-12-24, 5.3.2024) and ISO 2024-03-05, via dateparser."""
    if not _DMY_RE.match(text):
        return None
    order = "YMD" if re.match(r"^\d{4}", text) else "DMY"
    parsed = dateparser.parse(text, languages=["es"], settings={"DATE_ORDER": order, "STRICT_PARSING": True})
    return parsed.date() if parsed else None


_SMALL = {"un": 1, "uno": 1, "una": 1, "dos": 2}  # text2num leaves these as words


def _num(tok: str) -> int:
    return _SMALL.get(tok) or int(tok)


_ORD_RE = re.compile(r"^(\d{1,2})(?:o|a|er|ro|do|to|ero|ra|da|ta)$")


def _classify(word: str) -> str | None:
    if _ORD_RE.match(word):
        return "ORD"
    if word in _SMALL:
        return "NUM"
    if word in _WORDS:
        return _WORDS[word]
    if word in MONTHS:
        return "MONTH"
    if word in _ORDINALS:
        return "ORD"
    if word.isdigit():
        if len(word) == 4 and 1900 <= int(word) <= 2100:
            return "YEAR"
        if len(word) <= 2 and int(word) > 0:
            return "NUM"
        return None
    if _DMY_RE.match(word):
        return "DMY"
    return None


@cache
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", lexer="basic")


@v_args(inline=True)
class _Meaning(Transformer):
    """Tree -> (date_from, date_to, year)."""

    def __init__(self, today: dt.date) -> None:
        super().__init__()
        self.today = today

    # ---- points
    def year(self, *toks):
        return _Point("year", int(toks[-1]), whole_year=True)

    def this_year(self, *_):
        return _Point("year", self.today.year, whole_year=True)

    def last_year(self, *_):
        return _Point("year", self.today.year - 1, whole_year=True)

    def year_before_last(self, *_):
        return _Point("year", self.today.year - 2, whole_year=True)

    def next_year(self, *_):
        return _Point("year", self.today.year + 1, whole_year=True)

    def _year_of(self, items) -> int | None:
        refs = [i for i in items if isinstance(i, _Point)]
        return refs[0].year if refs else None

    def month(self, *items):
        month = MONTHS[str(items[0])]
        return _Point("month", self._year_of(items), a=month)

    def day(self, *items):
        first = str(items[0])
        num = self.ord(items[0]) if items[0].type == "ORD" else _num(first)
        month = MONTHS[str(next(i for i in items if isinstance(i, Token) and i.type == "MONTH"))]
        year = self._year_of(items)
        if num > calendar.monthrange(year or 2000, month)[1]:
            raise ValueError("no such day")
        return _Point("day", year, a=month, b=num)

    def dmy(self, tok):
        d = _parse_dmy(str(tok))
        if d is None:
            raise ValueError("not a date")
        return _Point("day", d.year, a=d.month, b=d.day, lo=d, hi=d)

    def ord(self, tok):
        word = str(tok)
        m = _ORD_RE.match(word)
        return int(m.group(1)) if m else (_ORDINALS.get(word) or _num(word))

    def _part(self, kind: str, items, parts: int):
        n = items[0]
        if not 1 <= n <= parts:
            raise ValueError("no such part of a year")
        return _Point(kind, self._year_of(items[1:]), a=n)

    def semester(self, *items):
        return self._part("semester", items, 2)

    def quarter(self, *items):
        return self._part("quarter", items, 4)

    def cuatrimestre(self, *items):
        return self._part("cuatrimestre", items, 3)

    def last_part(self, *items):
        kind = next(i for i in items if isinstance(i, Token) and i.type in ("SEMESTRE", "TRIMESTRE", "CUATRIMESTRE"))
        parts = {"SEMESTRE": ("semester", 2), "TRIMESTRE": ("quarter", 4), "CUATRIMESTRE": ("cuatrimestre", 3)}
        name, n = parts[kind.type]
        return _Point(name, self._year_of(items), a=n)

    def part_of_year(self, *items):
        """ "principios de 2022": January-March; "mediados": May-August; "fines": October-December."""
        year = self._year_of(items)
        first, last = {"PRINCIPIOS": (1, 3), "MEDIADOS": (5, 8), "FINES": (10, 12)}[items[0].type]
        y = year if year is not None else self.today.year
        return _Point("part", year, lo=dt.date(y, first, 1), hi=_month_end(y, last))

    def this_month(self, *_):
        return _Point("month", self.today.year, a=self.today.month)

    def last_month(self, *_):
        d = months_before(self.today.replace(day=1), 1)
        return _Point("month", d.year, a=d.month)

    def next_month(self, *_):
        d = months_before(self.today.replace(day=1), -1)
        return _Point("month", d.year, a=d.month)

    def _week(self, weeks_ago: int) -> _Point:
        """Monday to Sunday, `weeks_ago` weeks before this one (negative: ahead)."""
        monday = self.today - dt.timedelta(days=self.today.weekday() + 7 * weeks_ago)
        return _Point("week", None, lo=monday, hi=monday + dt.timedelta(days=6))

    def this_week(self, *_):
        return self._week(0)

    def last_week(self, *_):
        return self._week(1)

    def next_week(self, *_):
        return self._week(-1)

    def yesterday(self, tok):
        d = self.today - dt.timedelta(days=2 if str(tok) == "anteayer" else 1)
        return _Point("day", None, lo=d, hi=d)

    def now(self, *_):
        return _Point("day", None, lo=self.today, hi=self.today)

    def unit(self, tok):
        return tok.type

    # ---- expressions
    def _points(self, items) -> list[_Point]:
        return [i for i in items if isinstance(i, _Point)]

    def _years(self, pts: list[_Point]) -> tuple[int, int]:
        """Default years of two ends: each borrows the other's, else this year."""
        y0 = pts[0].year if pts[0].year is not None else (pts[1].year or self.today.year)
        y1 = pts[1].year if pts[1].year is not None else (pts[0].year or self.today.year)
        return y0, y1

    def daynum(self, tok):
        return self.ord(tok) if tok.type == "ORD" else _num(str(tok))

    def day_range(self, *items):
        """ "del 10 al 20 de abril", "entre el 1ro y el 15 de marzo de 2024": the first day borrows
        the month and year of the second."""
        first = next(i for i in items if isinstance(i, int))
        end = self._points(items)[0]
        if end.kind != "day" or end.lo is not None:
            raise ValueError("a bare day needs a day with its month after it")
        year = end.year if end.year is not None else self.today.year
        return dt.date(year, end.a, first), end.span(year)[1], None

    def range(self, *items):
        p = self._points(items)
        y0, y1 = self._years(p)
        lo, hi = p[0].span(y0)[0], p[1].span(y1)[1]
        if lo > hi:  # "entre 2023 y 2020"
            lo, hi = p[1].span(y1)[0], p[0].span(y0)[1]
        return lo, hi, None

    def since(self, *items):
        p = self._points(items)
        if p:
            return p[0].span(self.today.year)[0], None, None
        return self._ago(items), None, None

    def _ago(self, items) -> dt.date:
        n = _num(next(i for i in items if isinstance(i, Token) and i.type == "NUM"))
        unit = next(i for i in items if isinstance(i, str) and not isinstance(i, Token))
        months = {"ANO": 12 * n, "SEMESTRE": 6 * n, "TRIMESTRE": 3 * n, "MES": n, "MESES": n}.get(unit)
        if months is not None:
            return months_before(self.today, months)
        return self.today - dt.timedelta(days=n * (7 if unit == "SEMANA" else 1))

    def until(self, *items):
        return None, self._points(items)[0].span(self.today.year)[1], None

    def before(self, *items):
        return None, self._points(items)[0].span(self.today.year)[0] - dt.timedelta(days=1), None

    def after(self, *items):
        return self._points(items)[0].span(self.today.year)[1] + dt.timedelta(days=1), None, None

    def within(self, *items):
        p = self._points(items)[0]
        if p.whole_year and p.year is not None:
            return None, None, p.year
        lo, hi = p.span(self.today.year)
        return lo, hi, None

    def last(self, *items):
        if not any(isinstance(i, Token) and i.type == "NUM" for i in items):  # "el último año"
            items = (*items, Token("NUM", "1"))
        return self._ago(items), self.today, None

    def so_far(self, *items):
        if any(isinstance(i, Token) and i.type == "SEMANA" for i in items):
            return self._week(0).lo, self.today, None
        if any(isinstance(i, Token) and i.type == "MES" for i in items):
            return self.today.replace(day=1), self.today, None
        return dt.date(self.today.year, 1, 1), self.today, None

    def start(self, value):
        return value


def find(text: str, today: dt.date) -> list[Found]:
    """Every date expression in folded text (lower case, no accents, numbers as digits), left to right."""
    toks = _two_digit_years(
        [(m.start(), m.end(), m.group(0), _classify(m.group(0))) for m in _TOKEN_RE.finditer(text)], today
    )
    parser = _parser()
    out: list[Found] = []
    i = 0
    budget = [_BUDGET]
    while i < len(toks) and budget[0] > 0:
        best = _longest(parser, toks, i, today, budget)
        if best is None:
            i += 1
            continue
        j, (lo, hi, year) = best
        out.append(Found(toks[i][0], toks[j - 1][1], lo, hi, year))
        i = j
    return out


# Before a bare two-digit number these make it a year: "marzo del 23", "año 21", "a partir del 21",
# "del 2016 al 18". After the article "el" only these do: "en el 19", "entre el 22 y el 24".
_YEAR_AFTER = frozenset(["DEL", "AL", "ANO"])
_YEAR_AFTER_EL = frozenset(["EN", "DESDE", "HASTA", "ENTRE", "Y"])
_PERIODS = frozenset(["MONTH", "SEMESTRE", "TRIMESTRE", "CUATRIMESTRE"])


def _two_digit_years(toks: list, today: dt.date) -> list:
    """Two-digit years spoken in Argentina ("del 22", "año 21", "en el 19") become YEAR tokens when
    the words around them put them where a year goes. A number followed by a month ("del 3 de
    marzo", "del 10 al 20 de abril") stays a day; norm numbers never get here (read before dates).
    00 .. next year's two digits is 20yy, the rest 19yy."""
    out = list(toks)
    for k, (start, end, word, _kind) in enumerate(toks):
        if not (word.isdigit() and len(word) == 2) or k == 0:
            continue
        prev, prev2 = toks[k - 1], toks[k - 2] if k >= 2 else None
        kind2 = prev2[3] if prev2 else None
        yearish = (
            prev[3] in _YEAR_AFTER
            or (prev[3] == "DE" and kind2 in _PERIODS)
            or (prev[2] == "el" and kind2 in _YEAR_AFTER_EL)
            or (prev[3] in ("Y", "A", "HASTA") and kind2 == "YEAR")
        )
        if not yearish or _day_follows(toks, k):
            continue
        out[k] = (start, end, str(two_digit_year(int(word), today)), "YEAR")
    return out


def two_digit_year(yy: int, today: dt.date) -> int:
    """22 -> 2022: 00 up to next year's two digits are this century, the rest the last one (98 -> 1998)."""
    return 2000 + yy if yy <= today.year % 100 + 1 else 1900 + yy


def _day_follows(toks: list, k: int) -> bool:
    """Is the number at k a day: "3 de marzo", "3 marzo", or "10" in "del 10 al 20 de abril"?"""
    kinds = [t[3] for t in toks[k + 1 : k + 6]] + [None] * 5
    if kinds[0] == "MONTH" or (kinds[0] == "DE" and kinds[1] == "MONTH"):
        return True
    if kinds[0] in ("Y", "AL", "A", "HASTA"):
        rest = kinds[2:] if kinds[1] == "ART" else kinds[1:]
        return rest[0] == "NUM" and (rest[1] == "MONTH" or (rest[1] == "DE" and rest[2] == "MONTH"))
    return False


# Parser steps one question may cost: a real question needs a few dozen; 2,000 characters of
# "desde el 1/1/2023 hasta el …" would otherwise cost hundreds of milliseconds.
_BUDGET = 400
# Terminals an expression can end with: only after one of them is a complete parse worth trying.
_ENDERS = frozenset(
    [
        "YEAR",
        "MONTH",
        "DMY",
        "ANO",
        "PASADO",
        "HOY",
        "FECHA",
        "MES",
        "MESES",
        "SEMANA",
        "DIA",
        "SEMESTRE",
        "TRIMESTRE",
        "CUATRIMESTRE",
        "ADELANTE",
        "AYER",
        "ANTEPASADO",
        "VIENE",
        "PROXIMO",
        "ACA",
    ]
)
# Words that start an expression only together with what follows them.
_LEAD_ONLY = frozenset(
    [
        "ART",
        "DE",
        "DEL",
        "EN",
        "A",
        "ESTE",
        "ANTES",
        "DESPUES",
        "DESDE",
        "HASTA",
        "ENTRE",
        "HACE",
        "ULTIMOS",
        "POSTERIOR",
        "ANTERIORES",
        "PASADO",
        "PROXIMO",
    ]
)


def _longest(parser: Lark, toks, i: int, today: dt.date, budget: list[int]):
    """(end index, meaning) of the longest expression starting at token i, or None."""
    kind = toks[i][3]
    if kind is None or kind in ("Y", "AL", "QUE", "LO", "VA", "PARTIR", "PARA", "ACA", "VIENE", "ANTEPASADO"):
        return None
    if kind in _LEAD_ONLY and (i + 1 >= len(toks) or toks[i + 1][3] is None):
        return None  # "de", "la", "en" before an ordinary word: nothing to parse (most of the text)
    ip = parser.parse_interactive()
    best = None
    for j in range(i, min(len(toks), i + 14)):
        kind = toks[j][3]
        if kind is None:
            break
        budget[0] -= 1
        if budget[0] <= 0:
            break
        try:
            ip.feed_token(Token(kind, toks[j][2]))
        except LarkError:
            break
        if kind not in _ENDERS:
            continue
        try:
            tree = ip.copy().feed_eof()
        except LarkError:
            continue
        try:
            meaning = _Meaning(today.replace()).transform(tree)
        except (LarkError, ValueError):
            continue
        if meaning[0] and meaning[1] and meaning[0] > meaning[1]:
            continue
        best = (j + 1, meaning)
    return best
