"""SQLAlchemy 2 model of a normativa: the database is the source of truth, the index a projection of it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Date, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

TYPES = ("ordenanza", "decreto", "resolucion", "disposicion", "convenio")
TYPE_LABEL = {
    "ordenanza": "Ordenanza",
    "decreto": "Decreto",
    "resolucion": "Resolución",
    "disposicion": "Disposición",
    "convenio": "Convenio",
}


class Base(DeclarativeBase):
    pass


class Normativa(Base):
    """One municipal norm (DESIGN §7) plus what keeps the index in step with it.

    `digest` is a hash of the indexed content: an index entry is current exactly when it carries the
    row's digest, so every replica can repair its own index after a crash without writing to SQL.
    """

    __tablename__ = "normativas"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    municipality: Mapped[str] = mapped_column(String(100))
    municipality_key: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(20))
    number: Mapped[str] = mapped_column(String(40))
    year: Mapped[int] = mapped_column(Integer)
    date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    title: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(40), default="vigente")
    content: Mapped[str] = mapped_column(Text, default="")
    articles: Mapped[list] = mapped_column(JSON, default=list)
    considerandos: Mapped[list] = mapped_column(JSON, default=list)
    tables: Mapped[list] = mapped_column(JSON, default=list)
    digest: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_normativas_type_muni_year", "type", "municipality_key", "year"),
        Index("ix_normativas_muni_year", "municipality_key", "year"),
        Index("ix_normativas_year", "year"),
        Index("ix_normativas_date", "date"),
        Index("ix_normativas_number", "number"),
        Index("ix_normativas_updated_at", "updated_at"),
        Index("ix_normativas_status", "status"),
        Index("ix_normativas_muni_type_date", "municipality_key", "type", "date"),
        Index("ix_normativas_muni_type_status", "municipality_key", "type", "status"),
    )


METADATA_COLUMNS = ("id", "municipality", "type", "number", "year", "date", "title", "url", "status")
