"""ED: gold triggers off an instance, ``Attack("shelled")`` written and read back, stored dicts."""

from __future__ import annotations

import ast

import pytest

from knowcoder.records import TriggerRecord
from knowcoder.tasks import TASKS, Allowed
from knowcoder.tasks.base import Dropped, Reject
from knowcoder.tasks.ed import ED, EventDetection

SENTENCE = "The Northern Front shelled Goma International Airport on 12 May 2022."
ALLOWED = Allowed(types=frozenset({"Attack"}), sentence=SENTENCE)


def _call(code: str) -> ast.Call:
    node = ast.parse(code, mode="eval").body
    assert isinstance(node, ast.Call)
    return node


def test_it_is_registered_as_ed():
    assert isinstance(ED, EventDetection) and TASKS["ed"] is ED


def test_gold_records_are_the_triggers_of_the_events(sample_en):
    assert ED.gold_records(sample_en["sample-en-0003"]) == [TriggerRecord("Attack", "shelled")]
    assert ED.gold_records(sample_en["sample-en-0001"]) == [TriggerRecord("EndPosition", "left")]
    assert ED.gold_records(sample_en["sample-en-0004"]) == []  # annotated, with no event
    assert ED.positive_types(sample_en["sample-en-0003"]) == ["Attack"]


def test_render_record_writes_the_trigger_positionally():
    assert ED.render_record(TriggerRecord("Attack", "shelled")) == 'Attack("shelled")'


@pytest.mark.parametrize("code", ['Attack("shelled")', 'Attack(trigger="shelled")'])
def test_parse_call_reads_a_positional_or_trigger_argument(code):
    assert ED.parse_call(_call(code), ALLOWED, Dropped()) == TriggerRecord("Attack", "shelled")


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ('Bombing("shelled")', "unknown_types"),
        ('Attack("bombed")', "spans_not_found"),
        ('Attack(name="shelled")', "bad_shapes"),
        ('Attack("shelled", "Northern Front")', "bad_shapes"),
        ('Attack(trigger="shelled", attacker=[])', "bad_shapes"),  # an EAE object is no ED object
        ("Attack(shelled)", "bad_shapes"),
    ],
)
def test_parse_call_rejects_with_a_reason(code, reason):
    with pytest.raises(Reject) as caught:
        ED.parse_call(_call(code), ALLOWED, Dropped())
    assert caught.value.reason == reason


def test_record_from_dict_reads_the_stored_form():
    assert ED.record_from_dict({"type": "Attack", "trigger": "shelled"}) == TriggerRecord("Attack", "shelled")
    with pytest.raises(KeyError):
        ED.record_from_dict({"type": "Attack", "text": "shelled"})
