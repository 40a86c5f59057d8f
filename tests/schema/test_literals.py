"""Python literals for prompts: exact escapes, and ``ast`` reads every one back."""

from __future__ import annotations

import ast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from knowcoder.schema.literals import docstring_text, from_py_identifier, py_identifier, py_str


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("Ada Park", '"Ada Park"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("a\\b", '"a\\\\b"'),
        ("one\ntwo\tthree\r", '"one\\ntwo\\tthree\\r"'),
        ("bell\x07", '"bell\\x07"'),
        ("北京大学", '"北京大学"'),
        ('北京"大学"', '"北京\\"大学\\""'),
        ("北京\u200b", '"北京\\u200b"'),
        ("北\x7f", '"北\\x7f"'),
        ("a\U000e0001", '"a\\U000e0001"'),
    ],
)
def test_py_str_escapes_exactly_what_it_must(value, literal):
    assert py_str(value) == literal
    assert ast.literal_eval(literal) == value


@given(st.text())
def test_py_str_reads_back_as_the_same_string(value):
    assert ast.literal_eval(py_str(value)) == value


def test_docstring_text_escapes_quotes_and_backslashes_and_joins_lines():
    assert (
        docstring_text('  a """quoted""" path C:\\x\nnext line ')
        == 'a \\"\\"\\"quoted\\"\\"\\" path C:\\\\x next line'
    )


@pytest.mark.parametrize(("role", "name"), [("from", "from_"), ("class", "class_"), ("place", "place")])
def test_keyword_roles_get_a_trailing_underscore_and_read_back(role, name):
    assert py_identifier(role) == name
    assert from_py_identifier(name) == role


def test_an_underscore_after_a_non_keyword_stays():
    assert from_py_identifier("origin_") == "origin_"
