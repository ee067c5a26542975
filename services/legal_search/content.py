"""search_content: Spanish question -> bounded index query + metadata filters -> ranked hits with snippets.

User text is never given to a query parser: words are extracted with a plain regex and turned into
Term objects, so quotes, `title:`, `*`, AND/OR/NOT or a trailing `?` are just characters.
Metadata the question names (municipality, type, number, year) becomes *soft* filters: applied, and
dropped again if nothing matches with them. Filters sent as arguments are hard.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from sqlalchemy import Engine

from legal_search import store
from legal_search.analysis import es_term
from legal_search.errors import InvalidArgument
from legal_search.filters import Filters
from legal_search.names import Gazetteer
from legal_search.nlq import detect
from legal_search.searcher import FilterSpec, ShardHits, TermGroup
from legal_search.snippets import snippet
from legal_search.text import clean, fold

MAX_QUERY = 2000
DEFAULT_LIMIT, MAX_LIMIT = 10, 50
_WORD = re.compile(r"\w+")
# Words that frame a question but say nothing about the topic.
_QUESTION_TEXT = """
    dice dicen decir habla hablan hablen trata tratan establece establecen regula regulan sobre acerca
    normativa normativas norma normas documento documentos texto buscar busco busca quiero saber
    informacion alguna algunas alguno algunos algun hay existe existen tiene tienen municipio municipios
    municipalidad partido qué que cual cuales cuál cuáles donde dónde como cómo cuando cuándo menciona mencionan
"""
QUESTION_WORDS = frozenset(fold(w) for w in _QUESTION_TEXT.split())


@dataclass
class Hit:
    id: str
    municipality: str
    type: str
    number: str
    year: int
    title: str
    url: str
    score: float
    snippet: str


@dataclass
class SearchOutcome:
    total_hits: int = 0
    results: list[Hit] = field(default_factory=list)
    relaxed: bool = False


@dataclass
class Plan:
    groups: list[TermGroup]
    hard: FilterSpec
    soft: FilterSpec


def plan(text: str, hard: Filters, gazetteer: Gazetteer) -> Plan:
    """Terms to match and filters to apply for one question."""
    det = detect(text, gazetteer)
    soft = hard.merged(Filters())  # copy
    d = det.filters
    if not hard.municipalities and d.municipalities:
        soft.municipalities = d.municipalities
    for name in ("type", "number", "year"):
        if getattr(hard, name) is None and getattr(d, name) is not None:
            setattr(soft, name, getattr(d, name))
    used = det.used | QUESTION_WORDS
    groups: list[TermGroup] = []
    seen: set[str] = set()
    for m in _WORD.finditer(text.lower()):
        word = m.group(0)
        folded = fold(word)
        if folded in used or len(word) > 60:
            continue
        term = es_term(word)
        if term is None or term in seen:
            continue
        seen.add(term)
        groups.append(TermGroup(term, number_variants(word, term)))
    return Plan(groups, hard.to_spec(), soft.to_spec())


_VOWELS = frozenset("aeiouáéíóú")


def number_variants(word: str, term: str) -> tuple[str, ...]:
    """Index terms of the word's other grammatical number when the stemmer keeps them apart
    ("préstamos" -> prest but "préstamo" -> prestam; "obras" -> obras but "obra" -> obra)."""
    forms = []
    if word.endswith("s") and len(word) > 3:
        forms.append(word[:-1])
    elif word[-1:] in _VOWELS:
        forms.append(word + "s")
    elif word[-1:].isalpha():
        forms.append(word + "es")
    out = []
    for form in forms:
        t = es_term(form)
        if t and t != term and t not in out:
            out.append(t)
    return tuple(out)


def validate(text: str, limit: int | None) -> tuple[str, int]:
    if len(text) > MAX_QUERY:
        raise InvalidArgument(f"La consulta es demasiado larga (máximo {MAX_QUERY} caracteres).")
    if limit is not None and limit < 0:
        raise InvalidArgument("El límite de resultados no puede ser negativo.")
    return clean(text).strip(), min(limit or DEFAULT_LIMIT, MAX_LIMIT)


def search(engine: Engine, searcher, gazetteer: Gazetteer, text: str, hard: Filters,
           limit: int | None) -> SearchOutcome:
    text, limit = validate(text, limit)
    if not text and hard.is_empty():
        raise InvalidArgument("La consulta está vacía: indique qué busca en el texto de las normativas.")
    p = plan(text, hard, gazetteer)
    if not p.groups and p.soft == p.hard and p.hard.is_empty():
        return SearchOutcome()  # only stop words: nothing to look for
    found = searcher.search(p.groups, p.soft, limit)
    relaxed = False
    if found.total == 0 and p.soft.number and p.groups:
        # "¿qué dice la disposición 43 de Tandil sobre X?": the named norm, even if X is worded otherwise
        found = searcher.search([], p.soft, limit)
        relaxed = found.total > 0
    if found.total == 0 and p.soft != p.hard and (p.groups or not p.hard.is_empty()):
        found = searcher.search(p.groups, p.hard, limit)
        relaxed = True
    elif 0 < len(found.hits) < limit and p.groups and not relaxed and (
            p.soft.year != p.hard.year or p.soft.number != p.hard.number or p.soft.type != p.hard.type):
        # Few exact matches for the year, number or type read from the question: the best on the same
        # subject (same municipality) follow them; year and type stay visible in every result.
        wider_spec = replace(p.soft, year=p.hard.year, number=p.hard.number, type=p.hard.type)
        wider = searcher.search(p.groups, wider_spec, limit)
        seen = {doc_id for _, doc_id in found.hits}
        extra = [h for h in wider.hits if h[1] not in seen][: limit - len(found.hits)]
        found = ShardHits(total=max(wider.total, found.total), hits=found.hits + extra)
    rows = store.load_hits(engine, [doc_id for _, doc_id in found.hits])
    terms = {t for g in p.groups for t in g.terms()}
    out = SearchOutcome(total_hits=found.total, relaxed=relaxed)
    for score, doc_id in found.hits:
        row = rows.get(doc_id)
        if row is None:  # deleted between index and database reads
            continue
        body = store.body_text(row)
        out.results.append(Hit(row.id, row.municipality, row.type, row.number, row.year, row.title, row.url,
                               round(score, 4), snippet(body, terms)))
    return out
