"""The canonical instance: strict fields, offsets, and the JSON line it writes."""

from __future__ import annotations

import pydantic
import pytest

from knowcoder.data.instance import Argument, Entity, Event, Instance, Relation, Span


def test_to_json_leaves_out_what_is_absent_but_keeps_empty_lists(hire_instance):
    bare = Instance(id="a-1", dataset="a", lang="en", text="Nothing here.", entities=[])
    assert bare.to_json() == '{"id":"a-1","dataset":"a","lang":"en","text":"Nothing here.","entities":[]}'
    assert Instance.model_validate_json(hire_instance.to_json()) == hire_instance


def test_span_text_cuts_the_text_with_end_exclusive(hire_instance):
    assert [hire_instance.span_text(e) for e in hire_instance.entities] == ["Ada Park", "Acme Corp", "Paris"]
    (event,) = hire_instance.events
    assert hire_instance.span_text(event.trigger) == "joined"
    assert [(a.role, hire_instance.span_text(a)) for a in event.arguments] == [
        ("employee", "Ada Park"),
        ("employer", "Acme Corp"),
        ("place", "Paris"),
    ]


def test_non_ascii_text_keeps_character_offsets():
    inst = Instance(
        id="z", dataset="d", lang="zh", text="李华在北京工作", entities=[Entity(start=3, end=5, type="地点")]
    )
    assert inst.span_text(inst.entities[0]) == "北京"
    assert '"text":"李华在北京工作"' in inst.to_json()  # not \\u-escaped


@pytest.mark.parametrize(
    ("model", "data", "field"),
    [
        (Instance, {"id": "", "dataset": "d", "lang": "en", "text": "x"}, "id"),
        (Instance, {"id": "1", "dataset": "d", "lang": "en", "text": "x", "entitis": []}, "entitis"),
        (Span, {"start": -1, "end": 2}, "start"),
        (Relation, {"type": "R", "head": 0, "tail": -1}, "tail"),
        (Argument, {"start": 0, "end": 1}, "role"),
        (Event, {"type": "E"}, "trigger"),
    ],
)
def test_bad_fields_are_refused_by_name(model, data, field):
    with pytest.raises(pydantic.ValidationError) as caught:
        model.model_validate(data)
    assert [error["loc"][0] for error in caught.value.errors()] == [field]


def test_instances_are_frozen(hire_instance):
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        hire_instance.text = "changed"
    assert Argument(start=0, end=1, role="agent").type is None
    assert Event(type="E", trigger=Span(start=0, end=1)).arguments == []
