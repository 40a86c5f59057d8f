"""`knowcoder report table`: the README's results table from a real evaluation's headline.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowcoder.cli.main import main
from knowcoder.data.jsonl import read_instances, write_jsonl
from knowcoder.evaluation.table import BEGIN, END, current_block, parse_table
from knowcoder.schema.ontology import load_ontology
from knowcoder.stages.evaluate import evaluate_predictions
from knowcoder.tasks import TASKS

from ..conftest import REPO

GOLD = [REPO / "data/raw/sample/en.jsonl", REPO / "data/raw/sample/zh.jsonl"]
README = REPO / "README.md"


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample sentences scored with the gold records of every other sentence predicted, none else."""
    ontology = load_ontology(REPO / "data/ontology.yaml")
    rows = []
    for index, instance in enumerate(i for path in GOLD for i in read_instances(path)):
        for name, task in TASKS.items():
            gold = task.gold_records(instance, ontology) if index % 2 == 0 else []
            rows.append(
                {"id": f"{instance.id}:{name}", "task": name, "records": [r.to_dict() for r in gold or []]}
            )
    folder = tmp_path_factory.mktemp("evaluation")
    write_jsonl(folder / "pred.jsonl", rows)
    evaluate_predictions(
        folder / "pred.jsonl", GOLD, folder / "heldout", ontology=ontology, tasks=list(TASKS)
    )
    return folder / "heldout"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["--params", str(REPO / "params.yaml"), "report", "table", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_table_of_an_evaluation_has_every_task_and_language(capsys, evaluation) -> None:
    headline = json.loads((evaluation / "headline.json").read_text())
    code, out, _ = run(capsys, str(evaluation / "headline.json"))
    assert code == 0
    header, rows = parse_table(out)
    assert header == ["task", "F1 [95% CI]", "en", "zh", "n"]
    assert [row[0] for row in rows] == ["NER", "RE", "ED", "EAE"]
    ner = rows[0]
    assert (
        ner[1]
        == f"{headline['ner.f1']:.2f} [{headline['ner.f1_ci_low']:.2f}, {headline['ner.f1_ci_high']:.2f}]"
    )
    assert ner[-1] == str(int(headline["ner.instances"]))
    # half the sentences predicted exactly, half not at all: recall about 1/2, precision 1
    assert 0.0 < headline["ner.f1_ci_low"] < headline["ner.f1"] < headline["ner.f1_ci_high"] < 1.0
    # the folder works as well as the file
    assert run(capsys, str(evaluation))[1] == out


def test_write_then_check_and_a_stale_table_fails_the_check(capsys, evaluation, tmp_path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# Results\n\nIntro.\n\n{BEGIN}\n| stale |\n{END}\n\nMore text.\n")
    code, _, err = run(capsys, str(evaluation), "--readme", str(readme), "--check")
    assert code == 1
    assert "the results table differs" in err and "--write" in err and len(err.strip().splitlines()) == 1
    assert run(capsys, str(evaluation), "--readme", str(readme), "--write")[0] == 0
    text = readme.read_text()
    assert text.startswith(f"# Results\n\nIntro.\n\n{BEGIN}\n| task |") and text.endswith(
        f"{END}\n\nMore text.\n"
    )
    code, _, err = run(capsys, str(evaluation), "--readme", str(readme), "--check")
    assert code == 0 and "matches" in err


def test_a_document_without_markers_is_a_one_line_error(capsys, evaluation, tmp_path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# No table here\n")
    code, _, err = run(capsys, str(evaluation), "--readme", str(readme), "--write")
    assert code == 1
    assert err.startswith(f"knowcoder: error: {readme}: needs exactly one {BEGIN}") and err.count("\n") == 1
    assert readme.read_text() == "# No table here\n"
    code, _, err = run(capsys, str(tmp_path / "missing.json"))
    assert code == 1 and "missing.json: no such file" in err


def test_the_readme_table_is_in_the_rendered_format(capsys, evaluation) -> None:
    """The numbers come from a real run (`--write`); the columns and rows must be what the command writes."""
    _, out, _ = run(capsys, str(evaluation))
    rendered_header, rendered_rows = parse_table(out)
    header, rows = parse_table(current_block(README.read_text(encoding="utf-8"), README), README)
    assert header == rendered_header
    assert [row[0] for row in rows] == [row[0] for row in rendered_rows]


def test_the_command_has_help(capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["report", "table", "--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    assert "usage: knowcoder report table" in out and "--check" in out and "results:begin" in out
