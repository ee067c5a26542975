"""Spanish dates (lark grammar), municipality names (database names, rapidfuzz), spoken numbers and the
rule that explicit filters win. No database: these are the reader's parts one by one."""

from __future__ import annotations

import datetime as dt

import pytest

from centralita_fixtures.legal_judged import MUNICIPALITIES
from legal_search import dates
from legal_search.filters import Filters, build, fill
from legal_search.names import Gazetteer, canonical
from legal_search.nlq import detect, parse_metadata
from legal_search.spoken import digits

TODAY = dt.date(2025, 6, 15)
G = Gazetteer(MUNICIPALITIES)
D = dt.date


def read(text: str):
    f = detect(text, G, TODAY).filters
    return f.date_from, f.date_to, f.year


@pytest.mark.parametrize(
    "text,expected",
    [
        ("entre marzo y junio de 2024", (D(2024, 3, 1), D(2024, 6, 30), None)),
        ("el primer semestre de 2023", (D(2023, 1, 1), D(2023, 6, 30), None)),
        ("la segunda mitad de 2022", (D(2022, 7, 1), D(2022, 12, 31), None)),
        ("desde el 1/1/2023 hasta el 31/12/2024", (D(2023, 1, 1), D(2024, 12, 31), None)),
        ("entre el 1-7-22 y el 31-12-22", (D(2022, 7, 1), D(2022, 12, 31), None)),
        ("desde el 15.3.2024", (D(2024, 3, 15), None, None)),
        ("a partir de 2020", (D(2020, 1, 1), None, None)),
        ("a partir de marzo de 2024", (D(2024, 3, 1), None, None)),
        ("hasta mayo", (None, D(2025, 5, 31), None)),
        ("hasta el 30/6/2018", (None, D(2018, 6, 30), None)),
        ("en los últimos seis meses", (D(2024, 12, 15), TODAY, None)),
        ("en los ultimos 3 meses", (D(2025, 3, 15), TODAY, None)),
        ("en el último año", (D(2024, 6, 15), TODAY, None)),
        ("las últimas dos semanas", (D(2025, 6, 1), TODAY, None)),
        ("desde hace dos años", (D(2023, 6, 15), None, None)),
        ("el año pasado", (None, None, 2024)),
        ("este año", (None, None, 2025)),
        ("en lo que va del año", (D(2025, 1, 1), TODAY, None)),
        ("el mes pasado", (D(2025, 5, 1), D(2025, 5, 31), None)),
        ("el tercer trimestre del año pasado", (D(2024, 7, 1), D(2024, 9, 30), None)),
        ("el cuarto trimestre de dos mil veintitrés", (D(2023, 10, 1), D(2023, 12, 31), None)),
        ("primer trimestre 2024", (D(2024, 1, 1), D(2024, 3, 31), None)),
        ("del 2019 al 2021", (D(2019, 1, 1), D(2021, 12, 31), None)),
        ("del dos mil diecinueve al dos mil veintiuno", (D(2019, 1, 1), D(2021, 12, 31), None)),
        ("entre 2023 y 2020", (D(2020, 1, 1), D(2023, 12, 31), None)),
        ("entre los años 2016 y 2018", (D(2016, 1, 1), D(2018, 12, 31), None)),
        ("de enero a marzo de 2023", (D(2023, 1, 1), D(2023, 3, 31), None)),
        ("de enero a marzo", (D(2025, 1, 1), D(2025, 3, 31), None)),
        ("desde septiembre de 2023 hasta febrero de 2024", (D(2023, 9, 1), D(2024, 2, 29), None)),
        ("entre el 10 de marzo y el 20 de abril de 2023", (D(2023, 3, 10), D(2023, 4, 20), None)),
        ("antes de 2018", (None, D(2017, 12, 31), None)),
        ("anteriores al 2017", (None, D(2016, 12, 31), None)),
        ("después de marzo de 2021", (D(2021, 4, 1), None, None)),
        ("posteriores a 2022", (D(2023, 1, 1), None, None)),
        ("en febrero de 2024", (D(2024, 2, 1), D(2024, 2, 29), None)),
        ("del 2020 en adelante", (D(2020, 1, 1), None, None)),
        ("desde principios de 2022", (D(2022, 1, 1), None, None)),
        ("a fines de 2021", (D(2021, 10, 1), D(2021, 12, 31), None)),
        ("el último trimestre de 2024", (D(2024, 10, 1), D(2024, 12, 31), None)),
        ("el último trimestre", (D(2025, 3, 15), TODAY, None)),
        ("desde el 2020-03-01", (D(2020, 3, 1), None, None)),
        ("entre el 2018 y hoy", (D(2018, 1, 1), TODAY, None)),
        ("el segundo cuatrimestre de 2023", (D(2023, 5, 1), D(2023, 8, 31), None)),
        ("en el 2do semestre de 2021", (D(2021, 7, 1), D(2021, 12, 31), None)),
        ("a partir del 1° de julio de 2022", (D(2022, 7, 1), None, None)),
        ("en 2025", (None, None, 2025)),
        ("del año 2019", (None, None, 2019)),
        ("en el dos mil quince", (None, None, 2015)),
        ("en el veinte veintidós", (None, None, 2022)),
    ],
)
def test_date_expressions(text, expected):
    assert read(f"¿cuántos decretos hubo {text}?") == expected


@pytest.mark.parametrize("text", ["el 31/02/2024", "el 45/13/2020", "ordenanzas sobre tránsito", "hasta el"])
def test_impossible_or_absent_dates_add_nothing(text):
    assert read(text) == (None, None, None)


def test_an_impossible_part_falls_back_to_what_is_real():
    assert read("el 5 semestre de 2020") == (None, None, 2020)
    assert read("el 30 de febrero de 2024") == (D(2024, 2, 1), D(2024, 2, 29), None)


def test_relative_dates_follow_the_clock():
    assert detect("el año pasado", G, D(2031, 1, 2)).filters.year == 2030
    f = detect("en los últimos seis meses", G, D(2024, 8, 31)).filters
    assert (f.date_from, f.date_to) == (D(2024, 2, 29), D(2024, 8, 31))  # clamped to February's end


def test_every_date_form_is_found_inside_a_longer_question():
    found = dates.find(canonical("ordenanzas de merlo del 2019 al 2021 sobre tasas"), TODAY)
    assert [(d.date_from, d.date_to) for d in found] == [(D(2019, 1, 1), D(2021, 12, 31))]


@pytest.mark.parametrize(
    "text,muni",
    [
        ("ordenanzas de 3 de Febrero", "Tres de Febrero"),
        ("ordenanzas de tres de febrero", "Tres de Febrero"),
        ("decretos de 9 de julio", "9 de Julio"),
        ("decretos de nueve de julio", "9 de Julio"),
        ("Gral. San Martín", "General San Martín"),
        ("gral san martin", "General San Martín"),
        ("Gdor. San Martín", "General San Martín"),  # a wrong title still names the only San Martín
        ("san martin", "General San Martín"),
        ("Cnel. Suárez", "Coronel Suárez"),
        ("cnel suarez", "Coronel Suárez"),
        ("Pte. Perón", "Presidente Perón"),
        ("presidente peron", "Presidente Perón"),
        ("Perón", "Presidente Perón"),
        ("Giles", "San Andrés de Giles"),
        ("areco", "San Antonio de Areco"),
        ("MORÓN", "Morón"),
        ("moron", "Morón"),
        ("moreno", "Moreno"),
        ("bahia blaca", "Bahía Blanca"),
        ("tres arrollos", "Tres Arroyos"),
        ("lomas de zamorra", "Lomas de Zamora"),
        ("general pas", "General Paz"),
        ("coronel pringle", "Coronel Pringles"),
        ("carlos tejedo", "Carlos Tejedor"),
        ("lomas", "Lomas de Zamora"),  # Tres Lomas is never "Lomas"
    ],
)
def test_municipality_variants(text, muni):
    assert detect(f"cuántas normas tiene {text}", G, TODAY).filters.municipalities == [muni]


@pytest.mark.parametrize(
    "text",
    [
        "ordenanzas sobre tránsito",
        "decretos de salud",
        "las normas de junio",
        "el intendente",
        "pergamino",
        "perdón",
        "general",
        "coronel",
        "san",
        "tres",
    ],
)
def test_no_municipality_is_guessed(text):
    assert detect(text, G, TODAY).filters.municipalities == []


def test_near_neighbours_never_collide():
    for a in MUNICIPALITIES:
        found = detect(f"normas de {a}", G, TODAY).filters.municipalities
        assert found == [a], (a, found)


def test_names_come_from_the_database_not_a_list():
    small = Gazetteer(["Merlo", "Rivadavia"])
    assert detect("decretos de 3 de febrero", small, TODAY).filters.municipalities == []
    assert detect("decretos de rivadabia", small, TODAY).filters.municipalities == ["Rivadavia"]
    assert Gazetteer([]).find("merlo") == []


def test_a_date_that_looks_like_a_municipality():
    f = detect("decretos desde el 3 de febrero de 2024", G, TODAY).filters
    assert f.municipalities == [] and f.date_from == D(2024, 2, 3)
    f = detect("ordenanzas de 3 de febrero de 2023", G, TODAY).filters
    assert f.municipalities == ["Tres de Febrero"] and f.year == 2023


def test_spoken_numbers():
    assert digits("la ordenanza dos mil novecientos cuarenta y siete") == "la ordenanza 2947"
    assert digits("entre dos mil veinte y dos mil veintitres") == "entre 2020 y 2023"
    f = detect("decreto mil doscientos uno de bahia blanca", G, TODAY).filters
    assert (f.number, f.municipalities) == ("1201", ["Bahía Blanca"])
    assert detect("decretos 2023 de merlo", G, TODAY).filters.year == 2023  # plural type + year is a year


@pytest.mark.parametrize(
    "text",
    [
        "¿Está vigente la ordenanza 1520 de Tres de Febrero?",
        "sigue vigente la ordenanza 1520 de 3 de febrero",
        "¿Fue derogada la ordenanza 1520 de Tres de Febrero?",
        "la ordenanza 1520 de tres de febrero sigue en vigor",
        "¿la ordenanza 1520 de Tres de Febrero todavía rige?",
    ],
)
def test_yes_no_status_question_is_a_lookup(text):
    q = parse_metadata(text, G, TODAY)
    assert q.filters.status is None and q.status_question
    assert (q.operation, q.filters.number, q.filters.municipalities) == ("list", "1520", ["Tres de Febrero"])


def test_status_as_a_filter_when_counting_or_listing():
    assert parse_metadata("¿cuántas ordenanzas vigentes tiene Merlo?", G, TODAY).filters.status == "vigente"
    assert parse_metadata("cuantas normas están derogadas en Morón", G, TODAY).filters.status == "derogada"
    assert parse_metadata("decretos derogados de Lanús", G, TODAY).filters.status == "derogada"


def test_explicit_filters_win():
    explicit = build(date_from="2023-02-01", date_to="2023-11-30", municipality="Moreno")
    read_ = detect("¿Cuántas ordenanzas hay desde el 1/1/2023 hasta el 31/12/2023 en Merlo?", G, TODAY).filters
    out, sources = fill(explicit, read_)
    assert (out.date_from, out.date_to, out.year) == (D(2023, 2, 1), D(2023, 11, 30), None)
    assert out.municipalities == ["Moreno"] and out.type == "ordenanza"  # the absent type is filled
    assert sources == {"municipio": "explicit", "fechas": "explicit", "tipo": "query"}
    out, _ = fill(build(year=2021), detect("desde el 1/1/2023 hasta el 31/12/2024", G, TODAY).filters)
    assert (out.year, out.date_from, out.date_to) == (2021, None, None)  # a year and a range are one "when"


def test_explicit_number_keeps_words_from_filtering_status():
    explicit = build(municipality="Tres de Febrero", type="ordenanza", number="1520")
    out, sources = fill(explicit, Filters(status="vigente"))
    assert out.status is None and "estado" not in sources
    out, sources = fill(build(status="derogada"), Filters(status="vigente"))
    assert out.status == "derogada" and sources["estado"] == "explicit"
    out, sources = fill(Filters(), Filters(status="vigente"), status_question=True)
    assert out.status is None


def test_unknown_capitalised_place_counts_nothing_but_topics_are_not_places():
    assert parse_metadata("¿Cuántas ordenanzas tiene Springfield?", G, TODAY).filters.municipalities == ["Springfield"]
    assert parse_metadata("cuantas ordenanzas de la Provincia hay", G, TODAY).filters.municipalities == []
    assert parse_metadata("cuántas ordenanzas hay", G, TODAY).filters.municipalities == []


def test_reader_never_raises_on_odd_input():
    for text in [
        "",
        " ",
        "¿?",
        "1/1/1/1",
        "entre y",
        "desde desde desde",
        "hasta el",
        "9" * 500,
        "el " * 500,
        "entre marzo y",
        "del al",
        "ñandú 😀",
        "31/31/31",
        "0/0/0000",
    ]:
        parse_metadata(text, G, TODAY)


OTHER = Gazetteer(
    [
        "José C. Paz",
        "Marcos Paz",
        "General Paz",
        "General Juan Madariaga",
        "Villa Gesell",
        "25 de Mayo",
        "Leandro N. Alem",
        "Carmen de Areco",
        "San Antonio de Areco",
        "Almirante Brown",
        "General La Madrid",
        "Coronel de Marina Leonardo Rosales",
    ]
)


@pytest.mark.parametrize(
    "text,muni",
    [
        ("jose c paz", "José C. Paz"),
        ("José C. Paz", "José C. Paz"),
        ("marcos paz", "Marcos Paz"),
        ("general paz", "General Paz"),
        ("general madariaga", "General Juan Madariaga"),
        ("madariaga", "General Juan Madariaga"),
        ("gesell", "Villa Gesell"),
        ("coronel rosales", "Coronel de Marina Leonardo Rosales"),
        ("veinticinco de mayo", "25 de Mayo"),
        ("leandro alem", "Leandro N. Alem"),
        ("Almte. Brown", "Almirante Brown"),
        ("general lamadrid", "General La Madrid"),
        ("carmen de areco", "Carmen de Areco"),
    ],
)
def test_other_corpora_names(text, muni):
    assert detect(f"cuántas normas tiene {text}", OTHER, TODAY).filters.municipalities == [muni]


def test_shared_short_forms_name_nothing():
    assert detect("cuántas normas tiene areco", OTHER, TODAY).filters.municipalities == []  # two Arecos
    assert detect("cuántas normas tiene paz", OTHER, TODAY).filters.municipalities == []


def test_written_type_abbreviations_before_a_number():
    f = detect("Dto. 315/2023 de Gral. San Martín", G, TODAY).filters
    assert (f.type, f.number, f.year, f.municipalities) == ("decreto", "315", 2023, ["General San Martín"])
    assert detect("Ord. N° 2947 de Merlo", G, TODAY).filters.type == "ordenanza"
    assert detect("la res de la vaca", G, TODAY).filters.type is None  # not before a number: a word


@pytest.mark.parametrize(
    "text,group",
    [
        ("ranking de municipios por cantidad de ordenanzas", "municipality"),
        ("los municipios con más decretos", "municipality"),
        ("decretos año por año en Morón", "year"),
    ],
)
def test_more_ways_to_ask_for_groups(text, group):
    q = parse_metadata(text, G, TODAY)
    assert (q.operation, q.group_by) == ("count", group)


def test_pathological_questions_cost_is_bounded():
    import time

    parse_metadata("desde el 1/1/2023 hasta el 31/12/2024", G, TODAY)  # warm: grammar tables, dateparser
    for text in [
        ("de la " * 400)[:2000],
        ("desde el %d/1/2023 hasta el " * 100 % tuple(range(1, 101)))[:2000],
        ("el primer semestre del año pasado " * 100)[:2000],
        ("merlx moron " * 200)[:2000],
    ]:
        started = time.perf_counter()
        parse_metadata(text, G, TODAY)
        assert time.perf_counter() - started < 1.5, text[:40]  # ~60 ms on a quiet core


def test_a_long_question_still_reads_its_first_dates():
    text = "cuantos decretos de merlo desde el 1/1/2023 " + "y además " * 150
    f = detect(text, G, TODAY).filters
    assert f.municipalities == ["Merlo"] and f.date_from == D(2023, 1, 1)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("ordenanza 3 mil… no, la ordenanza 2947 de Merlo", (["Merlo"], "ordenanza", "2947", None)),
        ("cuantas ordenanzas tiene Moreno... perdón, Morón", (["Morón"], "ordenanza", None, None)),
        ("decretos de 2020, digo, de 2021 de moron", (["Morón"], "decreto", None, 2021)),
        ("perdón, ¿cuántas ordenanzas tiene Merlo en 2019?", (["Merlo"], "ordenanza", None, 2019)),
    ],
)
def test_spoken_self_corrections_keep_what_follows(text, expected):
    f = detect(text, G, TODAY).filters
    assert (f.municipalities, f.type, f.number, f.year) == expected


# ---- round 3: two-digit years, negated status, weeks and days, ordinal days ----------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        ("marzo del 23", (D(2023, 3, 1), D(2023, 3, 31), None)),
        ("en el primer trimestre del 24", (D(2024, 1, 1), D(2024, 3, 31), None)),
        ("en el segundo semestre del 22", (D(2022, 7, 1), D(2022, 12, 31), None)),
        ("el último trimestre del 23", (D(2023, 10, 1), D(2023, 12, 31), None)),
        ("del 22", (None, None, 2022)),
        ("año 21", (None, None, 2021)),
        ("en el 19", (None, None, 2019)),
        ("del 98", (None, None, 1998)),
        ("en el año 99", (None, None, 1999)),
        ("a partir del 21", (D(2021, 1, 1), None, None)),
        ("desde el 20", (D(2020, 1, 1), None, None)),
        ("entre el 22 y el 24", (D(2022, 1, 1), D(2024, 12, 31), None)),
        ("entre 2018 y el 20", (D(2018, 1, 1), D(2020, 12, 31), None)),
        ("del año 2016 al 18", (D(2016, 1, 1), D(2018, 12, 31), None)),
        ("el 3 de marzo del 22", (D(2022, 3, 3), D(2022, 3, 3), None)),
        ("marzo del veintitrés", (D(2023, 3, 1), D(2023, 3, 31), None)),
    ],
)
def test_two_digit_years_where_a_year_goes(text, expected):
    assert read(f"¿cuántos decretos hubo {text}?") == expected


def test_two_digit_year_century_follows_the_clock():
    assert dates.two_digit_year(26, TODAY) == 2026 and dates.two_digit_year(27, TODAY) == 1927
    assert dates.two_digit_year(27, D(2026, 12, 3)) == 2027
    assert detect("ordenanzas de merlo de marzo del 23", G, D(2026, 12, 3)).filters.date_from == D(2023, 3, 1)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("ordenanzas del 3 de febrero", (["Tres de Febrero"], None, None)),  # the municipality, not a date
        ("cuantas ordenanzas de tres de febrero del 22", (["Tres de Febrero"], None, 2022)),
        ("la ordenanza 22 de merlo", (["Merlo"], "22", None)),  # a norm number
        ("el decreto N° 21 de moron", (["Morón"], "21", None)),
        ("decime la 22", ([], None, None)),
        ("cuantas normas hubo el 22", ([], None, None)),  # no year context
        ("decretos del 22 de marzo de 2024", ([], None, None)),  # a day
        ("en los ultimos 15 dias", ([], None, None)),
    ],
)
def test_two_digit_near_misses_stay_what_they_are(text, expected):
    f = detect(text, G, TODAY).filters
    assert (f.municipalities, f.number, f.year) == expected


def test_day_ranges_and_ordinal_days():
    assert read("del 10 al 20 de abril de 2023")[:2] == (D(2023, 4, 10), D(2023, 4, 20))
    assert read("entre el 1ro y el 15 de marzo de 2024")[:2] == (D(2024, 3, 1), D(2024, 3, 15))
    assert read("decretos del 1ro de marzo de 2024")[:2] == (D(2024, 3, 1), D(2024, 3, 1))
    assert read("desde el primero de marzo de 2023")[:2] == (D(2023, 3, 1), None)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("la semana pasada", (D(2025, 6, 2), D(2025, 6, 8), None)),  # TODAY is a Sunday
        ("esta semana", (D(2025, 6, 9), D(2025, 6, 15), None)),
        ("la semana que viene", (D(2025, 6, 16), D(2025, 6, 22), None)),
        ("en los últimos 15 días", (D(2025, 5, 31), TODAY, None)),
        ("ayer", (D(2025, 6, 14), D(2025, 6, 14), None)),
        ("anteayer", (D(2025, 6, 13), D(2025, 6, 13), None)),
        ("el mes que viene", (D(2025, 7, 1), D(2025, 7, 31), None)),
        ("el próximo año", (None, None, 2026)),
        ("el año antepasado", (None, None, 2023)),
        ("en lo que va de este año", (D(2025, 1, 1), TODAY, None)),
        ("a fines del año pasado", (D(2024, 10, 1), D(2024, 12, 31), None)),
        ("de 2019 para acá", (D(2019, 1, 1), None, None)),
        ("desde 2019 hasta ahora", (D(2019, 1, 1), None, None)),
        ("en los últimos dos años", (D(2023, 6, 15), TODAY, None)),
    ],
)
def test_relative_weeks_days_and_more(text, expected):
    assert read(f"¿cuántos decretos hubo {text}?") == expected


def test_ahora_and_para_alone_are_no_dates():
    assert read("ahora decime cuantas ordenanzas hay para merlo") == (None, None, None)


def test_number_with_a_two_digit_year():
    f = detect("N° 1234/22 de merlo", G, TODAY).filters
    assert (f.number, f.year) == ("1234", 2022)
    f = detect("decreto 45 barra 21 de merlo", G, TODAY).filters
    assert (f.number, f.year, f.type) == ("45", 2021, "decreto")


def test_a_time_span_is_not_a_list_limit():
    assert parse_metadata("decretos de merlo de los ultimos 15 dias", G, TODAY).limit == 10
    assert parse_metadata("las ultimas 5 ordenanzas de merlo", G, TODAY).limit == 5


@pytest.mark.parametrize(
    "text,status,status_not",
    [
        ("cuantas normas de merlo que no están derogadas", None, "derogada"),
        ("cuantos decretos de merlo hay sin derogar", None, "derogada"),
        ("cuantas normas no derogadas tiene moron", None, "derogada"),
        ("ordenanzas de merlo que no fueron modificadas", None, "modificada"),
        ("cuantas normas de san isidro no estan vigentes", "derogada", None),  # modificada is still in force
        ("cuantas ordenanzas de moron ya no rigen", "derogada", None),
        ("cuantas normas de merlo siguen vigentes", "vigente", None),
        ("las ordenanzas que rigen en merlo", "vigente", None),
        ("cuantas ordenanzas abrogadas tiene lanus", "derogada", None),
        ("no sé cuántas ordenanzas vigentes tiene merlo", "vigente", None),  # "no" too far from the word
        ("no tenés las vigentes de merlo", "vigente", None),  # only forms of "to be" between "no" and the word
        ("cuantas normas de merlo que todavía no han sido derogadas", None, "derogada"),
        ("cuantas ordenanzas de merlo no se derogaron", None, "derogada"),
        ("cuantas ordenanzas de merlo se derogaron", "derogada", None),
    ],
)
def test_negated_status(text, status, status_not):
    q = parse_metadata(text, G, TODAY)
    assert (q.filters.status, q.filters.status_not, q.status_question) == (status, status_not, None)


def test_negated_status_question_is_still_a_lookup():
    q = parse_metadata("la ordenanza 1520 de tres de febrero no esta derogada?", G, TODAY)
    assert q.filters.status is None and q.filters.status_not is None and q.status_question


def test_status_not_is_one_group_with_status():
    f, src = fill(build(status="vigente"), Filters(status_not="derogada"))
    assert (f.status, f.status_not, src) == ("vigente", None, {"estado": "explicit"})
    f, src = fill(build(), Filters(status_not="derogada"))
    assert (f.status_not, src) == ("derogada", {"estado": "query"})
