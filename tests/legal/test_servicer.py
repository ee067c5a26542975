"""The gRPC surface through the kit's server: the three tools, status codes, adversarial input."""

from __future__ import annotations

import grpc
import pytest
from sqlalchemy import select

from centralita.legal.v1 import legal_pb2, legal_pb2_grpc
from centralita.server import start_server
from legal_search.models import Normativa
from legal_search.server import service_spec

ADVERSARIAL = [
    '"quoted words" "unclosed',
    "(paréntesis (sin cerrar",
    "*",
    "**",
    "tasa*",
    "?",
    "habilitación?",
    "sueldos AND NOT tránsito OR salud",
    "AND",
    "OR OR OR",
    "NOT",
    "title:sueldos",
    "body:* id:x",
    "'; DROP TABLE normativas; --",
    "1=1; DELETE FROM normativas",
    "%",
    "_",
    "\\",
    "\x00",
    "😀 emoji",
    "a" * 10_000,
    "palabra " * 1200,
    "",
    "   ",
    "de la el los las y o",
    "¿?¡!",
    "{}[]^~<>=:/",
    "ordenanza 2947 AND title:habilitaciones*",
]


@pytest.fixture(scope="module")
def stub(loaded):
    svc, truths = loaded
    running = start_server([service_spec(svc)], port=0, host="127.0.0.1")
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
    yield legal_pb2_grpc.LegalSearchServiceStub(channel), svc, truths
    channel.close()
    running.drain_and_stop(grace=1.0)


def _snapshot(svc):
    with svc.engine.connect() as conn:
        return sorted(conn.execute(select(Normativa.id, Normativa.digest)).all())


def test_query_metadata_sql(stub):
    client, _, truths = stub
    resp = client.QueryMetadataSql(
        legal_pb2.QueryMetadataSqlRequest(query="¿Cuántos decretos hay de Carlos Tejedor en 2025?"), timeout=10
    )
    assert resp.total == sum(
        1 for t in truths if t.municipality == "Carlos Tejedor" and t.type == "decreto" and t.year == 2025
    )
    assert resp.sql.startswith("SELECT") and resp.interpretation
    resp = client.QueryMetadataSql(
        legal_pb2.QueryMetadataSqlRequest(
            filters=legal_pb2.Filters(municipality="Merlo", type=legal_pb2.NORMATIVA_TYPE_ORDENANZA),
            operation=legal_pb2.OPERATION_LIST,
            order=legal_pb2.SORT_ORDER_DATE_ASC,
            limit=2,
        ),
        timeout=10,
    )
    assert len(resp.rows) == 2 and resp.rows[0].type == legal_pb2.NORMATIVA_TYPE_ORDENANZA
    assert resp.rows[0].date <= resp.rows[1].date
    resp = client.QueryMetadataSql(legal_pb2.QueryMetadataSqlRequest(group_by=legal_pb2.GROUP_BY_TYPE), timeout=10)
    assert {g.key for g in resp.groups} == {t.type for t in truths} and resp.total == len(truths)


def test_search_content(stub):
    client, _, _ = stub
    resp = client.SearchContent(
        legal_pb2.SearchContentRequest(query="¿Qué dice la ordenanza 2947 sobre habilitaciones?"), timeout=10
    )
    assert resp.results[0].id == "merlo-ordenanza-2947-2024" and resp.total_hits >= 1
    assert resp.results[0].type == legal_pb2.NORMATIVA_TYPE_ORDENANZA and "**" in resp.results[0].snippet
    resp = client.SearchContent(
        legal_pb2.SearchContentRequest(query="tasas", filters=legal_pb2.Filters(year=2021), limit=5), timeout=10
    )
    assert 0 < len(resp.results) <= 5 and all(r.year == 2021 for r in resp.results)


def test_stats(stub):
    client, _, truths = stub
    resp = client.GetDatabaseStats(legal_pb2.GetDatabaseStatsRequest(), timeout=10)
    assert resp.total_documents == len(truths)
    assert sum(m.count for m in resp.municipalities) == len(truths)
    assert resp.years[0].year == max(t.year for t in truths)
    assert resp.last_updated.seconds > 0


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"filters": {"date_from": "ayer"}},
        {"filters": {"date_from": "2024-05-01", "date_to": "2020-01-01"}},
        {"filters": {"year": 5}},
        {"limit": -3},
    ],
)
def test_invalid_argument_polite_spanish(stub, request_kwargs):
    client, _, _ = stub
    for rpc, req_type in (
        (client.QueryMetadataSql, legal_pb2.QueryMetadataSqlRequest),
        (client.SearchContent, legal_pb2.SearchContentRequest),
    ):
        kwargs = dict(request_kwargs)
        if "filters" in kwargs:
            kwargs["filters"] = legal_pb2.Filters(**kwargs["filters"])
        kwargs.setdefault("query", "tasas")
        with pytest.raises(grpc.RpcError) as err:
            rpc(req_type(**kwargs), timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        message = err.value.details()
        assert message and "Traceback" not in message and message.endswith(".")


def test_overlong_metadata_question_is_invalid_argument(stub):
    client, _, _ = stub
    with pytest.raises(grpc.RpcError) as err:
        client.QueryMetadataSql(legal_pb2.QueryMetadataSqlRequest(query="x" * 2001), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "larga" in err.value.details()


def test_empty_search_is_invalid_argument(stub):
    client, _, _ = stub
    with pytest.raises(grpc.RpcError) as err:
        client.SearchContent(legal_pb2.SearchContentRequest(query="  "), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "vacía" in err.value.details()


def test_adversarial_inputs_never_break_anything(stub):
    client, svc, _ = stub
    before = _snapshot(svc)
    for text in ADVERSARIAL:
        for call in (
            lambda t: client.SearchContent(legal_pb2.SearchContentRequest(query=t), timeout=10),
            lambda t: client.SearchContent(
                legal_pb2.SearchContentRequest(query=t, filters=legal_pb2.Filters(municipality=t[:100], number=t[:40])),
                timeout=10,
            ),
            lambda t: client.QueryMetadataSql(legal_pb2.QueryMetadataSqlRequest(query=t), timeout=10),
            lambda t: client.QueryMetadataSql(
                legal_pb2.QueryMetadataSqlRequest(
                    query=t, filters=legal_pb2.Filters(municipality=t[:100], status=t[:40])
                ),
                timeout=10,
            ),
        ):
            try:
                call(text)
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, (text[:40], exc.code(), exc.details())
    assert _snapshot(svc) == before
    resp = client.SearchContent(legal_pb2.SearchContentRequest(query="title:sueldos*"), timeout=10)
    plain = client.SearchContent(legal_pb2.SearchContentRequest(query="title sueldos"), timeout=10)
    assert [r.id for r in resp.results] == [r.id for r in plain.results]  # syntax is just text
