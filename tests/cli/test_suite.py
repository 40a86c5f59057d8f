"""`knowcoder suite list|show|run`: listings and argument errors (scoring: tests/suites/test_runner.py)."""

from __future__ import annotations

import json

import pytest

from .conftest import help_text, run


@pytest.mark.parametrize("argv", [["suite", "list"], ["suite", "show"], ["suite", "run"]])
def test_every_subcommand_has_help(capsys, argv):
    help_text(capsys, *argv)


def test_list_names_each_bundled_suite_and_its_columns(capsys):
    code, out, _ = run(capsys, "suite", "list")
    assert code == 0
    assert out.splitlines()[::2] == [
        "supervised-en    Supervised English IE (CoNLL-2003, ACE05 NER/RE/ED/EAE)",
        "supervised-zh    Supervised Chinese IE (MSRA, Weibo NER; DuIE 2.0 RE; DuEE 1.0 ED/EAE)",
        "zero-shot-ner    Zero-shot NER (MIT Movie, MIT Restaurant, CrossNER)",
    ]
    assert out.splitlines()[5] == (
        "                 columns: Movie., Rest., AI, Litera., Music, Politics, Science + average"
    )


def test_show_prints_each_dataset(capsys):
    code, out, _ = run(capsys, "suite", "show", "supervised-en")
    shown = json.loads(out)
    assert code == 0
    assert shown["suite"] == "supervised-en"
    for dataset in shown["datasets"].values():
        assert set(dataset) == {"lang", "tasks", "files", "ignore_labels", "ontology", "classes"}
        assert set(dataset["classes"]) == set(dataset["tasks"])


def test_show_an_unknown_suite_lists_the_bundled_ones(capsys):
    code, out, err = run(capsys, "suite", "show", "nope")
    assert (code, out) == (1, "")
    assert err == (
        "knowcoder: error: suite: unknown suite 'nope'; bundled suites: supervised-en, supervised-zh, "
        "zero-shot-ner (or pass the path of a suite YAML file)\n"
    )


ONE_SOURCE = "suite run: pass either --model (generate) or --pred (stored predictions)"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], ONE_SOURCE),
        (["--model", "m", "--pred", "p"], ONE_SOURCE),
        (["--pred", "p", "--limit", "0"], "--limit: --limit must be a positive number, got 0"),
    ],
)
def test_run_refuses_bad_arguments_in_one_line(capsys, tmp_path, argv, message):
    code, out, err = run(capsys, "suite", "run", "zero-shot-ner", "--data-dir", str(tmp_path), *argv)
    assert (code, out) == (1, "")
    assert err == f"knowcoder: error: {message}\n"
    assert list(tmp_path.iterdir()) == []
