"""The judged metadata question set: its own corpus, its questions, and how an answer is judged.

The corpus is generated here (not by centralita_fixtures.legal_sample) so it can name the municipalities people
write in other ways (Tres de Febrero as "3 de Febrero", 9 de Julio as "nueve de julio", Gral. San
Martín, Pte. Perón, San Andrés de Giles) next to their near neighbours (Morón/Moreno, Coronel
Suárez/Dorrego/Pringles, Tres Lomas/Tres Arroyos, San Isidro/San Nicolás, General Paz/Pinto). A few
norms are pinned because questions ask about them by number. Expected answers are computed here
from the generated records with plain Python, never with the service's SQL or parser.
Used by tests/legal/test_judged_metadata.py and bench/legal_metadata.py.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

QUESTIONS_PATH = Path(__file__).resolve().parent / "data" / "legal_metadata_questions.jsonl"
TODAY = dt.date(2025, 6, 15)  # the fixed clock relative questions are judged against
MUNICIPALITIES = [
    "Tres de Febrero",
    "General San Martín",
    "Coronel Suárez",
    "Coronel Dorrego",
    "Coronel Pringles",
    "Presidente Perón",
    "San Andrés de Giles",
    "San Antonio de Areco",
    "Morón",
    "Moreno",
    "Merlo",
    "Mercedes",
    "Tres Arroyos",
    "Tres Lomas",
    "Lomas de Zamora",
    "General Paz",
    "General Pinto",
    "General Pueyrredón",
    "Bahía Blanca",
    "Carlos Tejedor",
    "San Isidro",
    "San Nicolás",
    "Lanús",
    "Luján",
    "9 de Julio",
]
TYPES = [("decreto", 0.38), ("ordenanza", 0.27), ("resolucion", 0.15), ("disposicion", 0.11), ("convenio", 0.09)]
STATUSES = [("vigente", 0.82), ("derogada", 0.12), ("modificada", 0.06)]
# (municipality, type, number, date, status): the norms questions name by number.
PINNED = [
    ("Tres de Febrero", "ordenanza", "1520", "2021-05-10", "derogada"),
    ("Merlo", "ordenanza", "2947", "2024-08-20", "vigente"),
    ("General San Martín", "decreto", "315", "2023-03-02", "modificada"),
    ("Coronel Suárez", "ordenanza", "880", "2019-11-04", "vigente"),
    ("Presidente Perón", "resolucion", "45", "2022-07-12", "derogada"),
    ("San Andrés de Giles", "convenio", "12", "2020-02-27", "vigente"),
    ("Bahía Blanca", "decreto", "1201", "2018-09-18", "derogada"),
    ("9 de Julio", "disposicion", "77", "2024-04-09", "vigente"),
    ("Morón", "ordenanza", "640", "2017-06-30", "derogada"),
    ("Lomas de Zamora", "decreto", "990", "2025-02-14", "vigente"),
]
_BASE = {"ordenanza": 3000, "decreto": 2000, "resolucion": 500, "disposicion": 300, "convenio": 100}
_TOPICS = [
    "tasas municipales",
    "tránsito y estacionamiento",
    "sueldos del personal",
    "obras públicas",
    "habilitaciones comerciales",
    "salud y vacunación",
    "presupuesto",
    "cultura y deporte",
]


def _weighted(rng: random.Random, items: list[tuple[str, float]]) -> str:
    return rng.choices([i for i, _ in items], weights=[w for _, w in items])[0]


def _record(muni: str, doc_type: str, number: str, date: str, status: str, topic: str) -> dict[str, Any]:
    year = int(date[:4])
    slug = "".join(c if c.isalnum() else "-" for c in muni.lower())
    title = f"{doc_type.capitalize()} {number}/{year} de {muni}: {topic}"
    return {
        "id": f"{slug}-{doc_type}-{number}-{year}",
        "municipality": muni,
        "type": doc_type,
        "number": number,
        "year": year,
        "date": date,
        "title": title,
        "status": status,
        "url": f"https://sibom.slyt.gba.gob.ar/bulletins/{slug}/{year}/{doc_type}-{number}",
        "content": f"La Municipalidad de {muni} dispone sobre {topic}. Artículo 1: apruébase. "
        f"Artículo 2: comuníquese, publíquese y archívese.",
    }


def corpus(n: int = 2500, seed: int = 29) -> list[dict[str, Any]]:
    """n deterministic records (the pinned ones first), dated 2015-01-01 .. TODAY."""
    rng = random.Random(seed)
    docs = [_record(m, t, num, d, s, "tasas municipales") for m, t, num, d, s in PINNED]
    counters: dict[tuple[str, str], int] = {}
    start, days = dt.date(2015, 1, 1), (TODAY - dt.date(2015, 1, 1)).days
    while len(docs) < n:
        muni = rng.choice(MUNICIPALITIES)
        doc_type = _weighted(rng, TYPES)
        key = (muni, doc_type)
        counters[key] = counters.get(key, _BASE[doc_type]) + rng.randint(1, 3)
        date = start + dt.timedelta(days=rng.randint(0, days))
        docs.append(
            _record(muni, doc_type, str(counters[key]), date.isoformat(), _weighted(rng, STATUSES), rng.choice(_TOPICS))
        )
    return docs


@dataclass
class Question:
    """One judged question: its text, what it means, and optionally what a voice model would send."""

    text: str
    category: str
    op: str = "count"  # count | list
    group: str = "none"  # none | municipality | type | year | status
    order: str | None = None
    limit: int = 10
    filters: dict[str, Any] = field(default_factory=dict)  # legal_search.filters.build() keywords
    status_answer: str | None = None  # a yes/no status question: the status the norm must show
    explicit: dict[str, Any] | None = None  # structured arguments when not simply the full meaning
    # True: written with the set, before tuning, but its misses were seen once while tuning;
    # "fresh": written after that tuning round (one general rule was added after seeing its misses);
    # "fresh2": written after the second round and run once (30/30 on its first run);
    # "fresh3": unseen phrasings (two-digit years, negated status, weeks/days), written before the
    # third round of rules and scored once before them.
    held_out: bool | str = False
    structured_only: bool = False  # the words alone cannot mean this (explicit filters differ)

    def structured(self) -> dict[str, Any]:
        """The arguments a voice model sends besides `query`: the explicit form of the meaning."""
        if self.explicit is not None:
            return json.loads(json.dumps(self.explicit))
        out: dict[str, Any] = {"filters": dict(self.filters), "operation": self.op, "group_by": self.group}
        if self.order:
            out["order"] = self.order
        if self.op == "list":
            out["limit"] = self.limit
        return out


def load(path: Path = QUESTIONS_PATH) -> list[Question]:
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("//"):
            try:
                out.append(Question(**json.loads(line)))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{path}:{n}: {exc}") from exc
    return out


def _key(name: str) -> str:
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKD", name.lower()) if not unicodedata.combining(c))


def matcher(f: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
    munis = {_key(m) for m in f.get("municipalities", [])} | (
        {_key(f["municipality"])} if "municipality" in f else set()
    )
    lo, hi = f.get("date_from"), f.get("date_to")

    def ok(d: dict[str, Any]) -> bool:
        return (
            (not munis or _key(d["municipality"]) in munis)
            and d["type"] == f.get("type", d["type"])
            and d["year"] == f.get("year", d["year"])
            and d["number"] == f.get("number", d["number"])
            and d["status"] == f.get("status", d["status"])
            and d["status"] != f.get("status_not")
            and (lo is None or d["date"] >= lo)
            and (hi is None or d["date"] <= hi)
        )

    return ok


def judge(
    q: Question, docs: list[dict[str, Any]], total: int, groups: list[tuple[str, int]], rows: list[tuple[str, str]]
) -> bool:
    """Is this answer right? rows are (id, status) pairs in the order returned."""
    hits = [d for d in docs if matcher(q.filters)(d)]
    if total != len(hits):
        return False
    if q.group != "none":
        col = {"municipality": "municipality", "type": "type", "year": "year", "status": "status"}[q.group]
        counts = Counter(str(d[col]) for d in hits)
        if not groups or any(counts.get(k) != n for k, n in groups):
            return False
        best = (min if q.order == "count_asc" else max)(counts.values())
        return groups[0][1] == best
    if q.op == "count":
        return True
    newest = q.order != "date_asc"
    ranked = sorted(hits, key=lambda d: (d["date"], d["id"]), reverse=newest)[: q.limit]
    if [r[0] for r in rows] != [d["id"] for d in ranked]:
        return False
    return q.status_answer is None or (bool(rows) and rows[0][1] == q.status_answer)
