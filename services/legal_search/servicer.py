"""gRPC servicer: proto <-> domain, domain errors -> status codes with one polite Spanish sentence."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import grpc
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from centralita.legal.v1 import legal_pb2, legal_pb2_grpc
from legal_search.errors import InvalidArgument, Unavailable
from legal_search.filters import Filters, build
from legal_search.models import TYPES
from legal_search.service import LegalSearch

log = logging.getLogger("legal_search")
T = TypeVar("T")

_TYPE_TO_PB = {t: legal_pb2.NormativaType.Value(f"NORMATIVA_TYPE_{t.upper()}") for t in TYPES}
_PB_TO_TYPE = {v: k for k, v in _TYPE_TO_PB.items()}
_OPERATION = {legal_pb2.OPERATION_LIST: "list", legal_pb2.OPERATION_COUNT: "count"}
_GROUP = {
    legal_pb2.GROUP_BY_NONE: "none",
    legal_pb2.GROUP_BY_MUNICIPALITY: "municipality",
    legal_pb2.GROUP_BY_TYPE: "type",
    legal_pb2.GROUP_BY_YEAR: "year",
    legal_pb2.GROUP_BY_STATUS: "status",
}
_ORDER = {
    legal_pb2.SORT_ORDER_DATE_DESC: "date_desc",
    legal_pb2.SORT_ORDER_DATE_ASC: "date_asc",
    legal_pb2.SORT_ORDER_COUNT_DESC: "count_desc",
    legal_pb2.SORT_ORDER_COUNT_ASC: "count_asc",
}


def filters_from_pb(request) -> Filters:
    """Filters of a request (unset optional fields stay None)."""
    if not request.HasField("filters"):
        return Filters()
    f = request.filters

    def opt(name: str):
        return getattr(f, name) if f.HasField(name) else None

    doc_type = None
    if f.HasField("type") and f.type != legal_pb2.NORMATIVA_TYPE_UNSPECIFIED:
        doc_type = _PB_TO_TYPE.get(f.type)
        if doc_type is None:
            raise InvalidArgument("El tipo de normativa no es válido.")
    return build(
        municipality=opt("municipality"),
        municipalities=list(f.municipalities),
        type=doc_type,
        year=opt("year"),
        date_from=opt("date_from"),
        date_to=opt("date_to"),
        number=opt("number"),
        status=opt("status"),
    )


def _enum(request, name: str, table: dict) -> str | None:
    if not request.HasField(name):
        return None
    value = getattr(request, name)
    if value == 0:
        return None
    if value not in table:
        raise InvalidArgument(f"El valor de '{name}' no es válido.")
    return table[value]


class LegalSearchServicer(legal_pb2_grpc.LegalSearchServiceServicer):
    def __init__(self, service: LegalSearch) -> None:
        self.service = service

    def _guard(self, context: grpc.ServicerContext, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except InvalidArgument as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except Unavailable as exc:
            context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        except OperationalError:
            log.exception("database unavailable")
            context.abort(
                grpc.StatusCode.UNAVAILABLE,
                "La base de normativas no está disponible en este momento; intente más tarde.",
            )
        except SQLAlchemyError:
            log.exception("database error")
            context.abort(grpc.StatusCode.INTERNAL, "No pude consultar la base de normativas; intente más tarde.")
        except Exception:  # never a stack trace to the caller
            log.exception("unexpected error")
            context.abort(grpc.StatusCode.INTERNAL, "No pude completar la consulta; intente más tarde.")
        raise AssertionError("unreachable")  # context.abort raises

    def QueryMetadataSql(self, request, context):
        def run():
            result = self.service.query_metadata(
                request.query,
                filters_from_pb(request),
                operation=_enum(request, "operation", _OPERATION),
                group_by=_enum(request, "group_by", _GROUP),
                order=_enum(request, "order", _ORDER),
                limit=request.limit if request.HasField("limit") else None,
            )
            return legal_pb2.QueryMetadataSqlResponse(
                total=result.total,
                groups=[legal_pb2.Group(key=k, count=n) for k, n in result.groups],
                rows=[
                    legal_pb2.NormativaRow(
                        id=r.id,
                        municipality=r.municipality,
                        type=_TYPE_TO_PB[r.type],
                        number=r.number,
                        year=r.year,
                        date=r.date,
                        title=r.title,
                        url=r.url,
                        status=r.status,
                    )
                    for r in result.rows
                ],
                sql=result.sql,
                interpretation=result.interpretation,
            )

        return self._guard(context, run)

    def SearchContent(self, request, context):
        def run():
            limit = request.limit if request.HasField("limit") else None
            out = self.service.search_content(request.query, filters_from_pb(request), limit)
            return legal_pb2.SearchContentResponse(
                total_hits=out.total_hits,
                results=[
                    legal_pb2.SearchResult(
                        id=h.id,
                        municipality=h.municipality,
                        type=_TYPE_TO_PB[h.type],
                        number=h.number,
                        year=h.year,
                        title=h.title,
                        url=h.url,
                        score=h.score,
                        snippet=h.snippet,
                    )
                    for h in out.results
                ],
                interpretation=out.interpretation,
            )

        return self._guard(context, run)

    def GetDatabaseStats(self, request, context):
        def run():
            s = self.service.stats()
            resp = legal_pb2.GetDatabaseStatsResponse(
                total_documents=s.total,
                municipalities=[legal_pb2.NameCount(name=n, count=c) for n, c in s.municipalities],
                types=[legal_pb2.NameCount(name=n, count=c) for n, c in s.types],
                years=[legal_pb2.YearCount(year=y, count=c) for y, c in s.years],
            )
            if s.last_updated is not None:
                resp.last_updated.FromDatetime(s.last_updated)
            return resp

        return self._guard(context, run)
