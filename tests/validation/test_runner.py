"""Great Expectations on the flattened tables: which rows fail each check, and how each reads."""

from __future__ import annotations

import json

import pytest

from knowcoder.validation.runner import GxRunner, run_checks
from knowcoder.validation.suite import RECORD_CHECKS, SPLIT_CHECK, SuiteInputs
from knowcoder.validation.tables import read_tables, split_table

TEXT = "Ada Park joined Acme Corp in Paris."


def _line(**fields) -> str:
    return json.dumps({"id": "r", "dataset": "d", "lang": "en", "text": TEXT} | fields)


@pytest.fixture(scope="module")
def runner():
    return GxRunner()


@pytest.fixture(scope="module")
def checked(runner, mini_ontology, tmp_path_factory):
    lines = [
        _line(
            id="a",
            split="train",
            entities=[{"start": 0, "end": 8, "type": "Person"}, {"start": 16, "end": 25, "type": "Company"}],
            relations=[{"type": "Employment", "head": 0, "tail": 1}],
        ),
        _line(
            id="b",
            split="train",
            entities=[{"start": 0, "end": 8, "type": "Alien"}],
            relations=[{"type": "Employment", "head": 0, "tail": 4}],
        ),
        _line(id="a", split="test", lang="xx"),
        '{"id": "c", ',
    ]
    path = tmp_path_factory.mktemp("runner") / "in.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tables = read_tables(path, mini_ontology)
    inputs = SuiteInputs(mini_ontology, ("en", "zh"))
    outcomes = run_checks(runner, {name: tables.table(name) for name in tables.names}, RECORD_CHECKS, inputs)
    return tables, inputs, {outcome.check.name: outcome for outcome in outcomes}


def test_outcomes_come_back_in_check_order(checked):
    _, _, outcomes = checked
    assert list(outcomes) == [check.name for check in RECORD_CHECKS]


def test_each_failing_check_names_its_rows_and_says_why(checked):
    _, _, outcomes = checked
    failed = {
        name: (outcome.failing["line"].tolist(), outcome.messages)
        for name, outcome in outcomes.items()
        if not outcome.success
    }
    assert failed == {
        "record_parses": (
            [4],
            ("line 4: <json>: not valid JSON (EOF while parsing a value at line 1 column 12)",),
        ),
        "lang_known": ([3], ("language code 'xx' is not one of en, zh",)),
        "id_unique": ([1, 3], ("id 'a' is used on lines 1, 3", "id 'a' is used on lines 1, 3")),
        "entity_type_defined": ([2], ("entities[0]: 'Alien' is not defined in the ontology",)),
        "relation_tail_index_valid": (
            [2],
            ("relations[0]: tail 4 is not an index into entities (the record has 1)",),
        ),
    }


def test_counts_are_over_the_checked_table(checked):
    _, _, outcomes = checked
    ids = outcomes["id_unique"]
    assert (ids.element_count, ids.unexpected_count) == (3, 2)  # three parsed records, two share an id
    assert outcomes["record_parses"].element_count == 4  # every non-blank line
    events = outcomes["event_type_defined"]
    assert (events.success, events.element_count, events.failing.empty, events.messages) == (
        True,
        0,
        True,
        (),
    )


def test_a_split_below_its_minimum_fails_without_rejecting_records(runner, checked):
    tables, inputs, _ = checked
    splits = split_table(tables.instances, valid_lines={1}, minimums={"train": 2, "test": 1})
    (outcome,) = run_checks(runner, {"splits": splits}, [SPLIT_CHECK], inputs)
    assert outcome.expectation_type == "expect_column_pair_values_a_to_be_greater_than_b"
    assert not outcome.success and not outcome.check.rejects_records
    assert outcome.messages == (
        "split 'train' has 1 valid records, below its minimum 2",
        "split 'test' has 0 valid records, below its minimum 1",
    )
