from __future__ import annotations

import ast

import pytest

from knowcoder.records import EntityRecord
from knowcoder.schema.ontology import Kind
from knowcoder.tasks import TASKS, Allowed, get_task, register_task


def test_all_four_tasks_registered_in_canonical_order():
    assert list(TASKS) == ["ner", "re", "ed", "eae"]
    assert get_task("NER") is TASKS["ner"]


def test_unknown_task_names_the_choices():
    with pytest.raises(KeyError, match="unknown task 'ner2'; choose one of: ner, re, ed, eae"):
        get_task("ner2")


def test_registering_a_name_twice_fails():
    with pytest.raises(ValueError, match="registered twice"):
        register_task(TASKS["ner"])


@pytest.mark.parametrize("name", list(TASKS))
def test_every_task_round_trips_its_gold_and_defines_its_kind(name, mini_ontology, hire_instance):
    task = TASKS[name]
    assert isinstance(task.kind, Kind)
    gold = task.gold_records(hire_instance, mini_ontology)
    assert gold, f"{name} found no gold records in the fixture"
    for record in gold:
        call = ast.parse(task.render_record(record, mini_ontology), mode="eval").body
        assert task.parse_call(call, Allowed(sentence=hire_instance.text), _dropped()) == record
    assert all(mini_ontology.kind_of(t) is not None for t in task.positive_types(hire_instance))


def test_gold_is_none_when_the_task_is_not_annotated(hire_instance):
    bare = hire_instance.model_copy(update={"entities": None, "relations": None, "events": None})
    assert all(task.gold_records(bare) is None for task in TASKS.values())


def test_eae_argument_type_falls_back_to_the_single_role_type(mini_ontology, hire_instance):
    no_entities = hire_instance.model_copy(update={"entities": []})
    event = TASKS["eae"].gold_records(no_entities, mini_ontology)[0]
    assert [(a.role, a.type) for a in event.arguments] == [
        ("employee", "Person"),
        ("employer", "Organization"),
        ("place", "Location"),
    ]
    assert [a.type for a in TASKS["eae"].gold_records(no_entities)[0].arguments] == ["Entity"] * 3


def _dropped():
    from knowcoder.tasks.base import Dropped

    return Dropped()


def test_entity_record_dict():
    assert EntityRecord("Person", "Ada").to_dict() == {"type": "Person", "text": "Ada"}


@pytest.mark.parametrize("name", list(TASKS))
def test_records_round_trip_through_dicts(name, mini_ontology, hire_instance):
    from knowcoder.records import record_from_dict

    for record in TASKS[name].gold_records(hire_instance, mini_ontology):
        assert record_from_dict(name, record.to_dict()) == record
