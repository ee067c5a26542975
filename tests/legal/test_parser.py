"""The deterministic Spanish reading of questions and the analysis chain (no database needed)."""

from __future__ import annotations

import datetime as dt

import pytest

from centralita_fixtures.legal_sample import MUNICIPALITIES
from legal_search.analysis import es_term, word_terms
from legal_search.names import Gazetteer
from legal_search.nlq import detect, parse_metadata

G = Gazetteer([m for m, _ in MUNICIPALITIES])


@pytest.mark.parametrize(
    "text,muni",
    [
        ("decretos de Bahía Blanca", "Bahía Blanca"),
        ("decretos de bahia blanca", "Bahía Blanca"),
        ("DECRETOS DE BAHIA BLANCA", "Bahía Blanca"),
        ("ordenanzas de Gral. Villegas", "General Villegas"),
        ("ordenanzas de gral villegas", "General Villegas"),
        ("ordenanzas de Villegas", "General Villegas"),
        ("normas de Cnel. Suárez", "Coronel Suárez"),
        ("lomas de zamora", "Lomas de Zamora"),
    ],
)
def test_municipality_variants(text, muni):
    assert detect(text, G).filters.municipalities == [muni]


def test_no_false_municipality():
    assert detect("ordenanzas sobre tránsito", G).filters.municipalities == []


@pytest.mark.parametrize(
    "text,start,end,year",
    [
        ("entre 2020 y 2023", dt.date(2020, 1, 1), dt.date(2023, 12, 31), None),
        ("entre 2023 y 2020", dt.date(2020, 1, 1), dt.date(2023, 12, 31), None),
        ("desde marzo de 2024", dt.date(2024, 3, 1), None, None),
        ("a partir de 2022", dt.date(2022, 1, 1), None, None),
        ("hasta junio de 2021", None, dt.date(2021, 6, 30), None),
        ("antes de 2018", None, dt.date(2017, 12, 31), None),
        ("después de 2021", dt.date(2022, 1, 1), None, None),
        ("en febrero de 2024", dt.date(2024, 2, 1), dt.date(2024, 2, 29), None),
        ("en 2025", None, None, 2025),
        ("del año 2019", None, None, 2019),
    ],
)
def test_dates(text, start, end, year):
    f = detect(f"decretos {text}", G).filters
    assert (f.date_from, f.date_to, f.year) == (start, end, year)


def test_types_plurals_numbers_status():
    assert detect("resoluciones", G).filters.type == "resolucion"
    assert detect("Disposición", G).filters.type == "disposicion"
    f = detect("¿Qué dice la ordenanza N° 2947 sobre habilitaciones?", G).filters
    assert (f.type, f.number, f.year) == ("ordenanza", "2947", None)
    assert detect("decreto número 15 de 2020", G).filters.number == "15"
    assert detect("decreto número 15 de 2020", G).filters.year == 2020
    assert detect("ordenanzas derogadas", G).filters.status == "derogada"


@pytest.mark.parametrize(
    "text,op,group,order",
    [
        ("¿Cuántos decretos hay de Carlos Tejedor en 2025?", "count", "none", None),
        ("¿Qué municipio tiene más decretos?", "count", "municipality", "count_desc"),
        ("¿Qué municipio tiene menos convenios?", "count", "municipality", "count_asc"),
        ("Lista todas las ordenanzas de Merlo", "list", "none", None),
        ("Compara Merlo y Carlos Tejedor", "count", "municipality", "count_desc"),
        ("¿En qué año hubo más ordenanzas?", "count", "year", "count_desc"),
        ("cantidad de normativas por tipo", "count", "type", "count_desc"),
        ("los 5 decretos más recientes de Tandil", "list", "none", "date_desc"),
    ],
)
def test_operation_and_grouping(text, op, group, order):
    q = parse_metadata(text, G)
    assert (q.operation, q.group_by, q.order) == (op, group, order)


def test_compare_sets_both_municipalities():
    q = parse_metadata("Compara Merlo y Carlos Tejedor", G)
    assert q.filters.municipalities == ["Merlo", "Carlos Tejedor"]


def test_spanish_chain_order():
    # stemming needs the accents; folding afterwards makes accented forms meet
    assert es_term("administración") == es_term("administraciones") == "administr"
    assert es_term("tránsito") == es_term("transito")
    assert es_term("de") is None and es_term("las") is None
    # an unaccented spelling is looked up as itself; accented words also index that spelling
    assert es_term("habilitacion") in word_terms("habilitación")
    assert es_term("vacunacion") in word_terms("vacunación")


def test_other_grammatical_number_is_looked_up_too():
    from legal_search.content import number_variants

    assert es_term("préstamos") != es_term("préstamo")  # the stemmer splits them...
    assert es_term("préstamo") in number_variants("préstamos", es_term("préstamos"))  # ...the query joins them
    assert es_term("préstamos") in number_variants("préstamo", es_term("préstamo"))
    assert number_variants("tasas", es_term("tasas")) == ()  # nothing to add when the stems agree
