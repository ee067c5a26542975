"""Ranking aids for Spanish questions: word families, feedback from the best hits, judged set with filters."""

from __future__ import annotations

import statistics

from centralita_fixtures.legal_judged_content import filtered_questions
from centralita_fixtures.legal_quality import ndcg_at
from legal_search import content
from legal_search import searcher as searcher_mod
from legal_search.filters import build
from legal_search.searcher import LocalSearcher, ShardHits


def test_word_family_from_the_term_dictionary(loaded):
    svc, _ = loaded
    local = LocalSearcher(svc.index_dir, svc.shards)
    try:
        post = local._shards[0].postings
        family = post.derived("presupuest")  # presupuesto -> presupuestaria/o (Snowball keeps them apart)
        assert "presupuestari" in family and all(t.startswith("presupuest") for t in family)
        assert post.derived("tas") == ()  # short stems have no family: too many false friends
    finally:
        local.close()


def test_feedback_finds_norms_on_the_same_subject(loaded):
    svc, truths = loaded
    same = total = 0
    by_id = {x.id: x for x in truths}
    for t in [t for t in truths if t.municipality == "Merlo"][:12]:
        spec = build(municipality="Merlo").to_spec()
        found = ShardHits(total=1, hits=[(1.0, t.id)])
        extra = content.related(svc.engine, svc.searcher, [], spec, found, 6)
        topics = [by_id[i].topic for _, i in extra]
        assert all(by_id[i].municipality == "Merlo" for _, i in extra) and t.id not in {i for _, i in extra}
        same += topics.count(t.topic)
        total += len(topics)
    assert total and same / total >= 0.6  # 1 in 12 by chance


def test_feedback_fills_free_places_and_says_so(loaded):
    svc, _ = loaded
    out = svc.search_content(
        "edificios declarados patrimonio histórico", build(municipality="Merlo", type="decreto"), 10
    )
    assert out.results and all(r.municipality == "Merlo" and r.type == "decreto" for r in out.results)
    if len(out.results) > out.total_hits:
        assert "temas relacionados" in out.interpretation


def test_feedback_off_when_the_page_is_full(loaded, monkeypatch):
    svc, _ = loaded
    calls = []
    monkeypatch.setattr(
        searcher_mod.LocalSearcher, "doc_frequencies", lambda self, terms: calls.append(terms) or (1, [0] * len(terms))
    )
    out = svc.search_content("municipal", build(), 10)
    assert len(out.results) == 10 and not calls


def test_judged_questions_with_explicit_filters(loaded):
    svc, truths = loaded
    qs = filtered_questions(truths, n=120)
    assert len(qs) == 120 and all(max(q.relevance.values()) == 2 for q in qs)
    scores = []
    for q in qs:
        out = svc.search_content(q.text, build(**q.filters), 10)
        f = build(**q.filters)
        assert all(not f.type or r.type == f.type for r in out.results)
        scores.append(ndcg_at([r.id for r in out.results], q.relevance))
    assert statistics.mean(scores) >= 0.85
