"""The expectation suite's wording: each check phrases the rows it is given (GX not needed here)."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from knowcoder.validation.suite import RECORD_CHECKS, SPLIT_CHECK, SuiteInputs
from knowcoder.validation.tables import Tables

CHECKS = {check.name: check for check in RECORD_CHECKS}


@pytest.fixture
def inputs(mini_ontology):
    return SuiteInputs(mini_ontology, ("en", "zh"))


def explain(name: str, inputs: SuiteInputs, **columns) -> list[str]:
    return CHECKS[name].explain(pd.DataFrame(columns), inputs)


def test_check_names_are_unique_and_each_reads_a_known_table():
    names = [check.name for check in (*RECORD_CHECKS, SPLIT_CHECK)]
    assert len(names) == len(set(names))
    assert {check.table for check in RECORD_CHECKS} <= {field.name for field in dataclasses.fields(Tables)}
    assert SPLIT_CHECK.table == "splits"
    assert [check.name for check in RECORD_CHECKS if not check.rejects_records] == ["file_not_empty"]


def test_types_of_the_wrong_kind_or_abstract_say_which(inputs):
    where = ["entities[0]", "entities[1]"]
    assert explain("entity_type_defined", inputs, where=where, entity_type=["Employment", "Alien"]) == [
        "entities[0]: 'Employment' is a relation type, not an entity type",
        "entities[1]: 'Alien' is not defined in the ontology",
    ]
    assert explain("event_type_defined", inputs, where=["events[0]"], type=["Person"]) == [
        "events[0]: 'Person' is an entity type, not an event type"
    ]


def test_relation_messages_give_the_signature(inputs):
    rows = {
        "where": ["relations[0]"],
        "type": ["Employment"],
        "head": [0],
        "tail": [1],
        "n_entities": [2],
        "head_type": ["Location"],
        "tail_type": ["Person"],
    }
    assert explain("relation_head_type_allowed", inputs, **rows) == [
        "relations[0]: head has type Location, but Employment takes Person as head"
    ]
    assert explain("relation_tail_type_allowed", inputs, **rows) == [
        "relations[0]: tail has type Person, but Employment takes Organization as tail"
    ]


def test_argument_messages_list_the_roles_and_types_allowed(inputs):
    rows = {
        "where": ["events[0].arguments[0]"],
        "event": ["StartPosition"],
        "role": ["employer"],
        "arg_type": ["Person"],
    }
    assert explain("argument_type_allowed", inputs, **rows) == [
        "events[0].arguments[0]: type Person is not allowed for StartPosition.employer "
        "(allowed: Organization)"
    ]


def test_a_repeated_id_lists_every_line_it_is_on(inputs):
    # GX hands over every occurrence of a repeated id
    assert explain("id_unique", inputs, id=["a", "c", "a", "c"], line=[2, 3, 9, 12]) == [
        "id 'a' is used on lines 2, 9",
        "id 'c' is used on lines 3, 12",
        "id 'a' is used on lines 2, 9",
        "id 'c' is used on lines 3, 12",
    ]


def test_the_split_check_names_split_count_and_minimum(inputs):
    frame = pd.DataFrame({"split": ["dev"], "count": [0], "minimum": [3]})
    assert SPLIT_CHECK.explain(frame, inputs) == ["split 'dev' has 0 valid records, below its minimum 3"]
