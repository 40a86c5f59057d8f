"""`knowcoder report table`: arguments and one-line errors (the table itself: test_report_table.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import help_text, run, usage_error


@pytest.fixture
def headline(tmp_path: Path) -> Path:
    path = tmp_path / "headline.json"
    path.write_text(json.dumps({"ner.f1": 0.5}), encoding="utf-8")
    return path


def test_the_subcommand_has_help(capsys):
    help_text(capsys, "report", "table")


def test_a_headline_with_only_an_f1_prints_it_without_interval_or_count(capsys, headline):
    code, out, err = run(capsys, "report", "table", str(headline))
    assert (code, err) == (0, "")
    assert out == "| task | F1 [95% CI] | n |\n| --- | --- | --- |\n| NER | 0.50 | - |\n"


def test_write_and_check_exclude_each_other(capsys, headline):
    code, err = usage_error(capsys, "report", "table", str(headline), "--write", "--check")
    assert code == 2
    assert err.endswith("error: argument --check: not allowed with argument --write\n")


@pytest.mark.parametrize("mode", ["--write", "--check"])
def test_a_missing_readme_is_one_line(capsys, tmp_path, headline, mode):
    readme = tmp_path / "none.md"
    code, _, err = run(capsys, "report", "table", str(headline), "--readme", str(readme), mode)
    assert code == 1
    assert err == (
        f"knowcoder: error: --readme: {readme} does not exist; name the document holding the markers\n"
    )
    assert not readme.exists()


def test_a_value_that_is_not_a_number_is_one_line(capsys, tmp_path):
    bad = tmp_path / "headline.json"
    bad.write_text(json.dumps({"ner.f1": "high"}), encoding="utf-8")
    code, out, err = run(capsys, "report", "table", str(bad))
    assert (code, out) == (1, "")
    assert err == f"knowcoder: error: {bad}: ner.f1: 'high' is not a number\n"
