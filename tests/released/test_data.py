"""Released SFT / eval records in: canonical instances, offsets checked or found, prompt classes."""

from __future__ import annotations

import pytest

from knowcoder.errors import DataFormatError
from knowcoder.released.data import read_record, task_of_prompt
from knowcoder.schema.ontology import Kind

TYPES = {
    ("person", Kind.ENTITY): "Person",
    ("organization", Kind.ENTITY): "Organization",
    ("work for", Kind.RELATION): "WorkFor",
    ("attack", Kind.EVENT): "Attack",
}


def resolve(label: str, kind: Kind, field: str) -> str | None:
    """Labels of the records below; ``misc`` is dropped."""
    return None if label == "misc" else TYPES[(label, kind)]


def read(record: dict):
    return read_record(
        record, path="r.jsonl", line=3, resolve=resolve, instance_id="kc-en-000003", dataset="kc"
    )


def test_released_records_become_canonical_instances(shipped):
    examples, _ = shipped
    ner, re_, eae = examples[6].instance, examples[5].instance, examples[8].instance
    assert [(e.type, ner.span_text(e)) for e in ner.entities][:4] == [
        ("Organization", "Port Phillip Housing Association"),
        ("Organization", "Victorian State Government"),
        ("Organization", "Teska Carson"),
        ("Event", "Expressions of Interest"),
    ]
    assert [(r.type, re_.entities[r.head].start, re_.entities[r.tail].start) for r in re_.relations] == [
        ("Creator", 0, 134),
        ("LocatedIn", 93, 6),
        ("LocatedIn", 0, 6),
        ("LocatedIn", 6, 69),
    ]
    event = eae.events[0]
    assert (event.type, eae.span_text(event.trigger)) == ("Marriage", "wife")
    assert [(a.role, eae.span_text(a)) for a in event.arguments] == [
        ("spouse", "Lucien Bonaparte"),
        ("spouse", "Christine Boyer"),
    ]
    assert examples[8].triggers == (("wife", "Marriage"),)


def test_entities_take_their_offsets_or_the_next_free_occurrence():
    example = read(
        {
            "sentence": "Bo met Bo at Acme.",
            "entities": [
                {"name": "Bo", "type": "person", "pos": []},
                {"name": "Bo", "type": "person", "pos": ""},
                {"name": "Acme", "type": "organization", "pos": [13, 17]},
                {"name": "Acme", "type": "misc", "pos": [13, 17]},
            ],
        }
    )
    inst = example.instance
    assert (example.task, example.line, example.prompt, example.output) == ("ner", 3, None, None)
    assert (inst.id, inst.dataset, inst.lang) == ("kc-en-000003", "kc", "en")
    assert [(e.type, e.start, e.end) for e in inst.entities] == [
        ("Person", 0, 2),
        ("Person", 7, 9),
        ("Organization", 13, 17),
    ]
    assert inst.relations is None and inst.events is None


def test_relations_share_their_entities_and_untyped_ends_are_entity():
    inst = read(
        {
            "sentence": "Bo works for Acme.",
            "relations": [
                {
                    "type": "work for",
                    "head": {"name": "Bo", "type": "person"},
                    "tail": {"name": "Acme", "pos": [13, 17]},
                },
                {"type": "work for", "head": {"name": "Bo", "type": "person"}, "tail": {"name": "Acme"}},
            ],
        }
    ).instance
    assert [(e.type, inst.span_text(e)) for e in inst.entities] == [("Person", "Bo"), ("Entity", "Acme")]
    assert [(r.type, r.head, r.tail) for r in inst.relations] == [("WorkFor", 0, 1), ("WorkFor", 0, 1)]


def test_events_keep_trigger_roles_and_argument_types():
    inst = read(
        {
            "sentence": "Rebels attacked the town.",
            "events": [
                {
                    "type": "attack",
                    "trigger": "attacked",
                    "arguments": [
                        {"name": "Rebels", "role": "attacker", "type": "organization"},
                        {"name": "the town", "role": "target"},
                    ],
                }
            ],
        }
    ).instance
    (event,) = inst.events
    assert (event.type, inst.span_text(event.trigger)) == ("Attack", "attacked")
    assert [(a.role, a.type, inst.span_text(a)) for a in event.arguments] == [
        ("attacker", "Organization", "Rebels"),
        ("target", None, "the town"),
    ]


def test_a_name_that_differs_from_its_offsets_only_in_case_is_kept_as_a_note():
    example = read(
        {
            "sentence": "Bolton School",
            "entities": [{"name": "school", "type": "organization", "pos": [7, 13]}],
        }
    )
    assert example.instance.span_text(example.instance.entities[0]) == "School"
    assert example.notes == ("entities[0].pos: pos [7, 13] covers 'School', not 'school'",)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"entities": []}, "r.jsonl:3: sentence: expected str, got None"),
        (
            {"sentence": "x"},
            "r.jsonl:3: <record>: expected exactly one of entities, relations, events; found none",
        ),
        (
            {"sentence": "x", "entities": [], "events": []},
            "r.jsonl:3: <record>: expected exactly one of entities, relations, events; "
            "found ['entities', 'events']",
        ),
        (
            {"sentence": "Bo", "entities": [{"name": "Al", "type": "person"}]},
            "r.jsonl:3: entities[0].name: 'Al' does not occur in the sentence",
        ),
        (
            {"sentence": "Bo", "entities": [{"name": "Bo", "type": "person", "pos": [0]}]},
            "r.jsonl:3: entities[0].pos: expected [start, end] or empty, got [0]",
        ),
        (
            {"sentence": "Bo", "entities": [{"name": "Bo", "type": ""}]},
            "r.jsonl:3: entities[0].type: expected a non-empty type, got ''",
        ),
        (
            {"sentence": "Bo", "entities": [], "one-stage": {"output": 3}},
            "r.jsonl:3: one-stage.output: expected a string, got int",
        ),
    ],
)
def test_a_bad_record_is_one_line_naming_its_field(record, message):
    with pytest.raises(DataFormatError) as caught:
        read(record)
    assert str(caught.value) == message


def test_task_of_prompt_reads_the_instruction(shipped):
    examples, _ = shipped
    assert [task_of_prompt(e.prompt) for e in examples] == [e.task for e in examples]
    assert sorted({e.task for e in examples}) == ["eae", "ed", "ner", "re"]
    assert task_of_prompt("Translate this sentence.") is None
