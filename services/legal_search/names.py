"""Finding municipality names in free Spanish text, matched against the names in the database.

People and transcripts name a partido many ways: "3 de Febrero" or "tres de febrero" for Tres de
Febrero, "Gral. San Martín", "Cnel Suárez", "Pte. Perón", no accents, a slip ("Pergamno"), or a
short form ("Villegas", "San Martín", "Giles") when no other municipality shares it. Names and text
meet in one canonical form (folded, abbreviations expanded, numbers as digits); exact phrases are
found first, then rapidfuzz compares the remaining words with a cutoff high enough that near
neighbours (Morón/Moreno, Coronel Suárez/Coronel Dorrego) are never confused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from legal_search.dates import MONTHS
from legal_search.spoken import digits
from legal_search.text import normalize

# Honorifics that start many partido names and that people drop ("Villegas" for General Villegas).
_TITLES = (
    "general",
    "coronel",
    "teniente",
    "presidente",
    "almirante",
    "doctor",
    "gobernador",
    "ingeniero",
    "capitan",
    "comandante",
    "intendente",
    "coronel de marina",
)
# Abbreviations beyond the shared ones in legal_search.text (those also build database keys).
_ABBREVIATIONS = {
    "gdor": "gobernador",
    "gob": "gobernador",
    "dr": "doctor",
    "ing": "ingeniero",
    "cap": "capitan",
    "cmte": "comandante",
    "cte": "comandante",
    "pres": "presidente",
    "presid": "presidente",
    "tte": "teniente",
    "tnte": "teniente",
    "grl": "general",
    "gnral": "general",
    "gral": "general",
    "cnel": "coronel",
    "crnel": "coronel",
}
_ABBREV_RE = re.compile(r"\b(" + "|".join(_ABBREVIATIONS) + r")\b")


def _set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Words that are never (part of) a municipality slip: they are what questions are made of.
_COMMON = _set(
    "de del la las los el en y a al por para con sin que cual cuales cuantas cuantos cuanto cuanta hay "
    "ordenanza ordenanzas decreto decretos resolucion resoluciones disposicion disposiciones convenio "
    "convenios normativa normativas norma normas municipio municipios partido partidos vigente vigentes "
    "derogada derogadas derogado derogados modificada modificadas entre desde hasta antes despues "
    "numero mas menos lista listame total cantidad perdon digo mejor dicho gracias favor "
    "dame decime mostrame muestra ultimas ultimos primeras primeros semestre trimestre ano anos mes meses "
    "tiene tienen tuvo hubo sobre este esta estos estas pasado compara comparar comparame versus"
) | frozenset(MONTHS)
_DATE_BEFORE = _set("el desde hasta entre al antes despues partir")
_NAME_BEFORE = _set("de en del partido municipio municipalidad")
_YEARISH = re.compile(r"^\s*(?:de\s+|del\s+)?(?:19|20)\d\d\b")
# rapidfuzz ratio (0-100) a slip must reach: 82 lets "tres arrollos" (3 arroyos, 84) and "bahia blaca"
# through while Morón/Moreno (73) and General Paz/General Pinto (83, but an exact name wins first)
# stay apart; short phrases, where one letter weighs more, need 90.
_FUZZ_CUTOFF = 82.0
_FUZZ_SHORT_CUTOFF = 90.0
_FUZZ_MARGIN = 4.0  # the best name must beat the next one by this much


_THOUSANDS = re.compile(r"(?<=\d)\.(?=\d{3}\b)")
_DATE_SEP = re.compile(r"(?<=\d)[/.-](?=\d)")
_KEPT_SEP = re.compile(r"(?<=\d)qq(?=\d)")


def canonical(text: str) -> str:
    """The form names and questions are compared in: normalised, abbreviations expanded, digits.
    Separators inside numbers survive ("1/1/2023", "640/2017"): dates and numbers need them."""
    t = _DATE_SEP.sub("qq", _THOUSANDS.sub("", text))
    t = _KEPT_SEP.sub("/", normalize(t))
    t = _ABBREV_RE.sub(lambda m: _ABBREVIATIONS[m.group(1)], t)
    return digits(t)


@dataclass(frozen=True)
class Match:
    key: str  # normalize(display name): the municipality's comparison key
    name: str  # its display name
    start: int
    end: int
    fuzzy: bool = False


class Gazetteer:
    """The known municipalities (from the database) and the phrases that name them."""

    def __init__(self, names: list[str]) -> None:
        self.display: dict[str, str] = {}
        phrases: dict[str, str] = {}
        for name in names:
            key = normalize(name)
            if not key:
                continue
            self.display.setdefault(key, name)
            phrases[canonical(name)] = key
        short: dict[str, set[str]] = {}
        for phrase, key in list(phrases.items()):
            for form in _short_forms(phrase):
                short.setdefault(form, set()).add(key)
        for form, keys in short.items():
            if len(keys) == 1 and form not in phrases:
                phrases[form] = next(iter(keys))
        self._phrase_key = phrases
        self._phrases = list(phrases)
        ordered = sorted(phrases, key=len, reverse=True)
        self._re = re.compile(r"\b(" + "|".join(re.escape(p) for p in ordered) + r")\b") if ordered else None
        self._max_words = max((p.count(" ") + 1 for p in phrases), default=1)

    def find(self, text: str) -> list[Match]:
        """Municipalities named in `canonical` text, in order of appearance, without repeats."""
        if self._re is None:
            return []
        found: list[Match] = []
        for m in self._re.finditer(text):
            if _looks_like_date(text, m.start(), m.end(), m.group(1)):
                continue
            key = self._phrase_key[m.group(1)]
            found.append(Match(key, self.display[key], m.start(), m.end()))
        found.extend(self._fuzzy(text, [(m.start, m.end) for m in found]))
        found.sort(key=lambda m: m.start)
        out, seen = [], set()
        for m in found:
            if m.key not in seen:
                seen.add(m.key)
                out.append(m)
        return out

    def _fuzzy(self, text: str, taken: list[tuple[int, int]]) -> list[Match]:
        """Spelling slips: windows of uncovered words close to exactly one known phrase."""
        words = [(m.start(), m.end(), m.group(0)) for m in re.finditer(r"\w+", text)]
        free = [not any(s < e2 and e > s2 for s2, e2 in taken) for s, e, _ in words]
        out: list[Match] = []
        for size in range(min(self._max_words, 4), 0, -1):
            for i in range(len(words) - size + 1):
                window = words[i : i + size]
                if not all(free[i : i + size]):
                    continue
                if (
                    window[0][2] in _COMMON
                    or window[-1][2] in _COMMON
                    or any(w[2].isdigit() and len(w[2]) > 2 for w in window)
                ):
                    continue
                phrase = " ".join(w[2] for w in window)
                if len(phrase) < 5:
                    continue
                best = process.extract(
                    phrase, self._phrases, scorer=fuzz.ratio, limit=2, score_cutoff=_FUZZ_CUTOFF - _FUZZ_MARGIN
                )
                cutoff = _FUZZ_SHORT_CUTOFF if len(phrase) < 7 else _FUZZ_CUTOFF
                if not best or best[0][1] < cutoff or best[0][0][0] != phrase[0]:
                    continue
                if (
                    len(best) > 1
                    and self._phrase_key[best[1][0]] != self._phrase_key[best[0][0]]
                    and best[0][1] - best[1][1] < _FUZZ_MARGIN
                ):
                    continue  # two different municipalities are about as close: do not guess
                key = self._phrase_key[best[0][0]]
                out.append(Match(key, self.display[key], window[0][0], window[-1][1], fuzzy=True))
                for k in range(i, i + size):
                    free[k] = False
        return out


def _short_forms(phrase: str) -> list[str]:
    """ "villegas" for "general villegas", "giles" for "san andres de giles", "general madariaga" and
    "madariaga" for "general juan madariaga", "gesell" for "villa gesell", "lomas" for "lomas de
    zamora" (never a month, a number or a common word, never shorter than four letters)."""
    forms = []
    words = phrase.split()
    for title in (*_TITLES, "villa"):
        if phrase.startswith(title + " "):
            forms.append(phrase[len(title) + 1 :])
            # a person's name (General Juan Madariaga): title + surname, or the surname; not a saint's
            # or a place's (General San Martín is never "Martín")
            if len(words) >= 3 and title != "villa" and words[1] not in ("san", "santa", "santo", "la", "de"):
                forms += [f"{title} {words[-1]}", words[-1]]
    if " de " in phrase:  # "Lomas" and "Zamora" for Lomas de Zamora, "Giles" for San Andrés de Giles
        forms.append(phrase.rsplit(" de ", 1)[1])
        forms.append(phrase.split(" de ", 1)[0])
    return [f for f in forms if len(f) >= 4 and f not in _COMMON and not f.isdigit()]


def _looks_like_date(text: str, start: int, end: int, phrase: str) -> bool:
    """ "3 de febrero de 2024" is a date even though Tres de Febrero is a municipality."""
    if not any(w in MONTHS for w in phrase.split()):
        return False
    before = (text[:start].split()[-1:] or [""])[0]
    if before in _DATE_BEFORE:
        return True
    return before not in _NAME_BEFORE and bool(_YEARISH.match(text[end:]))
