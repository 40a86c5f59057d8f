"""User-facing errors render as one line that locates the fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowcoder.errors import (
    ConfigError,
    DataFormatError,
    InputError,
    KnowCoderError,
    LabelError,
    OntologyError,
    describe,
)


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (
            {"path": Path("data/a.jsonl"), "line": 7, "field": "entities[0].type"},
            "data/a.jsonl:7: entities[0].type: bad",
        ),
        ({"path": "data/a.jsonl", "field": "text"}, "data/a.jsonl: text: bad"),
        ({"path": "data/a.jsonl", "line": 3}, "data/a.jsonl:3: bad"),
        ({"line": 3, "field": "id"}, "line 3: id: bad"),
        ({"field": "data.workers"}, "data.workers: bad"),
        ({}, "bad"),
    ],
)
def test_input_error_names_file_line_and_field(where, expected):
    error = InputError("bad", **where)
    assert str(error) == expected
    assert error.args == (expected,)


def test_the_message_is_folded_onto_one_line():
    error = DataFormatError("expected  a list,\n\tgot   a dict", path="x.json", line=1)
    assert error.message == "expected a list, got a dict"
    assert str(error) == "x.json:1: expected a list, got a dict"


def test_every_input_error_is_a_knowcoder_error():
    for kind in (OntologyError, DataFormatError, LabelError, ConfigError):
        assert issubclass(kind, InputError)
        assert issubclass(kind, KnowCoderError)
    assert not issubclass(KnowCoderError, InputError)


def test_describe_folds_whitespace_cuts_and_names_the_type():
    assert describe(ValueError("too\n many   spaces")) == "ValueError: too many spaces"
    assert describe(RuntimeError("x" * 500), limit=5) == "RuntimeError: xxxxx"
    assert describe(KeyError()) == "KeyError"
