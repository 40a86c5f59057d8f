"""NER: gold entities off an instance, ``Person("...")`` written and read back, stored dicts."""

from __future__ import annotations

import ast

import pytest

from knowcoder.records import EntityRecord
from knowcoder.tasks import TASKS, Allowed
from knowcoder.tasks.base import Dropped, Reject
from knowcoder.tasks.ner import NER, NamedEntityRecognition

SENTENCE = "Kenji Watanabe left Orion Systems in March 2021 to start his own firm."


def _call(code: str) -> ast.Call:
    node = ast.parse(code, mode="eval").body
    assert isinstance(node, ast.Call)
    return node


def test_it_is_registered_as_ner():
    assert isinstance(NER, NamedEntityRecognition) and TASKS["ner"] is NER


def test_gold_records_are_the_entities_of_the_instance_in_order(sample_en):
    assert NER.gold_records(sample_en["sample-en-0001"]) == [
        EntityRecord("Person", "Kenji Watanabe"),
        EntityRecord("Company", "Orion Systems"),
        EntityRecord("Date", "March 2021"),
    ]
    assert NER.positive_types(sample_en["sample-en-0004"]) == ["City", "Country"]  # City once


def test_render_record_writes_one_constructor_call_with_an_escaped_string():
    assert NER.render_record(EntityRecord("Person", "Kenji Watanabe")) == 'Person("Kenji Watanabe")'
    assert NER.render_record(EntityRecord("Location", '"Paris"\\x')) == 'Location("\\"Paris\\"\\\\x")'


@pytest.mark.parametrize("code", ['Person("Kenji Watanabe")', 'Person(name="Kenji Watanabe")'])
def test_parse_call_reads_a_positional_or_name_argument(code):
    allowed = Allowed(types=frozenset({"Person"}), sentence=SENTENCE)
    dropped = Dropped()
    assert NER.parse_call(_call(code), allowed, dropped) == EntityRecord("Person", "Kenji Watanabe")
    assert dropped == Dropped()


@pytest.mark.parametrize(
    ("code", "reason", "unknown", "not_found"),
    [
        ('Robot("Kenji Watanabe")', "unknown_types", {"Robot": 1}, 0),
        ('Person("Ada Park")', "spans_not_found", {}, 1),  # not in the sentence
        ('Person("")', "spans_not_found", {}, 1),
        ('Person(text="Kenji Watanabe")', "bad_shapes", {}, 0),  # NER names its argument ``name``
        ('Person("Kenji", "Watanabe")', "bad_shapes", {}, 0),
        ("Person(Kenji)", "bad_shapes", {}, 0),  # not a string literal
        ('types.Person("Kenji Watanabe")', "bad_shapes", {}, 0),  # not a plain class name
    ],
)
def test_parse_call_rejects_with_a_reason_and_counts_what_it_dropped(code, reason, unknown, not_found):
    allowed = Allowed(types=frozenset({"Person"}), sentence=SENTENCE)
    dropped = Dropped()
    with pytest.raises(Reject) as caught:
        NER.parse_call(_call(code), allowed, dropped)
    assert caught.value.reason == reason
    assert (dropped.unknown_types, dropped.spans_not_found) == (unknown, not_found)


def test_parse_call_without_limits_takes_any_class_and_text():
    record = NER.parse_call(_call('Robot("R2")'), Allowed(), Dropped())
    assert record == EntityRecord("Robot", "R2")


def test_record_from_dict_reads_the_stored_form():
    assert NER.record_from_dict({"type": "Person", "text": "Kenji Watanabe"}) == EntityRecord(
        "Person", "Kenji Watanabe"
    )
    with pytest.raises(KeyError):
        NER.record_from_dict({"type": "Person"})
