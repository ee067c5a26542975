"""search_content: Spanish question -> bounded index query + metadata filters -> ranked hits with snippets.

User text is never given to a query parser: words are extracted with a plain regex and turned into
Term objects, so quotes, `title:`, `*`, AND/OR/NOT or a trailing `?` are just characters.
Metadata the question names (municipality, type, number, year) becomes *soft* filters: applied, and
dropped again if nothing matches with them. Filters sent as arguments are hard and never narrowed.

A searchable request is never refused: with no words to look for but some filters, the filtered norms
are listed newest first (from SQL); a long text is searched on its first MAX_WORDS words. Either way
`interpretation` says so. The work per request is bounded by MAX_WORDS and MAX_GROUPS, whatever the
input (thousands of words, repeated words, huge tokens).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field, replace

from sqlalchemy import Engine, func, select

from legal_search import store
from legal_search.analysis import es_term, word_terms
from legal_search.errors import InvalidArgument
from legal_search.filters import Filters
from legal_search.metadata import describe_filters, where
from legal_search.models import Normativa
from legal_search.names import Gazetteer
from legal_search.nlq import detect
from legal_search.searcher import FilterSpec, ShardHits, TermGroup
from legal_search.snippets import snippet
from legal_search.text import clean, fold

MAX_QUERY = 2000  # characters of a metadata question (query_metadata_sql)
MAX_WORDS = 60  # a longer search text is searched on its first MAX_WORDS words
MAX_GROUPS = 24  # distinct index terms looked up per question (each costs a lexicon lookup per shard)
MAX_TOKEN = 60  # longer "words" (hashes, base64, a key held down) are not words
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
    interpretation: str = ""


@dataclass
class Plan:
    groups: list[TermGroup]
    hard: FilterSpec
    soft: FilterSpec
    read: Filters = field(default_factory=Filters)  # what the question added on top of the arguments
    soft_filters: Filters = field(default_factory=Filters)


def plan(text: str, hard: Filters, gazetteer: Gazetteer) -> Plan:
    """Terms to match and filters to apply for one question (text already bounded by `shorten`).

    Words of the question only fill filters the arguments left empty (explicit filters win).
    """
    det = detect(text, gazetteer)
    soft = hard.merged(Filters())  # copy
    read = Filters()
    d = det.filters
    if not hard.municipalities and d.municipalities:
        soft.municipalities = read.municipalities = d.municipalities
    dated = hard.year is not None or hard.date_from is not None or hard.date_to is not None
    for name in ("type", "number", "year"):
        if getattr(hard, name) is None and getattr(d, name) is not None and not (name == "year" and dated):
            setattr(soft, name, getattr(d, name))
            setattr(read, name, getattr(d, name))
    used = det.used | QUESTION_WORDS
    groups: list[TermGroup] = []
    seen: set[str] = set()
    for m in _WORD.finditer(text.lower()):
        word = m.group(0)
        if len(word) > MAX_TOKEN or fold(word) in used:
            continue
        term = es_term(word)
        if term is None or term in seen:
            continue
        seen.add(term)
        groups.append(TermGroup(term, number_variants(word, term)))
        if len(groups) >= MAX_GROUPS:
            break
    return Plan(groups, hard.to_spec(), soft.to_spec(), read, soft)


def shorten(text: str) -> tuple[str, bool]:
    """The text up to its MAX_WORDS-th word (True if cut). Linear in the input, whatever it holds."""
    for n, m in enumerate(_WORD.finditer(text), 1):
        if n == MAX_WORDS:
            cut = text[: m.end()]
            return cut, _WORD.search(text, m.end()) is not None
    return text, False


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


def validate(text: str, limit: int | None) -> tuple[str, int, bool]:
    """(bounded clean text, limit, whether the text was cut to its first words)."""
    if limit is not None and limit < 0:
        raise InvalidArgument("El límite de resultados no puede ser negativo.")
    text, cut = shorten(text)
    return clean(text).strip(), min(limit or DEFAULT_LIMIT, MAX_LIMIT), cut


def _notes(p: Plan, hard: Filters, cut: bool) -> list[str]:
    notes = []
    if cut:
        notes.append(f"La consulta era muy larga: busqué por sus primeras {MAX_WORDS} palabras.")
    if not hard.is_empty():
        notes.append(f"Filtros indicados: normativas {describe_filters(hard)}.")
    if not p.read.is_empty():
        notes.append(f"Leído en la pregunta: normativas {describe_filters(p.read)}.")
    return notes


def newest(engine: Engine, f: Filters, limit: int) -> tuple[int, list]:
    """(count, newest `limit` rows) of the norms a filter set allows: SQL, the source of truth."""
    conds = where(f)
    with engine.connect() as conn:
        total = int(conn.execute(select(func.count()).select_from(Normativa).where(*conds)).scalar_one())
        ids = [
            r
            for (r,) in conn.execute(
                select(Normativa.id).where(*conds).order_by(Normativa.date.desc(), Normativa.id.desc()).limit(limit)
            )
        ]
    return total, ids


def _listing(engine: Engine, p: Plan, hard: Filters, limit: int, notes: list[str]) -> SearchOutcome:
    """No words to look for, but filters: the filtered norms, newest first (question filters dropped
    again when nothing has them)."""
    f = p.soft_filters
    total, ids = newest(engine, f, limit)
    if total == 0 and not p.read.is_empty() and not hard.is_empty():
        notes.append(f"Ninguna normativa {describe_filters(p.read)}; quité ese filtro leído de la pregunta.")
        f = hard
        total, ids = newest(engine, f, limit)
    notes.append(
        f"Sin palabras que buscar en el texto: normativas {describe_filters(f)}, "
        f"de la más reciente a la más antigua ({total} en total)."
    )
    out = _hits(engine, [(0.0, i) for i in ids], set(), total)
    out.interpretation = " ".join(notes)
    return out


def _hits(engine: Engine, hits: list[tuple[float, str]], terms: set[str], total: int) -> SearchOutcome:
    rows = store.load_hits(engine, [doc_id for _, doc_id in hits])
    out = SearchOutcome(total_hits=total)
    for score, doc_id in hits:
        row = rows.get(doc_id)
        if row is None:  # deleted between index and database reads
            continue
        out.results.append(
            Hit(
                row.id,
                row.municipality,
                row.type,
                row.number,
                row.year,
                row.title,
                row.url,
                round(score, 4),
                snippet(row.body, terms, key=row.body_key),
            )
        )
    return out


FEEDBACK_DOCS = 3  # best hits whose words suggest related norms
FEEDBACK_TERMS = 6  # words added to the question
FEEDBACK_WEIGHT = 0.3  # their weight against the caller's own words
FEEDBACK_CHARS = 2000  # a norm says what it is about up front; the tail is formula and annexes
FEEDBACK_WEAK = 0.2  # hits scoring under this share of the best count as free places for feedback
FEEDBACK_MIN_SHARE = 0.5  # a hit feeds back only if it scores at least this share of the best one
_CALENDAR = """enero febrero marzo abril mayo junio julio agosto septiembre setiembre octubre noviembre diciembre
    lunes martes miércoles jueves viernes sábado domingo"""
_CALENDAR_TERMS = frozenset(t for w in _CALENDAR.split() for t in word_terms(w))
_DIGIT = re.compile(r"\d")


def lead_terms(row: store.HitRow) -> Counter[str]:
    """Term counts of a norm's title and lead (VISTO, considerandos, first articles), kept with the row."""
    if row.lead_terms is None:
        lead = f"{row.title}\n{row.content[:FEEDBACK_CHARS]}"
        row.lead_terms = Counter(
            t for m in _WORD.finditer(lead.lower()) for t in word_terms(m.group(0)) if not _DIGIT.search(t)
        )
    return row.lead_terms


def related(
    engine: Engine, searcher, groups: list[TermGroup], spec: FilterSpec, found: ShardHits, limit: int
) -> list[tuple[float, str]]:
    """Pseudo-relevance feedback: when few norms have the caller's words, the words that characterise the
    best of them (present in several, rare in the index: the issuing office, the subject's vocabulary)
    find norms on the same subject worded otherwise. They only fill the free places after the hits.

    Only hits scoring close to the best one are read (weak matches are often on another subject), and
    words every filtered norm shares by construction (the municipality's name, month names of dates)
    are left out.
    """
    best = found.hits[0][0]
    top = [doc_id for score, doc_id in found.hits[:FEEDBACK_DOCS] if score >= FEEDBACK_MIN_SHARE * best]
    rows = store.load_hits(engine, top)
    skip = {t for g in groups for t in g.terms()} | _CALENDAR_TERMS
    skip |= {t for m in spec.municipalities for w in m.split() for t in word_terms(w)}
    tf: Counter[str] = Counter()
    docs_with: Counter[str] = Counter()
    for row in rows.values():
        terms = lead_terms(row)
        tf.update(terms)
        docs_with.update(terms.keys())
    need = min(2, len(rows))
    candidates = [t for t, _ in tf.most_common() if docs_with[t] >= need and t not in skip and len(t) > 2][:30]
    if not candidates:
        return []
    n, dfs = searcher.doc_frequencies(candidates)
    scored = []
    for t, df in zip(candidates, dfs, strict=True):
        if 2 <= df <= n * 0.2:  # found elsewhere, but not in every norm
            scored.append((docs_with[t] * (1 + math.log(tf[t])) * math.log(n / df), t))
    scored.sort(reverse=True)
    extra = [TermGroup(t, (), FEEDBACK_WEIGHT) for _, t in scored[:FEEDBACK_TERMS]]
    if not extra:
        return []
    more = searcher.search([*groups, *extra], spec, limit)
    seen = {doc_id for _, doc_id in found.hits}
    return [h for h in more.hits if h[1] not in seen][: limit - len(found.hits)]


def search(
    engine: Engine, searcher, gazetteer: Gazetteer, text: str, hard: Filters, limit: int | None
) -> SearchOutcome:
    text, limit, cut = validate(text, limit)
    if not text and hard.is_empty():
        raise InvalidArgument(
            "La consulta está vacía: indique qué busca en el texto de las normativas "
            "o algún filtro (municipio, tipo, año, fechas)."
        )
    p = plan(text, hard, gazetteer)
    notes = _notes(p, hard, cut)
    if not p.groups:
        if p.soft_filters.is_empty():  # only stop words and no filter: nothing to look for
            return SearchOutcome(
                interpretation=" ".join([*notes, "La consulta no tiene palabras que buscar en el texto."])
            )
        return _listing(engine, p, hard, limit, notes)
    found = searcher.search(p.groups, p.soft, limit)
    spec = p.soft
    relaxed = False
    if found.total == 0 and p.soft.number and p.groups:
        # "¿qué dice la disposición 43 de Tandil sobre X?": the named norm, even if X is worded otherwise
        found = searcher.search([], p.soft, limit)
        relaxed = found.total > 0
    if found.total == 0 and p.soft != p.hard:
        found = searcher.search(p.groups, p.hard, limit)
        spec = p.hard
        relaxed = True
        notes.append(
            f"Nada coincidía con lo leído en la pregunta (normativas {describe_filters(p.read)}); "
            "busqué sin esos filtros."
        )
    if (
        0 < len(found.hits) < limit
        and p.groups
        and not relaxed
        and (p.soft.year != p.hard.year or p.soft.number != p.hard.number or p.soft.type != p.hard.type)
    ):
        # Few exact matches for the year, number or type read from the question: the best on the same
        # subject (same municipality) follow them; year and type stay visible in every result. Then, if
        # places remain, norms related to the best hits (feedback).
        wider_spec = replace(p.soft, year=p.hard.year, number=p.hard.number, type=p.hard.type)
        wider = searcher.search(p.groups, wider_spec, limit)
        seen = {doc_id for _, doc_id in found.hits}
        extra = [h for h in wider.hits if h[1] not in seen][: limit - len(found.hits)]
        found = ShardHits(total=max(wider.total, found.total), hits=found.hits + extra)
        if extra:
            notes.append(
                f"Pocas coincidencias exactas; siguen {len(extra)} del mismo tema sin el tipo, año o "
                "número leído en la pregunta."
            )
    strong = [h for h in found.hits if h[0] >= FEEDBACK_WEAK * found.hits[0][0]] if found.hits else []
    if 0 < len(strong) < limit and not relaxed and not spec.is_empty():
        # Within the norms the caller narrowed to (a municipality, type, dates), related ones are useful;
        # over the whole corpus the exact matches stand alone. Hits far weaker than the best (a common
        # word only) count as free places, and follow the related norms.
        weak = found.hits[len(strong) :]
        extra = related(engine, searcher, p.groups, spec, ShardHits(found.total, strong), limit)
        if extra:
            kept = {doc_id for _, doc_id in extra}
            rest = [h for h in weak if h[1] not in kept]
            found = ShardHits(total=found.total, hits=(strong + extra + rest)[:limit])
            notes.append(
                f"Solo {len(strong)} coinciden bien con esas palabras; siguen {len(extra)} de temas relacionados."
            )
    out = _hits(engine, found.hits, {t for g in p.groups for t in g.terms()}, found.total)
    out.relaxed = relaxed
    out.interpretation = " ".join(notes)
    return out
