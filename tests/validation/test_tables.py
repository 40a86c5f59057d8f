"""Flattening an instance file into tables: one row per thing checked, each carrying its line."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from knowcoder.errors import DataFormatError
from knowcoder.validation.tables import ROW, iter_lines, parse_line, read_tables, record_id, split_table


def rows(frame: pd.DataFrame, *columns: str) -> list[list]:
    """The frame's cells as lists, with missing values (NaN or None) as ``None``."""
    return [[None if pd.isna(v) else v for v in row] for row in frame[list(columns)].values.tolist()]


def _line(**fields) -> str:
    record = {"id": "r", "dataset": "d", "lang": "en", "text": "Ada Park joined Acme Corp in Paris."}
    return json.dumps(record | fields, ensure_ascii=False)


@pytest.fixture
def tables(tmp_path, mini_ontology):
    path = tmp_path / "in.jsonl"
    lines = [
        _line(
            id="good",
            split="train",
            entities=[
                {"start": 0, "end": 8, "type": "Person", "text": "Ada Park"},
                {"start": 16, "end": 25, "type": "Company"},
                {"start": 29, "end": 34, "type": "Location"},
            ],
            relations=[
                {"type": "Employment", "head": 0, "tail": 1},
                {"type": "Employment", "head": 2, "tail": 5},
            ],
            events=[
                {
                    "type": "StartPosition",
                    "trigger": {"start": 9, "end": 15},
                    "arguments": [
                        {"role": "employee", "start": 0, "end": 8, "type": "Person"},
                        {"role": "place", "start": 16, "end": 25, "type": "Company"},
                    ],
                }
            ],
        ),
        "",
        '{"id": "broken", "text": ',
        _line(id="late", split="test", entities=[{"start": 30, "end": 99, "type": "Alien"}]),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return read_tables(path, mini_ontology)


def test_records_hold_every_non_blank_line_parsed_or_not(tables):
    records = tables.records
    assert records.index.name == ROW
    assert records["line"].tolist() == [1, 3, 4]
    assert records["parsed"].tolist() == [True, False, True]
    assert rows(records, "id") == [["good"], [None], ["late"]]
    assert records.loc[1, "field"] == "<json>"
    assert tables.instances[["line", "id", "split"]].values.tolist() == [
        [1, "good", "train"],
        [4, "late", "test"],
    ]
    assert tables.names == ("records", "instances", "spans", "events", "relations", "arguments")


def test_spans_carry_what_they_cover_and_what_was_given(tables):
    spans = tables.spans
    assert spans["where"].tolist() == [
        "entities[0]",
        "entities[1]",
        "entities[2]",
        "events[0].trigger",
        "events[0].arguments[0]",
        "events[0].arguments[1]",
        "entities[0]",
    ]
    assert spans["covered"].tolist()[:4] == ["Ada Park", "Acme Corp", "Paris", "joined"]
    assert spans.loc[0, "given"] == "Ada Park"
    assert pd.isna(spans.loc[1, "given"])
    last = spans.iloc[-1]
    assert (last["line"], last["start"], last["end"], last["text_len"], last["entity_type"]) == (
        4,
        30,
        99,
        35,
        "Alien",
    )


def test_relations_say_whether_each_end_fits_the_signature(tables):
    found = rows(tables.relations, "head_type", "tail_type", "head_fits", "tail_fits", "n_entities")
    # Person -> Company fits (Company is an Organization); a Location head does not; tail 5 is past the end
    assert found == [["Person", "Company", True, True, 3], ["Location", None, False, None, 3]]


def test_arguments_say_whether_their_type_fits_the_role(tables):
    found = rows(tables.arguments, "event_role", "role", "arg_type", "type_fits")
    # employee is inherited from Personnel; place wants a Location
    assert found == [
        ["StartPosition.employee", "employee", "Person", True],
        ["StartPosition.place", "place", "Company", False],
    ]
    assert tables.events[["line", "where", "type"]].values.tolist() == [[1, "events[0]", "StartPosition"]]


def test_iter_lines_skips_blanks_drops_a_bom_and_reports_bad_utf8(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}\r\n\n  \nab\xffc\n')
    assert list(iter_lines(path)) == [
        (1, '{"a": 1}', None),
        (4, "ab\ufffdc", "not valid UTF-8 (byte 0xff at column 3)"),
    ]
    with pytest.raises(DataFormatError, match=r"missing\.jsonl: cannot read instance file: No such file"):
        list(iter_lines(tmp_path / "missing.jsonl"))


def test_parse_line_names_the_bad_field():
    instance, field, message = parse_line(_line(id="x"))
    assert (instance.id, field, message) == ("x", None, None)
    instance, field, message = parse_line(_line(lang=""))
    assert (instance, field, message) == (None, "lang", "String should have at least 1 character")


@pytest.mark.parametrize(
    ("text", "found"), [('{"id": "a"}', "a"), ('{"id": 3}', None), ("[1]", None), ("{", None)]
)
def test_record_id_only_reads_string_ids_of_objects(text, found):
    assert record_id(text) == found


def test_split_table_counts_valid_records_beside_each_minimum():
    instances = pd.DataFrame({"line": [1, 2, 3, 4, 5], "split": ["train", "train", "test", "dev", None]})
    frame = split_table(instances, valid_lines={1, 2, 4, 5}, minimums={"train": 2, "test": 1})
    assert frame.index.name == ROW
    assert frame.to_dict("list") == {
        "split": ["train", "test", "dev"],
        "count": [2, 0, 1],
        "minimum": [2, 1, 0],
    }
