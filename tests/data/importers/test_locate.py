"""Placing mentions given only as text: first free occurrence, word boundaries, drop or fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowcoder.data.importers import ImportContext, ImportReport
from knowcoder.data.importers.locate import SpanLocator, check_drop_unlocated
from knowcoder.errors import ConfigError, DataFormatError


def locator(mini_ontology, text: str, *, lang: str = "en", drop: bool = False) -> SpanLocator:
    ctx = ImportContext(
        path=Path("in.jsonl"),
        ontology=mini_ontology,
        dataset="sample",
        lang=lang,
        report=ImportReport(path="in.jsonl", format="instruction"),
    )
    return SpanLocator(ctx, text, line=4, drop_unlocated=drop)


def test_each_mention_of_a_group_takes_the_next_free_occurrence(mini_ontology):
    spans = locator(mini_ontology, "Bo met Bo and Bo.")
    assert [spans.locate("Bo", "Person", "answer.Person[0]") for _ in range(3)] == [(0, 2), (7, 9), (14, 16)]
    assert spans.locate("Bo", "Location", "answer.Location[0]") == (0, 2)  # another group starts afresh
    assert spans.find("Bo") == (0, 2)  # find ignores what is taken


def test_an_occurrence_on_word_boundaries_wins_in_spaced_languages(mini_ontology):
    assert locator(mini_ontology, "Alcoa hired Al.").locate("Al", "Person", "f") == (12, 14)


def test_languages_without_spaces_take_the_first_occurrence(mini_ontology):
    text = "北京大学, 北京"
    assert locator(mini_ontology, text, lang="zh").locate("北京", "Location", "f") == (0, 2)
    assert locator(mini_ontology, text, lang="en").locate("北京", "Location", "f") == (6, 8)


def test_a_mention_that_cannot_be_placed_names_file_line_field_and_why(mini_ontology):
    spans = locator(mini_ontology, "Bo met Ann.")
    spans.locate("Bo", "Person", "answer.Person[0]")
    with pytest.raises(DataFormatError) as caught:
        spans.locate("Bo", "Person", "answer.Person[1]")
    assert str(caught.value) == (
        "in.jsonl:4: answer.Person[1]: cannot place 'Bo': each of its 1 occurrence(s) is already taken by "
        "an earlier item; fix the record or import with --option drop_unlocated=true"
    )
    with pytest.raises(DataFormatError, match=r"cannot place 'Cy': it does not occur in the text"):
        spans.locate("Cy", "Person", "answer.Person[2]")


def test_an_unlocated_mention_is_dropped_and_counted_on_request(mini_ontology):
    spans = locator(mini_ontology, "Bo met Ann.", drop=True)
    assert spans.locate("Cy", "Person", "f") is None
    assert spans.locate("Dee", "Person", "f") is None
    assert spans.ctx.report.dropped_spans == 2


@pytest.mark.parametrize(
    ("raw", "problem"), [("  ", "expected non-empty mention text"), (3, "expected a string")]
)
def test_a_mention_that_is_not_text_is_an_error(mini_ontology, raw, problem):
    with pytest.raises(DataFormatError, match=problem):
        locator(mini_ontology, "Bo met Ann.").locate(raw, "Person", "f")


def test_drop_unlocated_must_be_a_boolean():
    assert check_drop_unlocated(True) is True
    with pytest.raises(ConfigError, match=r"^options\.drop_unlocated: expected true or false, got 'yes'$"):
        check_drop_unlocated("yes")
