"""EAE: gold events with arguments off an instance, ``Attack(trigger=..., role=[...])`` written and
read back in both styles, roles kept sorted, ED's triggers given as hints."""

from __future__ import annotations

import ast

import pytest

from knowcoder.records import ArgumentRecord, EntityRecord, EventRecord, TriggerRecord
from knowcoder.tasks import TASKS, Allowed
from knowcoder.tasks.base import Dropped, Reject
from knowcoder.tasks.eae import EAE, EventArgumentExtraction, sort_arguments

SENTENCE = "The Northern Front shelled Goma International Airport on 12 May 2022."
ATTACKER = ArgumentRecord("attacker", "Organization", "Northern Front")
TARGET = ArgumentRecord("target", "Facility", "Goma International Airport")
TIME = ArgumentRecord("time", "Date", "12 May 2022")
ALLOWED = Allowed(
    types=frozenset({"Attack"}),
    entity_types=frozenset({"Organization", "Facility", "Date"}),
    roles={"Attack": frozenset({"attacker", "target", "time", "from"})},
    sentence=SENTENCE,
)


def _call(code: str) -> ast.Call:
    node = ast.parse(code, mode="eval").body
    assert isinstance(node, ast.Call)
    return node


def _parse(code: str, dropped: Dropped | None = None) -> EventRecord:
    record = EAE.parse_call(_call(code), ALLOWED, dropped if dropped is not None else Dropped())
    assert isinstance(record, EventRecord)
    return record


def test_it_is_registered_as_eae_and_fed_by_ed():
    assert isinstance(EAE, EventArgumentExtraction) and TASKS["eae"] is EAE
    assert EAE.given_by == "ed" and EAE.event_signature == "roles"


def test_gold_records_carry_the_arguments_sorted_by_role(sample_en):
    instance = sample_en["sample-en-0003"]
    assert EAE.gold_records(instance) == [EventRecord("Attack", "shelled", (ATTACKER, TARGET, TIME))]
    assert EAE.positive_types(instance) == ["Attack", "Organization", "Facility", "Date"]
    assert EAE.gold_records(sample_en["sample-en-0004"]) == []  # annotated, with no event


def test_argument_type_falls_back_to_the_single_role_type(mini_ontology, hire_instance):
    no_entities = hire_instance.model_copy(update={"entities": []})
    event = EAE.gold_records(no_entities, mini_ontology)[0]
    assert [(a.role, a.type) for a in event.arguments] == [
        ("employee", "Person"),
        ("employer", "Organization"),
        ("place", "Location"),
    ]
    assert [a.type for a in EAE.gold_records(no_entities)[0].arguments] == ["Entity"] * 3


def test_sort_arguments_is_stable_within_a_role():
    second = ArgumentRecord("attacker", "Organization", "rebels")
    assert sort_arguments([TIME, ATTACKER, second]) == (ATTACKER, second, TIME)


def test_schema_types_add_the_classes_the_roles_take(mini_ontology):
    assert EAE.schema_types(["StartPosition"], mini_ontology) == [
        "StartPosition",
        "Person",
        "Organization",
        "Location",
    ]


def test_render_record_lists_every_declared_role_in_the_project_style(mini_ontology):
    event = EventRecord("StartPosition", "joined", (ArgumentRecord("employee", "Person", "Ada"),))
    assert EAE.render_record(event, mini_ontology) == (
        'StartPosition(trigger="joined", employee=[Person("Ada")], employer=[], place=[])'
    )
    # without an ontology only the roles that have arguments are written
    assert EAE.render_record(event) == 'StartPosition(trigger="joined", employee=[Person("Ada")])'


def test_render_record_in_the_released_style_skips_empty_roles_and_spaces_the_equals(mini_ontology):
    event = EventRecord("StartPosition", "joined", (ArgumentRecord("employee", "Person", "Ada"),))
    assert EAE.render_record(event, mini_ontology, style="released") == (
        'StartPosition(trigger = "joined", employee = [Person("Ada")])'
    )


def test_the_role_from_is_written_from_underscore_only_in_the_project_style():
    event = EventRecord("Attack", "shelled", (ArgumentRecord("from", "Organization", "Northern Front"),))
    assert EAE.render_record(event) == 'Attack(trigger="shelled", from_=[Organization("Northern Front")])'
    assert EAE.render_record(event, style="released") == (
        'Attack(trigger = "shelled", from = [Organization("Northern Front")])'
    )
    assert _parse('Attack(trigger="shelled", from_=[Organization("Northern Front")])') == event


def test_parse_call_sorts_roles_and_takes_a_positional_trigger():
    written = (
        'Attack(trigger="shelled", time=[Date("12 May 2022")], attacker=[Organization("Northern Front")])'
    )
    assert _parse(written) == EventRecord("Attack", "shelled", (ATTACKER, TIME))
    assert _parse('Attack("shelled", target=[Facility("Goma International Airport")])') == EventRecord(
        "Attack", "shelled", (TARGET,)
    )
    # a single argument outside a list, and a bare string (class ``Entity``), are read as well
    assert _parse(
        'Attack(trigger="shelled", attacker=Organization("Northern Front"), time="12 May 2022")'
    ) == (EventRecord("Attack", "shelled", (ATTACKER, ArgumentRecord("time", "Entity", "12 May 2022"))))


def test_parse_call_drops_unknown_roles_and_bad_arguments_but_keeps_the_event():
    dropped = Dropped()
    code = (
        'Attack(trigger="shelled", victim=[Organization("Northern Front")], '
        'attacker=[Robot("Northern Front"), Organization("Mars"), Organization("Northern Front")])'
    )
    assert _parse(code, dropped) == EventRecord("Attack", "shelled", (ATTACKER,))
    assert dropped == Dropped(unknown_types={"Robot": 1}, spans_not_found=1, unknown_roles=1)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ('Bombing(trigger="shelled")', "unknown_types"),
        ('Attack(trigger="bombed")', "spans_not_found"),
        ('Attack(attacker=[Organization("Northern Front")])', "bad_shapes"),  # no trigger
        ('Attack("shelled", trigger="shelled")', "bad_shapes"),
        ('Attack("shelled", "Northern Front")', "bad_shapes"),
        ('Attack(trigger="shelled", **roles)', "bad_shapes"),
        ("Attack(trigger=shelled)", "bad_shapes"),
    ],
)
def test_parse_call_rejects_with_a_reason(code, reason):
    with pytest.raises(Reject) as caught:
        _parse(code)
    assert caught.value.reason == reason


def test_given_from_turns_ed_triggers_into_argument_less_events_once():
    triggers = [
        TriggerRecord("Attack", "shelled"),
        TriggerRecord("Attack", "shelled"),
        EntityRecord("P", "x"),
    ]
    assert EAE.given_from(triggers) == (EventRecord("Attack", "shelled"),)


def test_trigger_hints_name_each_given_event():
    given = [EventRecord("Attack", "shelled"), EventRecord("EndPosition", "left"), TriggerRecord("X", "y")]
    assert EAE.trigger_hints(given) == (
        '"shelled" is the trigger of event type "Attack"; "left" is the trigger of event type "EndPosition".'
    )
    assert EAE.trigger_hints([]) == ""


def test_record_from_dict_sorts_roles_and_defaults_the_type_to_entity():
    data = {
        "type": "Attack",
        "trigger": "shelled",
        "arguments": [{"role": "time", "text": "12 May 2022"}, ATTACKER.to_dict()],
    }
    assert EAE.record_from_dict(data) == EventRecord(
        "Attack", "shelled", (ATTACKER, ArgumentRecord("time", "Entity", "12 May 2022"))
    )
    with pytest.raises(KeyError):
        EAE.record_from_dict({"type": "Attack", "trigger": "shelled"})
