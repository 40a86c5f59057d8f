from __future__ import annotations

import json

import pytest

from knowcoder.cli.main import main
from knowcoder.data.jsonl import read_instances, write_jsonl
from knowcoder.errors import DataFormatError
from knowcoder.prompts import render_results
from knowcoder.schema.ontology import load_ontology
from knowcoder.stages.evaluate import evaluate_predictions, read_predictions
from knowcoder.tasks import TASKS

from ..conftest import REPO

GOLD = REPO / "data/raw/sample/en.jsonl"


@pytest.fixture(scope="module")
def ontology():
    return load_ontology(REPO / "data/ontology.yaml")


def perfect_rows(ontology, *, as_output: bool = False):
    rows = []
    for instance in read_instances(GOLD):
        for name, task in TASKS.items():
            gold = task.gold_records(instance, ontology)
            row = {"id": f"{instance.id}:{name}", "task": name}
            if as_output:
                row["output"] = render_results(gold, name, ontology)
            else:
                row["records"] = [r.to_dict() for r in gold]
            rows.append(row)
    return rows


@pytest.mark.parametrize("as_output", [False, True])
def test_perfect_predictions_score_one(ontology, tmp_path, as_output):
    write_jsonl(tmp_path / "pred.jsonl", perfect_rows(ontology, as_output=as_output))
    run = evaluate_predictions(
        tmp_path / "pred.jsonl", [GOLD], tmp_path / "out", ontology=ontology, tasks=list(TASKS)
    )
    metrics = run.result.to_dict()
    for name in TASKS:
        assert metrics[f"{name}.f1"] == pytest.approx(1.0)
    assert json.loads((tmp_path / "out" / "metrics.json").read_text()) == metrics
    assert (tmp_path / "out" / "report.md").is_file()


def test_missing_predictions_count_as_empty(ontology, tmp_path):
    rows = [r for r in perfect_rows(ontology) if r["task"] == "ner"][:10]
    write_jsonl(tmp_path / "pred.jsonl", rows)
    run = evaluate_predictions(
        tmp_path / "pred.jsonl", [GOLD], tmp_path / "out", ontology=ontology, tasks=["ner"]
    )
    metrics = run.result.to_dict()
    gold_total = sum(len(i.entities) for i in read_instances(GOLD))
    found = sum(len(r["records"]) for r in rows)
    assert metrics["ner.precision"] == pytest.approx(1.0)
    assert metrics["ner.recall"] == pytest.approx(found / gold_total)


def test_split_filter(ontology, tmp_path):
    write_jsonl(tmp_path / "pred.jsonl", perfect_rows(ontology))
    run = evaluate_predictions(
        tmp_path / "pred.jsonl", [GOLD], tmp_path / "out", ontology=ontology, tasks=["ner"], split="test"
    )
    assert run.result.to_dict()["ner.instances"] == sum(1 for i in read_instances(GOLD) if i.split == "test")


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"task": "ner", "records": []}, "id"),
        ({"id": "x:ner", "task": "ner"}, "records"),
        ({"id": "x:ner", "task": "ner", "records": [{"type": "Person"}]}, "records"),
    ],
)
def test_malformed_predictions_name_file_line_and_field(tmp_path, row, field):
    path = tmp_path / "pred.jsonl"
    write_jsonl(path, [{"id": "ok:ner", "task": "ner", "records": []}, row])
    with pytest.raises(DataFormatError) as caught:
        read_predictions(path)
    assert str(caught.value).startswith(f"{path}:2: {field}:")


def test_duplicate_prediction_is_an_error(tmp_path):
    path = tmp_path / "pred.jsonl"
    write_jsonl(path, [{"id": "a:ner", "task": "ner", "records": []}] * 2)
    with pytest.raises(DataFormatError, match="duplicate prediction 'a:ner'"):
        read_predictions(path)


def test_cli_scores_predictions_and_rejects_mixed_modes(ontology, tmp_path, capsys):
    write_jsonl(tmp_path / "pred.jsonl", perfect_rows(ontology))
    base = ["--params", str(REPO / "params.yaml"), "evaluate", "--ontology", str(REPO / "data/ontology.yaml")]
    code = main(
        [*base, "--pred", str(tmp_path / "pred.jsonl"), "--gold", str(GOLD), "--out-dir", str(tmp_path / "o")]
    )
    out, _ = capsys.readouterr()
    assert code == 0 and json.loads(out)["ner.f1"] == 1.0
    assert main([*base, "--pred", str(tmp_path / "pred.jsonl")]) == 1
    assert "use either --pred with --gold, or --model with --data" in capsys.readouterr().err
