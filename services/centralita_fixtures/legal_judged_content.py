"""Judged search_content questions *with explicit filters* (what the voice model sends), for tests and
bench/legal.py. Test/bench data, not product code.

Grades come from how each document was generated (its topic and subtopic), never from any search:
2 = passes the filters and is about the asked subtopic, 1 = passes the filters and is on the same
topic, 0 = anything else (including documents that only *mention* the topic in a considerando).
Wordings are varied on purpose: the written one, a spoken one, the topic's label, a verb for a noun,
with and without the municipality repeated in the text, with and without accents.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from centralita_fixtures.legal_quality import SPOKEN_QUESTIONS, SUBTOPIC_QUESTIONS, TYPE_PLURAL
from centralita_fixtures.legal_sample import TOPICS, Truth
from legal_search.text import fold

# Extra wordings per topic, the way a caller asks when a municipality or type is already chosen.
TOPIC_WORDINGS = {
    "sueldos": ["sueldos del personal", "cuánto cobran los empleados municipales", "salarios"],
    "transito": ["tránsito", "normas de transito y multas", "reglas para circular"],
    "habilitaciones": ["habilitaciones", "habilitar un negocio", "permisos para abrir un local"],
    "tasas": ["tasas municipales", "cuánto se paga de tasas", "impuestos municipales"],
    "salud": ["salud", "centros de salud y hospital", "campañas sanitarias"],
    "educacion": ["educación", "escuelas y estudiantes", "educacion publica"],
    "obras": ["obras públicas", "obras en las calles", "obras de infraestructura"],
    "ambiente": ["medio ambiente", "cuidado del ambiente", "contaminacion y residuos"],
    "presupuesto": ["presupuesto", "gastos del municipio", "presupuesto municipal"],
    "cultura": ["cultura", "actividades culturales", "cultura y patrimonio"],
    "deportes": ["deportes", "deporte y clubes", "actividades deportivas"],
    "seguridad": ["seguridad", "seguridad en los barrios", "prevención del delito"],
}


@dataclass
class FilteredQuestion:
    text: str
    filters: dict  # keyword arguments of legal_search.filters.build
    relevance: dict[str, int] = field(default_factory=dict)
    kind: str = ""  # subtopic | topic (what grade 2 means)


def _passes(t: Truth, f: dict) -> bool:
    if "municipality" in f and t.municipality != f["municipality"]:
        return False
    if "type" in f and t.type != f["type"]:
        return False
    if "year" in f and t.year != f["year"]:
        return False
    if "date_from" in f and t.date < f["date_from"]:
        return False
    return not ("date_to" in f and t.date > f["date_to"])


def _filters(rng: random.Random, t: Truth) -> dict:
    """Filters that the document `t` passes: the shapes a voice model sends."""
    shape = rng.randrange(6)
    if shape == 0:
        return {"municipality": t.municipality}
    if shape == 1:
        return {"municipality": t.municipality, "type": t.type}
    if shape == 2:
        a = max(2015, t.year - rng.randint(0, 2))
        return {"municipality": t.municipality, "date_from": f"{a}-01-01", "date_to": f"{a + 2}-12-31"}
    if shape == 3:
        return {"type": t.type, "year": t.year}
    if shape == 4:
        return {"municipality": t.municipality, "year": t.year}
    return {"type": t.type, "date_from": f"{t.year}-01-01", "date_to": f"{t.year}-12-31"}


def _wording(rng: random.Random, t: Truth, by_subtopic: bool) -> str:
    if by_subtopic:
        options = [SUBTOPIC_QUESTIONS.get((t.topic, t.subtopic)), SPOKEN_QUESTIONS.get((t.topic, t.subtopic))]
        options = [o for o in options if o]
        return rng.choice(options)
    return rng.choice([TOPICS[t.topic]["label"], *TOPIC_WORDINGS[t.topic]])


def filtered_questions(truths: Sequence[Truth], n: int = 240, seed: int = 17) -> list[FilteredQuestion]:
    """`n` questions, each with at least one grade-2 document among `truths`; deterministic."""
    rng = random.Random(seed)
    pool = sorted(truths, key=lambda t: t.id)
    out: list[FilteredQuestion] = []
    while len(out) < n:
        t = rng.choice(pool)
        f = _filters(rng, t)
        by_subtopic = rng.random() < 0.6
        text = _wording(rng, t, by_subtopic)
        style = rng.randrange(4)
        if style == 1 and "municipality" in f:
            text = f"{text} en {f['municipality']}"  # the voice model repeats what it filtered on
        elif style == 2 and "type" in f:
            text = f"{TYPE_PLURAL[t.type]} sobre {text}"
        elif style == 3:
            text = fold(text)  # speech-to-text without accents
        rel = {}
        for d in truths:
            if not _passes(d, f) or d.topic != t.topic:
                continue
            rel[d.id] = 2 if (not by_subtopic or d.subtopic == t.subtopic) else 1
        if rel:
            out.append(FilteredQuestion(text, f, rel, "subtopic" if by_subtopic else "topic"))
    return out
