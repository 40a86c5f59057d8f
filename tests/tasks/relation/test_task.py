"""RE: gold relations off an instance, ``Employment(Person("..."), Company("..."))`` written and read back."""

from __future__ import annotations

import ast

import pytest

from knowcoder.records import EntityRecord, RelationRecord
from knowcoder.tasks import TASKS, Allowed
from knowcoder.tasks.base import Dropped, Reject
from knowcoder.tasks.relation import RE, RelationExtraction

SENTENCE = "Paris is the capital of France, and Lyon is its third-largest city."
CAPITAL = RelationRecord("CapitalOf", EntityRecord("City", "Paris"), EntityRecord("Country", "France"))
ALLOWED = Allowed(
    types=frozenset({"CapitalOf"}), entity_types=frozenset({"City", "Country"}), sentence=SENTENCE
)


def _call(code: str) -> ast.Call:
    node = ast.parse(code, mode="eval").body
    assert isinstance(node, ast.Call)
    return node


def test_it_is_registered_as_re():
    assert isinstance(RE, RelationExtraction) and TASKS["re"] is RE


def test_gold_records_join_heads_and_tails_to_their_entities(sample_en):
    instance = sample_en["sample-en-0004"]
    assert RE.gold_records(instance) == [
        CAPITAL,
        RelationRecord("LocatedIn", EntityRecord("City", "Lyon"), EntityRecord("Country", "France")),
    ]
    assert RE.positive_types(instance) == ["CapitalOf", "City", "Country", "LocatedIn"]
    assert RE.argument_classes(RE.gold_records(instance) or []) == ["City", "Country"]
    assert RE.gold_records(sample_en["sample-en-0003"]) == []  # annotated, with no relation


def test_schema_types_add_the_head_and_tail_classes(mini_ontology):
    assert RE.schema_types(["Employment"], mini_ontology) == ["Employment", "Person", "Organization"]


def test_render_record_writes_head_then_tail():
    assert RE.render_record(CAPITAL) == 'CapitalOf(City("Paris"), Country("France"))'


@pytest.mark.parametrize(
    "code",
    [
        'CapitalOf(City("Paris"), Country("France"))',
        'CapitalOf(head_entity=City("Paris"), tail_entity=Country("France"))',
        'CapitalOf(tail_entity=Country("France"), head_entity=City(name="Paris"))',
    ],
)
def test_parse_call_reads_positional_or_keyword_heads_and_tails(code):
    assert RE.parse_call(_call(code), ALLOWED, Dropped()) == CAPITAL


@pytest.mark.parametrize(
    ("code", "reason", "unknown", "not_found"),
    [
        ('LocatedIn(City("Lyon"), Country("France"))', "unknown_types", {"LocatedIn": 1}, 0),
        ('CapitalOf(Town("Paris"), Country("France"))', "unknown_types", {"Town": 1}, 0),
        ('CapitalOf(City("Rome"), Country("France"))', "spans_not_found", {}, 1),
        ('CapitalOf(City("Paris"))', "bad_shapes", {}, 0),
        ('CapitalOf("Paris", "France")', "bad_shapes", {}, 0),  # bare strings, not entities
        ('CapitalOf(head=City("Paris"), tail=Country("France"))', "bad_shapes", {}, 0),
        ('CapitalOf(City("Paris"), tail_entity=Country("France"))', "bad_shapes", {}, 0),
    ],
)
def test_parse_call_rejects_with_a_reason(code, reason, unknown, not_found):
    dropped = Dropped()
    with pytest.raises(Reject) as caught:
        RE.parse_call(_call(code), ALLOWED, dropped)
    assert caught.value.reason == reason
    assert (dropped.unknown_types, dropped.spans_not_found) == (unknown, not_found)


def test_record_from_dict_reads_nested_entities():
    data = {
        "type": "CapitalOf",
        "head": {"type": "City", "text": "Paris"},
        "tail": {"type": "Country", "text": "France"},
    }
    assert RE.record_from_dict(data) == CAPITAL
    assert RE.record_from_dict(CAPITAL.to_dict()) == CAPITAL
    with pytest.raises(KeyError):
        RE.record_from_dict({"type": "CapitalOf", "head": {"type": "City", "text": "Paris"}})
