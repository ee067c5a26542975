"""Any text at all: a normal answer or InvalidArgument, never another exception, never a changed store."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from legal_search.errors import InvalidArgument
from legal_search.filters import build

WORDS = st.sampled_from(
    [
        "ordenanza",
        "decretos",
        "2947",
        "Merlo",
        "gral.",
        "entre",
        "2020",
        "y",
        "desde",
        "marzo",
        "de",
        "title:",
        "*",
        "?",
        "AND",
        "NOT",
        "(",
        ")",
        '"',
        "'",
        ";",
        "--",
        "DROP",
        "TABLE",
        "cuántos",
        "qué",
        "municipio",
        "más",
        "tasa",
        "sueldos",
        "tránsito",
        "N°",
        "\x00",
        "😀",
    ]
)
TEXT = st.one_of(st.text(max_size=300), st.lists(WORDS, max_size=25).map(" ".join))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXT, municipality=st.one_of(st.none(), st.text(max_size=30)))
def test_any_text_is_answered_or_politely_refused(loaded, text, municipality):
    svc, truths = loaded
    for call in (
        lambda: svc.search_content(text, build(municipality=municipality), None),
        lambda: svc.query_metadata(text, build(municipality=municipality)),
    ):
        try:
            call()
        except InvalidArgument as exc:
            assert str(exc).endswith(".")
    assert svc.stats().total == len(truths)
