"""The README's results table: rendering from headline metrics, the markers, the format's parser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowcoder.errors import DataFormatError
from knowcoder.evaluation.table import (
    BEGIN,
    END,
    current_block,
    parse_table,
    read_headline,
    render_table,
    replace_block,
)

METRICS = {
    "ner.f1": 0.5234,
    "ner.f1_ci_low": 0.4471,
    "ner.f1_ci_high": 0.5949,
    "ner.instances": 200,
    "ner.lang.en.f1": 0.6,
    "ner.lang.en.f1_ci_low": 0.5,
    "ner.lang.en.f1_ci_high": 0.7,
    "ner.lang.zh.f1": 0.44,
    "ner.lang.zh.f1_ci_low": 0.35,
    "ner.lang.zh.f1_ci_high": 0.53,
    "re.f1": 0.1,  # no interval (bootstrap off), no language breakdown, no instances
    "eae.f1": 0.0,
    "eae.f1_ci_low": 0.0,
    "eae.f1_ci_high": 0.0,
    "eae.instances": 12,
    "eae.lang.zh.f1": 0.0,
    "parse.ner.outputs": 200,
}

EXPECTED = (
    "| task | F1 [95% CI] | en | zh | n |\n"
    "| --- | --- | --- | --- | --- |\n"
    "| NER | 0.52 [0.45, 0.59] | 0.60 [0.50, 0.70] | 0.44 [0.35, 0.53] | 200 |\n"
    "| RE | 0.10 | - | - | - |\n"
    "| EAE | 0.00 [0.00, 0.00] | - | 0.00 | 12 |\n"
)


def test_render_rows_in_task_order_languages_sorted() -> None:
    assert render_table(METRICS) == EXPECTED


def test_a_rendered_table_parses_back() -> None:
    header, rows = parse_table(EXPECTED)
    assert header == ["task", "F1 [95% CI]", "en", "zh", "n"]
    assert [row[0] for row in rows] == ["NER", "RE", "EAE"]
    assert rows[0][1] == "0.52 [0.45, 0.59]"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("| task | F1 | en | n |\n| --- | --- | --- | --- |\n", "header"),
        ("| task | F1 [95% CI] | n |\n| --- | --- |\n", "separator"),
        ("| task | F1 [95% CI] | n |\n| --- | --- | --- |\n| NER | 52% | 3 |\n", "'52%' is not a score"),
        ("| task | F1 [95% CI] | n |\n| --- | --- | --- |\n| POS | 0.52 | 3 |\n", "unknown task 'POS'"),
        ("| task | F1 [95% CI] | n |\n| --- | --- | --- |\n| NER | 0.52 |\n", "2 cells for 3 columns"),
    ],
)
def test_a_table_off_the_format_is_refused_with_the_line(table: str, message: str) -> None:
    with pytest.raises(DataFormatError, match=message):
        parse_table(table, "README.md")


def test_the_block_between_the_markers_is_replaced_and_nothing_else() -> None:
    text = f"# Title\n\nBefore.\n\n{BEGIN}\n| old |\n{END}\n\nAfter.\n"
    assert current_block(text) == "| old |\n"
    updated = replace_block(text, EXPECTED)
    assert updated == f"# Title\n\nBefore.\n\n{BEGIN}\n{EXPECTED}{END}\n\nAfter.\n"
    assert current_block(updated) == EXPECTED
    assert replace_block(updated, EXPECTED) == updated


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no markers\n", "found 0 and 0"),
        (f"{BEGIN}\n{END}\n{BEGIN}\n{END}\n", "found 2 and 2"),
        (f"{END}\n{BEGIN}\n", "comes before"),
    ],
)
def test_missing_or_doubled_markers_are_refused(text: str, message: str) -> None:
    with pytest.raises(DataFormatError, match=message) as caught:
        current_block(text, "README.md")
    assert str(caught.value).startswith("README.md: ")


def test_read_headline_names_the_file_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "headline.json"
    path.write_text(json.dumps({"ner.f1": "high"}))
    with pytest.raises(DataFormatError, match=r"headline.json: ner.f1: 'high' is not a number"):
        read_headline(path)
    path.write_text(json.dumps({"parse.ner.outputs": 3}))
    with pytest.raises(DataFormatError, match="no task F1"):
        read_headline(path)
    path.write_text("{")
    with pytest.raises(DataFormatError, match=r"headline.json:1: not JSON"):
        read_headline(path)
