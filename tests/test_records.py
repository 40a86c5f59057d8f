"""Extraction records: dict round trips, multiset behaviour and malformed dicts."""

from __future__ import annotations

from collections import Counter

import pytest

from knowcoder.records import (
    ArgumentRecord,
    EntityRecord,
    EventRecord,
    RelationRecord,
    TriggerRecord,
    record_from_dict,
)

ADA = EntityRecord("Person", "Ada Park")
ACME = EntityRecord("Company", "Acme Corp")


@pytest.mark.parametrize(
    ("task", "record", "as_dict"),
    [
        ("ner", ADA, {"type": "Person", "text": "Ada Park"}),
        (
            "re",
            RelationRecord("Employment", ADA, ACME),
            {
                "type": "Employment",
                "head": {"type": "Person", "text": "Ada Park"},
                "tail": {"type": "Company", "text": "Acme Corp"},
            },
        ),
        ("ed", TriggerRecord("StartPosition", "joined"), {"type": "StartPosition", "trigger": "joined"}),
        (
            "eae",
            EventRecord(
                "StartPosition",
                "joined",
                (
                    ArgumentRecord("employee", "Person", "Ada Park"),
                    ArgumentRecord("employer", "Company", "Acme"),
                ),
            ),
            {
                "type": "StartPosition",
                "trigger": "joined",
                "arguments": [
                    {"role": "employee", "type": "Person", "text": "Ada Park"},
                    {"role": "employer", "type": "Company", "text": "Acme"},
                ],
            },
        ),
    ],
)
def test_to_dict_and_record_from_dict_are_inverses(task, record, as_dict):
    assert record.to_dict() == as_dict
    assert record_from_dict(task, as_dict) == record


def test_eae_arguments_read_back_sorted_by_role_with_entity_as_default_type():
    data = {
        "type": "Attack",
        "trigger": "hit",
        "arguments": [
            {"role": "target", "text": "the car"},
            {"role": "attacker", "type": "Person", "text": "Bo"},
        ],
    }
    assert record_from_dict("eae", data) == EventRecord(
        "Attack",
        "hit",
        (ArgumentRecord("attacker", "Person", "Bo"), ArgumentRecord("target", "Entity", "the car")),
    )


def test_records_count_as_a_multiset():
    counted = Counter([ADA, EntityRecord("Person", "Ada Park"), ACME])
    assert counted == {ADA: 2, ACME: 1}


def test_a_malformed_dict_names_task_and_record():
    with pytest.raises(
        ValueError, match=r"^re record \{'type': 'Employment'\} is malformed \(KeyError\('head'\)\)"
    ):
        record_from_dict("re", {"type": "Employment"})


def test_an_unknown_task_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"no record format for task 'srl'; choose one of: ner, re, ed, eae"):
        record_from_dict("srl", {"type": "x"})
