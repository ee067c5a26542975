"""The sample generator: deterministic, realistic, complete; ensure_sample builds once."""

from __future__ import annotations

from collections import Counter

from centralita_fixtures.legal_sample import generate
from centralita_suite.sample_data import ensure_sample
from legal_search import index, store


def test_deterministic_and_complete():
    a = [d for d, _ in generate(300, seed=3)]
    b = [d for d, _ in generate(300, seed=3)]
    assert a == b
    assert a != [d for d, _ in generate(300, seed=4)]
    truths = [t for _, t in generate(2000, seed=3)]
    assert len({t.id for t in truths}) == 2000
    assert truths[0].id == "merlo-ordenanza-2947-2024" and truths[0].topic == "habilitaciones"
    assert set(Counter(t.type for t in truths)) == {"ordenanza", "decreto", "resolucion", "disposicion", "convenio"}
    assert {t.year for t in truths} == set(range(2015, 2026))
    munis = {t.municipality for t in truths}
    assert len(munis) >= 20 and {"Carlos Tejedor", "Merlo"} <= munis


def test_documents_look_like_norms():
    doc = next(d for d, t in generate(50) if t.type == "decreto")
    assert doc["content"].startswith("VISTO") and "CONSIDERANDO" in doc["content"]
    assert "ARTÍCULO 1°" in doc["content"] and "DECRETA" in doc["content"]
    assert any(d["tables"] and d["tables"][0]["rows"][1][1].startswith("$") for d, _ in generate(50))


def test_ensure_sample_builds_once(tmp_path, monkeypatch):
    monkeypatch.setenv("LEGAL_INDEX_SHARDS", "2")
    url, idx = f"sqlite:///{tmp_path / 's.db'}", tmp_path / "ix"
    assert ensure_sample(url, idx, n=60) is True
    assert ensure_sample(url, idx, n=60) is False
    from legal_search.service import open_store

    engine = open_store(url)
    assert store.count(engine) == 60 and index.check(engine, idx, 2) == (0, 0)
    engine.dispose()
