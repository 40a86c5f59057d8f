"""`knowcoder evaluate` and `knowcoder extract`: arguments, scoring stored predictions, one-line errors.

Generating with a model is covered in tests/stages/test_evaluate_suites.py (`evaluate --suite`),
tests/modeling/test_loading_errors.py (`extract` of a broken model) and tests/flows (registry URIs).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowcoder.data.instance import Instance

from .conftest import ONTOLOGY, help_text, run


@pytest.fixture
def scored(tmp_path: Path, hire_instance: Instance) -> Path:
    """Gold (split test): Person "Ada Park", Company "Acme Corp", Location "Paris".

    Predicted: Person "Ada Park" (TP), Company "Paris" (FP); Acme Corp and Paris as Location are missed
    (2 FN). P = 1/2, R = 1/3, F1 = 2PR/(P+R) = (1/3)/(5/6) = 0.4.
    """
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    gold = hire_instance.model_copy(update={"relations": [], "events": [], "split": "test"})
    (inputs / "gold.jsonl").write_text(gold.model_dump_json() + "\n", encoding="utf-8")
    prediction = {
        "id": f"{hire_instance.id}:ner",
        "task": "ner",
        "records": [{"type": "Person", "text": "Ada Park"}, {"type": "Company", "text": "Paris"}],
    }
    (inputs / "pred.jsonl").write_text(json.dumps(prediction) + "\n", encoding="utf-8")
    return inputs


@pytest.mark.parametrize("command", ["evaluate", "extract"])
def test_every_subcommand_has_help(capsys, command):
    help_text(capsys, command)


def test_evaluate_scores_stored_predictions_into_the_default_folder(capsys, tmp_path, scored):
    code, out, err = run(
        capsys,
        "--set",
        f"paths.artifacts={tmp_path / 'artifacts'}",
        "evaluate",
        "--pred",
        str(scored / "pred.jsonl"),
        "--gold",
        str(scored / "gold.jsonl"),
        "--tasks",
        "ner",
        "--all-splits",
        "--ontology",
        ONTOLOGY,
    )
    assert code == 0
    headline = json.loads(out)
    assert (headline["ner.precision"], headline["ner.recall"], headline["ner.f1"]) == (0.5, 0.3333, 0.4)
    assert headline["ner.instances"] == 1
    assert not any(key.startswith(("re.", "ed.", "eae.")) for key in headline)
    report = tmp_path / "artifacts" / "evaluation" / "inputs-pred"  # named after the --pred file
    assert err == f"report: {report / 'report.md'}\n"
    written = {p.name for p in report.iterdir()}
    assert {"metrics.json", "headline.json", "per_type.csv", "report.md", "report.html"} <= written


@pytest.mark.parametrize(
    ("selection", "instances"), [(["--split", "dev"], None), (["--split", "test"], 1), (["--all-splits"], 1)]
)
def test_evaluate_scores_only_the_instances_of_the_split(capsys, tmp_path, scored, selection, instances):
    code, out, _ = run(
        capsys,
        "evaluate",
        "--pred",
        str(scored / "pred.jsonl"),
        "--gold",
        str(scored / "gold.jsonl"),
        "--tasks",
        "ner",
        *selection,
        "--out-dir",
        str(tmp_path / "out"),
        "--ontology",
        ONTOLOGY,
    )
    assert code == 0
    headline = json.loads(out)
    if instances is None:  # no gold instance of the split: nothing to score
        assert headline == {}
    else:
        assert (headline["ner.instances"], headline["ner.f1"]) == (instances, 0.4)


@pytest.mark.parametrize(
    "argv",
    [
        ["--pred", "pred.jsonl"],
        ["--gold", "gold.jsonl"],
        ["--pred", "pred.jsonl", "--gold", "gold.jsonl", "--model", "model"],
        ["--data", "data.jsonl"],
    ],
)
def test_evaluate_needs_one_of_its_modes(capsys, tmp_path, argv):
    code, out, err = run(capsys, "evaluate", "--out-dir", str(tmp_path / "out"), *argv)
    assert (code, out) == (1, "")
    assert err == (
        "knowcoder: error: evaluate: use either --pred with --gold, or --model with --data, "
        "or --model alone (a suite: --suite)\n"
    )
    assert not (tmp_path / "out").exists()


def test_evaluate_an_unknown_task_is_one_line(capsys):
    code, _, err = run(capsys, "evaluate", "--tasks", "ner,nope", "--pred", "p.jsonl", "--gold", "g.jsonl")
    assert code == 1
    assert err == "knowcoder: error: --tasks: unknown task 'nope'; choose from ner, re, ed, eae\n"


def test_evaluate_an_undefined_suite_is_one_line_before_any_model_loads(capsys, tmp_path):
    code, _, err = run(capsys, "evaluate", "--model", str(tmp_path / "no-model"), "--suite", "nope")
    assert code == 1
    assert err == (
        "knowcoder: error: evaluation.suites: unknown evaluation suite 'nope'; "
        "defined: heldout, sample-test\n"
    )


def test_extract_an_unknown_class_is_one_line(capsys):
    code, out, err = run(
        capsys, "extract", "--task", "ner", "--types", "Robot", "--text", "x", "--ontology", ONTOLOGY
    )
    assert (code, out) == (1, "")
    assert err == f"knowcoder: error: --types: unknown class 'Robot' in {ONTOLOGY}\n"


def test_extract_without_a_model_names_both_ways_to_give_one(capsys):
    code, _, err = run(capsys, "extract", "--task", "ner", "--types", "Person", "--text", "Ada Park")
    assert code == 1  # params.yaml's default profile leaves model.base empty
    assert err == "knowcoder: error: --model: name the model: pass --model, or set model.base in params\n"


def test_extract_of_a_missing_model_folder_is_one_line(capsys, tmp_path):
    missing = tmp_path / "no-model"
    code, _, err = run(
        capsys, "extract", "--model", str(missing), "--task", "ner", "--types", "Person", "--text", "x"
    )
    assert code == 1
    assert err.startswith(f"knowcoder: error: model '{missing}' was not found locally (no such directory)")
    assert err.count("\n") == 1
