"""The judged question sets, derived from the generator's ground truth (never from our own search or SQL).

Content questions carry graded relevance (2 = what was asked, 1 = same topic); metadata questions carry
the expected answer computed in plain Python over the generated records. Tests and bench/legal.py use both.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from centralita_fixtures.legal_sample import FIXED, TOPICS, Truth
from legal_search.text import fold, slug

TYPE_PLURAL = {
    "ordenanza": "ordenanzas",
    "decreto": "decretos",
    "resolucion": "resoluciones",
    "disposicion": "disposiciones",
    "convenio": "convenios",
}
# One paraphrase per subtopic, worded like a caller would (some without accents on purpose).
SUBTOPIC_QUESTIONS = {
    ("sueldos", "aumento"): "aumento de sueldo para los empleados municipales",
    ("sueldos", "antiguedad"): "¿Cuánto se paga de bonificación por antigüedad?",
    ("sueldos", "escalafon"): "escala salarial de las categorías del personal",
    ("transito", "estacionamiento"): "¿Cuánto cuesta el estacionamiento medido?",
    ("transito", "licencias"): "requisitos para sacar la licencia de conducir",
    ("transito", "velocidad"): "velocidad maxima en las avenidas",
    ("habilitaciones", "comercios"): "qué necesito para habilitar un comercio",
    ("habilitaciones", "gastronomicos"): "habilitación de bares y restaurantes",
    ("habilitaciones", "nocturnos"): "horario de cierre de boliches y locales bailables",
    ("tasas", "abl"): "tasa de alumbrado barrido y limpieza",
    ("tasas", "higiene"): "tasa de seguridad e higiene para comercios",
    ("tasas", "vial"): "tasa vial de caminos rurales por hectárea",
    ("salud", "vacunacion"): "campaña de vacunacion antigripal",
    ("salud", "dengue"): "fumigación contra el dengue",
    ("salud", "hospital"): "compra de equipamiento para el hospital",
    ("educacion", "becas"): "becas para estudiantes universitarios",
    ("educacion", "jardines"): "inscripción en jardines maternales",
    ("educacion", "fondo_educativo"): "en qué se usa el fondo educativo",
    ("obras", "pavimento"): "pavimentación de calles de barrio",
    ("obras", "licitacion"): "licitación de obras de cloacas",
    ("obras", "alumbrado"): "cambio a luminarias LED",
    ("ambiente", "residuos"): "separación de residuos reciclables",
    ("ambiente", "arbolado"): "poda de árboles en la vereda",
    ("ambiente", "agroquimicos"): "distancia para fumigar con agroquimicos",
    ("presupuesto", "general"): "presupuesto general de gastos del municipio",
    ("presupuesto", "ampliacion"): "ampliación de partidas del presupuesto",
    ("presupuesto", "endeudamiento"): "autorización para tomar un préstamo",
    ("cultura", "fiesta"): "fiesta popular declarada de interés municipal",
    ("cultura", "patrimonio"): "edificios declarados patrimonio histórico",
    ("cultura", "biblioteca"): "subsidios para bibliotecas populares",
    ("deportes", "clubes"): "ayuda económica a clubes de barrio",
    ("deportes", "polideportivo"): "reglamento del polideportivo",
    ("deportes", "maraton"): "corte de calles por la maratón",
    ("seguridad", "camaras"): "cámaras de videovigilancia",
    ("seguridad", "guardia_urbana"): "guardia urbana municipal",
    ("seguridad", "defensa_civil"): "plan de evacuación por inundaciones",
}


# A second wording per subtopic, the way people say it rather than the way norms are written
# (other inflections, verbs for nouns): what full-word matching misses and stemming should not.
SPOKEN_QUESTIONS = {
    ("sueldos", "aumento"): "le aumentaron el sueldo a los municipales",
    ("sueldos", "antiguedad"): "cuánto cobra por antigüedad un empleado",
    ("transito", "estacionamiento"): "cuánto sale estacionar en el centro",
    ("transito", "licencias"): "renovar el registro de conductor",
    ("transito", "velocidad"): "a qué velocidad se puede circular por las avenidas",
    ("habilitaciones", "comercios"): "habilitar un local comercial",
    ("habilitaciones", "gastronomicos"): "habilitaciones de restaurantes",
    ("tasas", "abl"): "cuánto se paga de alumbrado y barrido",
    ("salud", "vacunacion"): "dónde me vacuno contra la gripe",
    ("salud", "dengue"): "fumigaciones por el mosquito del dengue",
    ("educacion", "becas"): "becas para universitarios",
    ("educacion", "jardines"): "inscribir a mi hijo en el jardín maternal",
    ("obras", "pavimento"): "cuándo pavimentan mi calle",
    ("obras", "alumbrado"): "luminaria LED",
    ("ambiente", "residuos"): "cómo separar la basura reciclable",
    ("ambiente", "arbolado"): "puedo podar el árbol de mi vereda",
    ("presupuesto", "endeudamiento"): "préstamos que pidió el municipio",
    ("cultura", "patrimonio"): "demolición de edificios históricos",
    ("deportes", "maraton"): "corridas y maratones",
    ("seguridad", "camaras"): "cámara de vigilancia en mi barrio",
}


@dataclass
class ContentQuestion:
    text: str
    relevance: dict[str, int]


@dataclass
class MetadataQuestion:
    text: str
    kind: str  # total | top | groups | contains
    expected: object
    structured: dict = field(default_factory=dict)  # the same question as structured arguments


def content_questions(truths: Sequence[Truth], seed: int = 11) -> list[ContentQuestion]:
    rng = random.Random(seed)
    out: list[ContentQuestion] = []

    def rel(pred: Callable[[Truth], bool], grade1: Callable[[Truth], bool] | None = None) -> dict[str, int]:
        r = {t.id: 2 for t in truths if pred(t)}
        if grade1:
            r.update({t.id: 1 for t in truths if t.id not in r and grade1(t)})
        return r

    fixed_id = f"{slug(FIXED['municipality'])}-ordenanza-{FIXED['number']}-{FIXED['year']}"
    out.append(ContentQuestion("¿Qué dice la ordenanza 2947 sobre habilitaciones?", {fixed_id: 2}))
    out.append(
        ContentQuestion(
            "Ordenanzas sobre sueldos de Carlos Tejedor",
            rel(lambda t: t.municipality == "Carlos Tejedor" and t.type == "ordenanza" and t.topic == "sueldos"),
        )
    )
    out.append(
        ContentQuestion(
            "Normativas de tránsito en Merlo", rel(lambda t: t.municipality == "Merlo" and t.topic == "transito")
        )
    )
    out.append(
        ContentQuestion(
            "Decretos que hablan de tasas municipales", rel(lambda t: t.type == "decreto" and t.topic == "tasas")
        )
    )
    munis = sorted({t.municipality for t in truths})
    for topic, spec in TOPICS.items():
        muni = rng.choice(munis)
        phr = rng.choice(["Normativas sobre {l} en {m}", "¿Qué hay de {l} en {m}?", "{l} en el municipio de {m}"])
        r = rel(lambda t, m=muni, tp=topic: t.municipality == m and t.topic == tp)
        if r:
            out.append(ContentQuestion(phr.format(l=spec["label"], m=muni), r))
    for (topic, sub), text in SUBTOPIC_QUESTIONS.items():
        r = rel(lambda t, tp=topic, s=sub: t.topic == tp and t.subtopic == s, lambda t, tp=topic: t.topic == tp)
        if r:
            out.append(ContentQuestion(text, r))
    for (topic, sub), text in SPOKEN_QUESTIONS.items():
        r = rel(lambda t, tp=topic, s=sub: t.topic == tp and t.subtopic == s, lambda t, tp=topic: t.topic == tp)
        if r:
            out.append(ContentQuestion(text, r))
    # topic + municipality + year or type: the question names metadata as well as a subject
    combos = sorted({(t.topic, t.municipality, t.year, t.type) for t in truths})
    for i in range(12):
        topic, muni, year, doc_type = rng.choice(combos)
        label = TOPICS[topic]["label"]
        if i % 2:
            text = f"{TYPE_PLURAL[doc_type]} sobre {label} de {muni}"
            r = rel(
                lambda t, a=topic, m=muni, d=doc_type: (t.topic, t.municipality, t.type) == (a, m, d),
                lambda t, a=topic, m=muni: (t.topic, t.municipality) == (a, m),
            )
        else:
            text = f"{label} en {muni} durante {year}"
            r = rel(
                lambda t, a=topic, m=muni, y=year: (t.topic, t.municipality, t.year) == (a, m, y),
                lambda t, a=topic, m=muni: (t.topic, t.municipality) == (a, m),
            )
        out.append(ContentQuestion(text, r))
    picks = rng.sample(list(truths), k=min(6, len(truths)))
    for t in picks:
        label = TOPICS[t.topic]["subtopics"][t.subtopic][0].split()[0].lower()
        article = "la" if t.type in ("ordenanza", "resolucion", "disposicion") else "el"
        out.append(
            ContentQuestion(
                f"¿Qué establece {article} {t.type} {t.number} de {t.municipality} sobre {label}?", {t.id: 2}
            )
        )
    return out


def _count(truths, **kw) -> int:
    return sum(1 for t in truths if _match(t, **kw))


def _match(
    t: Truth,
    municipality=None,
    municipalities=None,
    type=None,
    year=None,
    date_from=None,
    date_to=None,
    status=None,
    number=None,
) -> bool:
    if municipality and t.municipality != municipality:
        return False
    if municipalities and t.municipality not in municipalities:
        return False
    if type and t.type != type:
        return False
    if year and t.year != year:
        return False
    if date_from and t.date < date_from:
        return False
    if date_to and t.date > date_to:
        return False
    if status and t.status != status:
        return False
    return not (number and t.number != number)


def _groups(truths, key: str, **kw) -> Counter:
    return Counter(str(getattr(t, key)) for t in truths if _match(t, **kw))


def _top(c: Counter, least: bool = False) -> set[str]:
    if not c:
        return set()
    best = min(c.values()) if least else max(c.values())
    return {k for k, v in c.items() if v == best}


def metadata_questions(truths: Sequence[Truth], seed: int = 13) -> list[MetadataQuestion]:
    rng = random.Random(seed)
    munis = sorted({t.municipality for t in truths})
    out: list[MetadataQuestion] = []
    q = out.append

    def f(**kw):
        return {k: v for k, v in kw.items() if v is not None}

    q(
        MetadataQuestion(
            "¿Cuántos decretos hay de Carlos Tejedor en 2025?",
            "total",
            _count(truths, municipality="Carlos Tejedor", type="decreto", year=2025),
            {"operation": "count", "filters": f(municipality="Carlos Tejedor", type="decreto", year=2025)},
        )
    )
    q(
        MetadataQuestion(
            "¿Qué municipio tiene más decretos?",
            "top",
            _top(_groups(truths, "municipality", type="decreto")),
            {"group_by": "municipality", "filters": f(type="decreto")},
        )
    )
    q(
        MetadataQuestion(
            "Lista todas las ordenanzas de Merlo",
            "total",
            _count(truths, municipality="Merlo", type="ordenanza"),
            {"operation": "list", "filters": f(municipality="Merlo", type="ordenanza")},
        )
    )
    q(
        MetadataQuestion(
            "Compara Merlo y Carlos Tejedor",
            "groups",
            dict(_groups(truths, "municipality", municipalities=["Merlo", "Carlos Tejedor"])),
            {"group_by": "municipality", "filters": f(municipalities=["Merlo", "Carlos Tejedor"])},
        )
    )
    q(
        MetadataQuestion(
            "ordenanza 2947 de merlo",
            "contains",
            "merlo-ordenanza-2947-2024",
            {"operation": "list", "filters": f(municipality="Merlo", type="ordenanza", number="2947")},
        )
    )
    for i in range(8):
        m, tp, y = rng.choice(munis), rng.choice(list(TYPE_PLURAL)), rng.choice(range(2015, 2026))
        name = [m, m.lower(), fold(m)][i % 3]
        name = name.replace("General ", "Gral. ").replace("general ", "gral. ").replace("Coronel ", "Cnel. ")
        q(
            MetadataQuestion(
                f"¿Cuántas {TYPE_PLURAL[tp]} hay de {name} en {y}?",
                "total",
                _count(truths, municipality=m, type=tp, year=y),
                {"operation": "count", "filters": f(municipality=m, type=tp, year=y)},
            )
        )
    for tp in TYPE_PLURAL:
        q(
            MetadataQuestion(
                f"¿Qué municipio tiene más {TYPE_PLURAL[tp]}?",
                "top",
                _top(_groups(truths, "municipality", type=tp)),
                {"group_by": "municipality", "filters": f(type=tp)},
            )
        )
    for tp in ("disposicion", "convenio"):
        q(
            MetadataQuestion(
                f"¿Qué municipio tiene menos {TYPE_PLURAL[tp]}?",
                "top",
                _top(_groups(truths, "municipality", type=tp), least=True),
                {"group_by": "municipality", "order": "count_asc", "filters": f(type=tp)},
            )
        )
    for _ in range(4):
        m1, m2 = rng.sample(munis, 2)
        q(
            MetadataQuestion(
                f"Compará la cantidad de normativas de {m1} y {fold(m2)}",
                "groups",
                dict(_groups(truths, "municipality", municipalities=[m1, m2])),
                {"group_by": "municipality", "filters": f(municipalities=[m1, m2])},
            )
        )
    for _ in range(4):
        m, a = rng.choice(munis), rng.choice(range(2015, 2022))
        b = a + rng.randint(1, 3)
        q(
            MetadataQuestion(
                f"¿Cuántas resoluciones hubo entre {a} y {b} en {m}?",
                "total",
                _count(truths, municipality=m, type="resolucion", date_from=f"{a}-01-01", date_to=f"{b}-12-31"),
                {
                    "operation": "count",
                    "filters": f(municipality=m, type="resolucion", date_from=f"{a}-01-01", date_to=f"{b}-12-31"),
                },
            )
        )
    months = ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre"]
    for _ in range(4):
        m, mi, y = rng.choice(munis), rng.randrange(len(months)), rng.choice(range(2018, 2025))
        start = dt.date(y, mi + 1, 1).isoformat()
        q(
            MetadataQuestion(
                f"decretos de {fold(m).lower()} desde {months[mi]} de {y}",
                "total",
                _count(truths, municipality=m, type="decreto", date_from=start),
                {"operation": "list", "filters": f(municipality=m, type="decreto", date_from=start)},
            )
        )
    for _ in range(3):
        m = rng.choice(munis)
        q(
            MetadataQuestion(
                f"¿En qué año hubo más ordenanzas en {m}?",
                "top",
                _top(_groups(truths, "year", municipality=m, type="ordenanza")),
                {"group_by": "year", "order": "count_desc", "filters": f(municipality=m, type="ordenanza")},
            )
        )
    for _ in range(3):
        m = rng.choice(munis)
        q(
            MetadataQuestion(
                f"cuantas ordenanzas derogadas hay en {m.lower()}",
                "total",
                _count(truths, municipality=m, type="ordenanza", status="derogada"),
                {"operation": "count", "filters": f(municipality=m, type="ordenanza", status="derogada")},
            )
        )
    for name, m in (
        ("Gral. Villegas", "General Villegas"),
        ("Cnel. Suárez", "Coronel Suárez"),
        ("gral pueyrredon", "General Pueyrredón"),
    ):
        q(
            MetadataQuestion(
                f"¿Cuántas normativas tiene {name}?",
                "total",
                _count(truths, municipality=m),
                {"operation": "count", "filters": f(municipality=m)},
            )
        )
    for _ in range(2):
        m = rng.choice(munis)
        q(
            MetadataQuestion(
                f"¿Cuántas normativas hay por tipo en {m}?",
                "groups",
                dict(_groups(truths, "type", municipality=m)),
                {"group_by": "type", "filters": f(municipality=m)},
            )
        )
    for y in (2019, 2023):
        q(
            MetadataQuestion(
                f"¿Cuántos convenios se firmaron en {y}?",
                "total",
                _count(truths, type="convenio", year=y),
                {"operation": "count", "filters": f(type="convenio", year=y)},
            )
        )
    return out


def check(question: MetadataQuestion, total: int, groups: list[tuple[str, int]], row_ids: list[str]) -> bool:
    """Is a query_metadata_sql answer right for this question?"""
    if question.kind == "total":
        return total == question.expected
    if question.kind == "top":
        expected: set[str] = question.expected  # type: ignore[assignment]
        return bool(groups) and groups[0][0] in expected if expected else not groups
    if question.kind == "groups":
        return dict(groups) == question.expected
    return question.expected in row_ids


def ndcg_at(ranked: Sequence[str], relevance: dict[str, int], k: int = 10) -> float:
    dcg = sum((2 ** relevance.get(d, 0) - 1) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(relevance.values(), reverse=True)[:k]
    idcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: Sequence[str], relevance: dict[str, int], k: int = 10) -> float:
    """Share of the top-grade documents found in the first k (capped by k, so 1.0 is reachable)."""
    best = max(relevance.values(), default=0)
    wanted = {d for d, g in relevance.items() if g == best and g > 0}
    if not wanted:
        return 0.0
    return len(wanted & set(ranked[:k])) / min(k, len(wanted))
