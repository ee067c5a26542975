"""Snippets: the densest passage, matched words marked whatever their accents, case or inflection."""

from __future__ import annotations

from legal_search.analysis import word_terms
from legal_search.snippets import WINDOW, snippet


def terms(*words: str) -> set[str]:
    return {t for w in words for t in word_terms(w)}


LONG = (
    "Que corresponde dictar el acto administrativo pertinente. " * 40
    + "ARTÍCULO 1°: Todo COMERCIO deberá obtener la Habilitación municipal; las habilitaciones comerciales "
    + "se tramitan en la Dirección. "
    + "Comuníquese y archívese. " * 40
)


def test_densest_passage_with_marks():
    out = snippet(LONG, terms("habilitación", "comercios"))
    assert "**COMERCIO**" in out and "**Habilitación**" in out and "**habilitaciones**" in out
    assert out.startswith("…") and out.endswith("…")
    assert len(out.split()) <= WINDOW + 8
    assert "**comerciales**" not in out  # another stem (comercial), not a word of the question


def test_unaccented_question_marks_accented_text():
    out = snippet("La habilitación del local.", terms("habilitacion"))
    assert out == "La **habilitación** del local."


def test_no_match_gives_the_start_and_no_cut_words():
    out = snippet(LONG, terms("zapallo"))
    assert out.startswith("Que corresponde") and out.endswith("…") and "**" not in out
    assert out[:-1].split()[-1].rstrip(".") in LONG.split() or out[:-1].split()[-1] in LONG


def test_text_whose_folding_changes_length():
    assert snippet("Straße Ærø: habilitación", terms("habilitación")) == "Straße Ærø: **habilitación**"


def test_empty_and_regex_characters():
    assert snippet("", terms("tasa")) == ""
    assert snippet("tasa (a) [b] * + ?", terms("tasa") | {"a)", "*"}) == "**tasa** (a) [b] * + ?"


def test_kept_search_key_gives_the_same_snippets():
    from legal_search.snippets import search_key

    for text, words in (
        (LONG, ("habilitación", "comercios")),
        (LONG, ("zapallo",)),
        ("La habilitación del local.", ("habilitacion",)),
        ("Straße Ærø: habilitación", ("habilitación",)),
        ("tasa (a) [b] * + ?", ("tasa",)),
    ):
        assert snippet(text, terms(*words), key=search_key(text)) == snippet(text, terms(*words))
