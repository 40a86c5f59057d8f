"""The task registry, ``TaskView`` and the parsing helpers shared by the task folders."""

from __future__ import annotations

import ast

import pytest

from knowcoder.records import EntityRecord, record_from_dict
from knowcoder.schema.ontology import Kind
from knowcoder.tasks import TASKS, Allowed, TaskView, get_task, register_task
from knowcoder.tasks.base import (
    Dropped,
    Reject,
    call_name,
    check_span,
    check_type,
    entity_from_dict,
    parse_entity,
    render_entity,
    single_argument,
    string_value,
)


def _call(code: str) -> ast.Call:
    node = ast.parse(code, mode="eval").body
    assert isinstance(node, ast.Call)
    return node


# ---- the registry -----------------------------------------------------------------------------
def test_all_four_tasks_registered_in_canonical_order():
    assert list(TASKS) == ["ner", "re", "ed", "eae"]
    assert get_task("NER") is TASKS["ner"]
    assert get_task(TASKS["ed"]) is TASKS["ed"]


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
        assert task.parse_call(call, Allowed(sentence=hire_instance.text), Dropped()) == record
    assert all(mini_ontology.kind_of(t) is not None for t in task.positive_types(hire_instance))


def test_gold_is_none_when_the_task_is_not_annotated(hire_instance):
    bare = hire_instance.model_copy(update={"entities": None, "relations": None, "events": None})
    assert all(task.gold_records(bare) is None for task in TASKS.values())


def test_entity_record_dict():
    assert EntityRecord("Person", "Ada").to_dict() == {"type": "Person", "text": "Ada"}


@pytest.mark.parametrize("name", list(TASKS))
def test_records_round_trip_through_dicts(name, mini_ontology, hire_instance):
    for record in TASKS[name].gold_records(hire_instance, mini_ontology):
        assert record_from_dict(name, record.to_dict()) == record


def test_task_view_reads_one_property_and_leaves_out_none():
    given_by = TaskView(lambda task: task.given_by)
    assert dict(given_by) == {"eae": "ed"} and len(given_by) == 1
    assert repr(given_by) == "TaskView({'eae': 'ed'})"
    with pytest.raises(KeyError):
        given_by["ner"]  # a task whose value is None
    with pytest.raises(KeyError):
        given_by["nope"]
    assert list(TaskView(lambda task: task.title)) == ["ner", "re", "ed", "eae"]


# ---- the parsing helpers ----------------------------------------------------------------------
def test_reject_carries_its_reason_and_detail():
    assert (str(Reject("bad_shapes", "x")), str(Reject("unknown_types"))) == (
        "bad_shapes: x",
        "unknown_types",
    )
    assert Reject("spans_not_found", "Bob").reason == "spans_not_found"


def test_call_name_takes_only_plain_names():
    assert call_name(_call('Person("Ada")')) == "Person"
    for code in ('schema.Person("Ada")', 'Person()("Ada")'):
        with pytest.raises(Reject, match="bad_shapes: callee is not a plain class name"):
            call_name(_call(code))


def test_string_value_and_single_argument():
    assert string_value(_call('P("Ada")').args[0], "name") == "Ada"
    with pytest.raises(Reject, match="bad_shapes: P name is not a string literal"):
        string_value(_call("P(3)").args[0], "P name")
    with pytest.raises(Reject, match="is not a string literal"):
        string_value(None, "trigger")
    assert string_value(single_argument(_call('P(name="Ada")'), ("name",), "P"), "P") == "Ada"
    for code in ('P(text="Ada")', "P()", 'P("Ada", name="Ada")', 'P("A", "B")'):
        with pytest.raises(Reject, match="bad_shapes: P takes exactly one argument"):
            single_argument(_call(code), ("name",), "P")


def test_check_type_and_check_span_count_what_they_drop():
    dropped = Dropped()
    check_type("Person", frozenset({"Person"}), dropped)
    check_type("Robot", None, dropped)  # None: not checked
    for _ in range(2):
        with pytest.raises(Reject, match="unknown_types: Robot"):
            check_type("Robot", frozenset({"Person"}), dropped)
    check_span("Ada", Allowed(sentence="Ada left."), dropped)
    check_span("Bob", Allowed(), dropped)  # no sentence: any non-empty text
    for text, allowed in (("Bob", Allowed(sentence="Ada left.")), ("", Allowed())):
        with pytest.raises(Reject) as caught:
            check_span(text, allowed, dropped)
        assert caught.value.reason == "spans_not_found"
    assert dropped == Dropped(unknown_types={"Robot": 2}, spans_not_found=2)


def test_parse_entity_reads_a_wrapped_span():
    allowed = Allowed(entity_types=frozenset({"Person"}), sentence="Ada left.")
    assert parse_entity(_call('Person("Ada")'), allowed, Dropped()) == EntityRecord("Person", "Ada")
    assert parse_entity(_call('Person(name="Ada")'), allowed, Dropped()) == EntityRecord("Person", "Ada")
    node = ast.parse('"Ada"', mode="eval").body
    with pytest.raises(Reject, match="bad_shapes: argument is not an entity object"):
        parse_entity(node, allowed, Dropped())


def test_entities_render_and_load_as_stored():
    record = EntityRecord("Person", 'Ada "the" Park')
    assert render_entity(record) == 'Person("Ada \\"the\\" Park")'
    assert entity_from_dict(record.to_dict()) == record
