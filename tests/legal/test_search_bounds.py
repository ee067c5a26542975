"""search_content never refuses a searchable request, and its work is bounded whatever the input."""

from __future__ import annotations

import grpc
import pytest

from centralita.legal.v1 import legal_pb2, legal_pb2_grpc
from centralita.server import start_server
from legal_search import content
from legal_search.filters import build
from legal_search.server import service_spec


class CountingSearcher:
    """Wraps the real searcher and records what each call asked of the index."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.calls: list[int] = []

    def search(self, groups, filters, limit):
        self.calls.append(len(groups))
        return self.inner.search(groups, filters, limit)


def run(svc, text, searcher=None, limit=None, **filters):
    return content.search(svc.engine, searcher or svc.searcher, svc.gazetteer(), text, build(**filters), limit)


def test_empty_query_with_filters_lists_newest_first(loaded):
    svc, truths = loaded
    want = sorted(
        (t for t in truths if t.municipality == "Merlo" and t.type == "decreto"),
        key=lambda t: (t.date, t.id),
        reverse=True,
    )
    assert len(want) > 10
    out = svc.search_content("", build(municipality="merlo", type="decreto"), 10)
    assert out.total_hits == len(want)
    assert [r.id for r in out.results] == [t.id for t in want[:10]]
    assert "más reciente" in out.interpretation and f"{len(want)} en total" in out.interpretation
    assert all(r.snippet and "**" not in r.snippet for r in out.results)  # the text's start, nothing marked


def test_only_question_words_with_filters_lists_too(loaded):
    svc, truths = loaded
    want = sorted((t for t in truths if t.year == 2021), key=lambda t: (t.date, t.id), reverse=True)
    out = svc.search_content("¿qué normativas hay?", build(year=2021), 5)
    assert out.total_hits == len(want) and [r.id for r in out.results] == [t.id for t in want[:5]]


def test_empty_listing_says_none(loaded):
    svc, _ = loaded
    out = svc.search_content("", build(municipality="Springfield"), 5)
    assert out.total_hits == 0 and not out.results and "0 en total" in out.interpretation


def test_overlong_query_searched_on_first_words(loaded):
    svc, _ = loaded
    head = "tasa de alumbrado barrido y limpieza en Merlo"
    filler = " ".join(f"palabra{i}" for i in range(3000))
    long_out = svc.search_content(f"{head} {filler}", build(), 10)
    cut, was_cut = content.shorten(f"{head} {filler}")
    assert was_cut and len(cut.split()) == content.MAX_WORDS
    assert "primeras" in long_out.interpretation
    same = svc.search_content(cut, build(), 10)
    assert [r.id for r in long_out.results] == [r.id for r in same.results] and long_out.results
    assert "primeras" not in same.interpretation


@pytest.mark.parametrize(
    "text",
    [
        " ".join(f"termino{i}" for i in range(5000)),  # thousands of distinct words
        "tasa " * 20_000,  # one word repeated
        "x" * 1_000_000 + " sueldos",  # a huge token
        " ".join(["sueldos", "tasa", "tránsito", "salud", "obras", "becas"] * 2000),
    ],
)
def test_pathological_input_has_bounded_work(loaded, monkeypatch, text):
    svc, _ = loaded
    looked_up = []
    real = content.es_term
    monkeypatch.setattr(content, "es_term", lambda w: looked_up.append(w) or real(w))
    counting = CountingSearcher(svc.searcher)
    out = run(svc, text, counting)
    assert len(looked_up) <= 2 * content.MAX_WORDS  # each word, and its other number for new terms
    assert counting.calls and len(counting.calls) <= 3
    assert all(n <= content.MAX_GROUPS for n in counting.calls)
    assert out.total_hits >= 0


def test_repeated_words_are_one_term(loaded):
    svc, _ = loaded
    counting = CountingSearcher(svc.searcher)
    run(svc, "sueldo sueldos Sueldos SUELDOS " * 10, counting)
    assert counting.calls == [1]


def test_explicit_dates_are_not_narrowed_by_a_year_in_the_words(loaded):
    svc, _ = loaded
    out = svc.search_content("tasas municipales de 2023", build(date_from="2022-01-01", date_to="2024-12-31"), 50)
    years = {r.year for r in out.results}
    assert years <= {2022, 2023, 2024} and len(years) > 1  # 2023 in the words did not become a filter
    assert "Filtros indicados" in out.interpretation and "Leído en la pregunta" not in out.interpretation


def test_explicit_municipality_wins_over_named_one(loaded):
    svc, _ = loaded
    out = svc.search_content("tasas en Merlo", build(municipality="Tandil"), 50)
    assert out.results and all(r.municipality == "Tandil" for r in out.results)


def test_interpretation_says_what_came_from_the_question(loaded):
    svc, _ = loaded
    out = svc.search_content("ordenanzas de tránsito", build(municipality="Merlo"), 10)
    assert "Filtros indicados: normativas de Merlo" in out.interpretation
    assert "Leído en la pregunta: normativas de tipo ordenanza" in out.interpretation
    assert out.results and all(r.municipality == "Merlo" for r in out.results)
    types = [r.type for r in out.results]
    assert types[0] == "ordenanza"  # the ordenanzas first; then, if few, the same subject in other types
    assert types == ["ordenanza"] * len(types) or "siguen" in out.interpretation


@pytest.fixture(scope="module")
def client(loaded):
    svc, _ = loaded
    running = start_server([service_spec(svc)], port=0, host="127.0.0.1")
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
    yield legal_pb2_grpc.LegalSearchServiceStub(channel)
    channel.close()
    running.drain_and_stop(grace=1.0)


def test_grpc_empty_query_with_filters_and_long_query(client):
    resp = client.SearchContent(
        legal_pb2.SearchContentRequest(query="", filters=legal_pb2.Filters(municipality="Merlo"), limit=3), timeout=10
    )
    assert len(resp.results) == 3 and "más reciente" in resp.interpretation
    dates = [r.year for r in resp.results]
    assert dates == sorted(dates, reverse=True)
    resp = client.SearchContent(legal_pb2.SearchContentRequest(query="sueldos " + "y además " * 3000), timeout=10)
    assert resp.results and "primeras" in resp.interpretation


def test_grpc_nothing_to_search_is_refused_politely(client):
    with pytest.raises(grpc.RpcError) as err:
        client.SearchContent(legal_pb2.SearchContentRequest(query=" \n "), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().endswith(".") and "vacía" in err.value.details()
