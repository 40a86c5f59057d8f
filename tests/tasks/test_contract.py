"""Every registered task keeps the contract of ``knowcoder.tasks.base.Task``.

The checks are plain functions so that a task defined elsewhere (``test_new_task.py``) is held to
the same contract.
"""

from __future__ import annotations

import ast
from typing import get_args

import pytest

from knowcoder.data.instance import Instance
from knowcoder.evaluation.metrics import TASK_METRICS, Scorer
from knowcoder.prompts import PromptBuilder, PromptOptions
from knowcoder.records import record_from_dict
from knowcoder.schema.ontology import Kind, Ontology
from knowcoder.schema.render import render_schema
from knowcoder.tasks import TASKS, Allowed, Task, TaskMetrics
from knowcoder.tasks.base import CallShape, Dropped


def check_attributes(task: Task) -> None:
    """Each declared attribute holds a value of the right kind."""
    assert isinstance(task.name, str) and task.name == task.name.lower() and task.name
    assert isinstance(task.kind, Kind)
    for text in (task.title, task.instruction, task.released_instruction):
        assert isinstance(text, str) and text.strip()
    assert isinstance(task.schema_kinds, tuple) and task.schema_kinds
    assert all(isinstance(kind, Kind) for kind in task.schema_kinds)
    assert task.kind in task.schema_kinds
    assert task.call_shape in get_args(CallShape)
    assert task.argument_kind is None or task.argument_kind in task.schema_kinds
    assert task.event_signature in ("trigger", "roles")
    assert task.given_by is None or (task.given_by in TASKS and task.given_by != task.name)
    assert isinstance(task.writes_class_documents, bool) and isinstance(task.uses_ed_mapping, bool)
    metrics = task.metrics
    assert isinstance(metrics, TaskMetrics) and isinstance(metrics.record, type)
    names = [level.name for level in metrics.levels]
    assert names and len(set(names)) == len(names) and metrics.headline == names[0]
    assert isinstance(metrics.confusion, bool)


def check_round_trips(task: Task, ontology: Ontology, instance: Instance) -> None:
    """Gold records survive render -> parse and to_dict -> record_from_dict unchanged."""
    gold = task.gold_records(instance, ontology)
    assert gold, f"{task.name} found no gold records in the fixture"
    allowed = Allowed(sentence=instance.text)
    for record in gold:
        assert isinstance(record, task.metrics.record)
        code = task.render_record(record, ontology)
        call = ast.parse(code, mode="eval").body
        assert isinstance(call, ast.Call), code
        assert task.parse_call(call, allowed, Dropped()) == record
        assert task.record_from_dict(record.to_dict()) == record
        assert record_from_dict(task.name, record.to_dict()) == record


def check_metrics(task: Task, ontology: Ontology, instance: Instance) -> None:
    """Gold scored against itself is F1 1.0 on every level, with one TP per item and no FP/FN."""
    gold = task.gold_records(instance, ontology)
    assert gold is not None
    scorer = Scorer()
    assert scorer.add(task.name, gold, list(gold), dataset=instance.dataset, lang=instance.lang)
    flat = scorer.result().to_dict()
    for level in task.metrics.levels:
        items = [item for record in gold for item in level.items(record)]
        assert items and all(isinstance(part, str) for item in items for part in item)
        assert flat[f"{task.name}.{level.name}.tp"] == len(items)
        assert flat[f"{task.name}.{level.name}.fp"] == flat[f"{task.name}.{level.name}.fn"] == 0
        assert flat[f"{task.name}.{level.name}.f1"] == 1.0
    assert flat[f"{task.name}.f1"] == 1.0
    assert TASK_METRICS[task.name] is task.metrics


def check_prompt_hooks(task: Task, ontology: Ontology, instance: Instance) -> None:
    """The classes a prompt defines, the argument classes and the given records fit together."""
    gold = task.gold_records(instance, ontology)
    assert gold is not None
    positives = task.positive_types(instance)
    assert positives and all(ontology.kind_of(name) is not None for name in positives)
    schema = render_schema(ontology, task.schema_types(positives, ontology), task.name)
    assert all(f"class {name}(" in schema for name in positives)
    arguments = task.argument_classes(gold)
    if task.argument_kind is None:
        assert arguments == []
    else:
        assert arguments and all(ontology.kind_of(name) == task.argument_kind for name in arguments)
    if task.given_by is not None:
        source = TASKS[task.given_by].gold_records(instance, ontology)
        given = task.given_from(source or [])
        assert given and all(isinstance(record, task.metrics.record) for record in given)
    prompt = PromptBuilder(ontology, PromptOptions(system=False)).prompt(
        instance.text, task, positives, given=gold
    )
    assert task.instruction in prompt and prompt.endswith("Output:\n")


@pytest.mark.parametrize("name", list(TASKS))
def test_attributes_have_values_of_the_right_kind(name: str) -> None:
    check_attributes(TASKS[name])


@pytest.mark.parametrize("name", list(TASKS))
def test_records_round_trip_through_code_and_dicts(name, mini_ontology, hire_instance) -> None:
    check_round_trips(TASKS[name], mini_ontology, hire_instance)


@pytest.mark.parametrize("name", list(TASKS))
def test_gold_scored_against_itself_is_perfect_on_every_level(name, mini_ontology, hire_instance) -> None:
    check_metrics(TASKS[name], mini_ontology, hire_instance)


@pytest.mark.parametrize("name", list(TASKS))
def test_prompt_hooks_fit_together(name, mini_ontology, hire_instance) -> None:
    check_prompt_hooks(TASKS[name], mini_ontology, hire_instance)


def test_every_kind_has_a_task_that_writes_its_class_documents() -> None:
    writers = {task.kind for task in TASKS.values() if task.writes_class_documents}
    assert writers == set(Kind)


def test_the_hooks_reproduce_what_the_four_tasks_did_by_name() -> None:
    # the values the rest of the package used to spell out per task name
    assert {n: t.schema_kinds for n, t in TASKS.items()} == {
        "ner": (Kind.ENTITY,),
        "re": (Kind.ENTITY, Kind.RELATION),
        "ed": (Kind.EVENT,),
        "eae": (Kind.ENTITY, Kind.EVENT),
    }
    assert {n: t.metrics.headline for n, t in TASKS.items()} == {
        "ner": "classification",
        "re": "strict",
        "ed": "classification",
        "eae": "classification",
    }
    assert [n for n, t in TASKS.items() if t.metrics.confusion] == ["ner"]
    assert {n: t.given_by for n, t in TASKS.items() if t.given_by} == {"eae": "ed"}
    assert [n for n, t in TASKS.items() if t.argument_kind is Kind.ENTITY] == ["re", "eae"]
    assert {n: t.call_shape for n, t in TASKS.items()} == {
        "ner": "span",
        "re": "pair",
        "ed": "span",
        "eae": "event",
    }
    assert [n for n, t in TASKS.items() if t.uses_ed_mapping] == ["ed"]
    assert [n for n, t in TASKS.items() if not t.writes_class_documents] == ["ed"]
    assert {n: t.title for n, t in TASKS.items()} == {
        "ner": "Named entity recognition",
        "re": "Relation extraction",
        "ed": "Event detection",
        "eae": "Event argument extraction",
    }


def test_a_task_class_missing_an_attribute_is_refused() -> None:
    from knowcoder.tasks import register_task

    class Unfinished(Task):
        name = "unfinished"
        kind = Kind.ENTITY

        gold_records = render_record = parse_call = record_from_dict = None  # type: ignore[assignment]

    with pytest.raises(TypeError, match="Unfinished does not set title, instruction, released_instruction"):
        register_task(Unfinished())
    assert "unfinished" not in TASKS
