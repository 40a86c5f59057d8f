"""``knowcoder suite run`` end to end: files in a folder to suite.md / suite.json.

Every data file here is hand-written in the benchmark's own format (CrossNER's tab-separated
BIO columns, OneIE JSON lines); predictions are hand-made, so each F1 below is worked out from
its TP/FP/FN. The UniversalNER file is the real cut in tests/fixtures/importers/ (SOURCE.md).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from knowcoder.cli.main import main
from knowcoder.modeling.tiny import build_tiny_model, save_model_dir
from knowcoder.modeling.tokenizer import train_tokenizer
from knowcoder.suites.definition import BUNDLED_DIR

from ..conftest import FIXTURES, REPO

PARAMS = str(REPO / "params.yaml")

# CrossNER AI layout (token TAB tag); `misc` is in the file and is not scored zero-shot
CROSSNER_AI = (
    "Google\tB-organisation\nuses\tO\nnaive\tB-algorithm\nBayes\tI-algorithm\nin\tO\nLisp\tB-misc\n.\tO\n"
    "\n"
    "Accuracy\tB-metrics\nis\tO\na\tO\nmetric\tO\n.\tO\n"
)

ACE05_ONEIE = {
    "doc_id": "HAND_1",
    "sent_id": "HAND_1-0",
    "tokens": ["Rebels", "attacked", "the", "airport", "in", "Kabul", "."],
    "entity_mentions": [
        {"id": "E0", "text": "Rebels", "entity_type": "PER", "start": 0, "end": 1},
        {"id": "E1", "text": "airport", "entity_type": "FAC", "start": 3, "end": 4},
        {"id": "E2", "text": "Kabul", "entity_type": "GPE", "start": 5, "end": 6},
    ],
    "relation_mentions": [
        {
            "relation_type": "PHYS",
            "arguments": [
                {"entity_id": "E1", "role": "Arg-1", "text": "airport"},
                {"entity_id": "E2", "role": "Arg-2", "text": "Kabul"},
            ],
        }
    ],
    "event_mentions": [
        {
            "event_type": "Conflict:Attack",
            "trigger": {"start": 1, "end": 2, "text": "attacked"},
            "arguments": [
                {"entity_id": "E0", "role": "Attacker", "text": "Rebels"},
                {"entity_id": "E1", "role": "Target", "text": "airport"},
                {"entity_id": "E2", "role": "Place", "text": "Kabul"},
            ],
        }
    ],
}


def ner(type_: str, text: str) -> dict:
    return {"type": type_, "text": text}


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["--params", PARAMS, *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def data_dir(tmp_path) -> Path:
    folder = tmp_path / "data"
    (folder / "ai").mkdir(parents=True)
    (folder / "ai" / "test.txt").write_text(CROSSNER_AI, encoding="utf-8")
    shutil.copy(FIXTURES / "importers" / "universalner.json", folder / "mit-restaurant.json")
    (folder / "ace05").mkdir()
    write_jsonl(folder / "ace05" / "test.oneie.json", [ACE05_ONEIE])
    return folder


# Given: gold Organization "Google", Algorithm "naive Bayes" (misc "Lisp" dropped), Metric "Accuracy"
# When: the predictions get naive Bayes and Accuracy right, call Google a Product, add Task "metric"
# Then: TP 2, FP 2 (Product Google, Task metric), FN 1 (Organization Google):
#       P = 2/4 = 50.0, R = 2/3 = 66.7, F1 = 2*2 / (2*2 + 2 + 1) = 4/7 = 57.1
AI_PREDICTIONS = [
    {
        "id": "crossner_ai-en-000000:ner",
        "task": "ner",
        "records": [ner("Algorithm", "naive Bayes"), ner("Product", "Google")],
    },
    {
        "id": "crossner_ai-en-000001:ner",
        "task": "ner",
        "records": [ner("Metric", "Accuracy"), ner("Task", "metric")],
    },
]


def test_zero_shot_suite_scores_stored_predictions_exactly(capsys, tmp_path, data_dir):
    pred = write_jsonl(tmp_path / "pred.jsonl", AI_PREDICTIONS)
    out = tmp_path / "out"
    code, stdout, stderr = run(
        capsys,
        "suite",
        "run",
        "zero-shot-ner",
        "--data-dir",
        str(data_dir),
        "--pred",
        str(pred),
        "--out-dir",
        str(out),
    )
    assert code == 0, stderr
    scores = json.loads(stdout)
    assert scores["crossner_ai.ner"] == 57.1
    assert scores["mit_restaurant.ner"] == 0.0  # no predictions for it
    assert scores["mit_movie.ner"] is None and scores["average"] is None  # five datasets missing
    assert "note: mit_movie: no file found (expected one of mit-movie.json" in stderr

    summary = json.loads((out / "suite.json").read_text())
    assert summary["details"]["crossner_ai.ner"] == {
        "f1": 57.1,
        "precision": 50.0,
        "recall": 66.7,
        "tp": 2,
        "fp": 2,
        "fn": 1,
        "instances": 2,
    }
    # the real UniversalNER cut: 16 records about 2 sentences, 5 gold mentions, all missed
    assert summary["details"]["mit_restaurant.ner"]["fn"] == 5
    assert summary["details"]["mit_restaurant.ner"]["instances"] == 2
    ai = summary["datasets"]["crossner_ai"]
    assert (ai["file"], ai["format"], ai["imported"], ai["ignored_labels"]) == (
        "ai/test.txt",
        "conll",
        2,
        {"misc": 1},
    )
    markdown = (out / "suite.md").read_text()
    assert "| KnowCoder-7B | 50.0 | 48.2 | 60.3 | 61.1 | 70.0 | 72.2 | 59.1 | 60.1 |" in markdown
    assert "| **this run** | **-** | **0.0** | **57.1** | **-** |" in markdown
    assert (out / "crossner_ai" / "report.md").is_file()
    assert (out / "crossner_ai" / "validated" / "valid.jsonl").is_file()


# ACE05, one hand-written sentence, all four tasks:
#   NER: 3 gold, 3 right -> 100.0;  RE: 1 gold, none predicted -> TP 0, FN 1 -> 0.0
#   ED: Attack "attacked" right -> 100.0
#   EAE: gold attacker Rebels, target airport, place Kabul; predicted attacker Rebels (TP) and
#        target Kabul (FP): TP 1, FP 1, FN 2 -> F1 = 2 / (2 + 1 + 2) = 40.0
ACE_PREDICTIONS = [
    {
        "id": "HAND_1-0:ner",
        "task": "ner",
        "records": [
            ner("Human", "Rebels"),
            ner("Facility", "airport"),
            ner("GeographicalSocialPolitical", "Kabul"),
        ],
    },
    {"id": "HAND_1-0:re", "task": "re", "records": []},
    {"id": "HAND_1-0:ed", "task": "ed", "records": [{"type": "Attack", "trigger": "attacked"}]},
    {
        "id": "HAND_1-0:eae",
        "task": "eae",
        "records": [
            {
                "type": "Attack",
                "trigger": "attacked",
                "arguments": [
                    {"role": "attacker", "type": "Human", "text": "Rebels"},
                    {"role": "target", "type": "GeographicalSocialPolitical", "text": "Kabul"},
                ],
            }
        ],
    },
]


def test_supervised_suite_scores_every_ace05_task(capsys, tmp_path, data_dir):
    pred = write_jsonl(tmp_path / "pred.jsonl", ACE_PREDICTIONS)
    code, stdout, stderr = run(
        capsys,
        "suite",
        "run",
        "supervised-en",
        "--data-dir",
        str(data_dir),
        "--pred",
        str(pred),
        "--out-dir",
        str(tmp_path / "out"),
    )
    assert code == 0, stderr
    scores = json.loads(stdout)
    assert scores == {
        "conll03.ner": None,
        "ace05.ner": 100.0,
        "ace05.re": 0.0,
        "ace05.ed": 100.0,
        "ace05.eae": 40.0,
    }


def test_average_is_the_mean_of_unrounded_f1s(capsys, tmp_path, data_dir):
    # Given a two-dataset suite: crossner_ai at 4/7 (57.14...) and a perfect second dataset
    onto = BUNDLED_DIR / "ontologies" / "crossner_ai.yaml"
    (data_dir / "b.txt").write_text("Lisp\tB-programlang\nrocks\tO\n", encoding="utf-8")
    suite = tmp_path / "two.yaml"
    suite.write_text(
        "name: two\ntitle: Two\nreference: hand-written\nsetting: test\naverage: true\n"
        "datasets:\n"
        f"  - {{name: crossner_ai, column: A, lang: en, tasks: [ner], ontology: {onto},"
        " ignore_labels: [misc], files: [{path: ai/test.txt, format: conll}]}\n"
        f"  - {{name: b, column: B, lang: en, tasks: [ner], ontology: {onto},"
        " files: [{path: b.txt, format: conll}]}\n"
    )
    pred = write_jsonl(
        tmp_path / "pred.jsonl",
        [
            *AI_PREDICTIONS,
            {"id": "b-en-000000:ner", "task": "ner", "records": [ner("ProgrammingLanguage", "Lisp")]},
        ],
    )
    code, stdout, stderr = run(
        capsys,
        "suite",
        "run",
        str(suite),
        "--data-dir",
        str(data_dir),
        "--pred",
        str(pred),
        "--out-dir",
        str(tmp_path / "out"),
    )
    assert code == 0, stderr
    # (57.142857 + 100) / 2 = 78.571... -> 78.6 (the rounded columns would give 78.55)
    assert json.loads(stdout) == {"crossner_ai.ner": 57.1, "b.ner": 100.0, "average": 78.6}


def test_an_unmapped_label_outside_ignore_labels_names_itself(capsys, tmp_path, data_dir):
    (data_dir / "ai" / "test.txt").write_text("Lisp\tB-programminglang\n", encoding="utf-8")
    pred = write_jsonl(tmp_path / "pred.jsonl", [])
    code, _, stderr = run(
        capsys,
        "suite",
        "run",
        "zero-shot-ner",
        "--data-dir",
        str(data_dir),
        "--pred",
        str(pred),
        "--out-dir",
        str(tmp_path / "out"),
    )
    assert code == 1
    assert "label(s) ['programminglang'] map to no class" in stderr
    assert stderr.count("\n") == 1


def test_run_needs_exactly_one_source_and_some_file(capsys, tmp_path, data_dir):
    code, _, stderr = run(capsys, "suite", "run", "zero-shot-ner", "--data-dir", str(data_dir))
    assert code == 1 and "pass either --model" in stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    pred = write_jsonl(tmp_path / "pred.jsonl", [])
    code, _, stderr = run(
        capsys, "suite", "run", "supervised-zh", "--data-dir", str(empty), "--pred", str(pred)
    )
    assert code == 1 and "no file of suite 'supervised-zh'" in stderr and "msra/test.txt" in stderr
    code, _, stderr = run(
        capsys,
        "suite",
        "run",
        "zero-shot-ner",
        "--data-dir",
        str(data_dir),
        "--pred",
        str(pred),
        "--require-all",
        "--out-dir",
        str(tmp_path / "o"),
    )
    assert code == 1 and "missing under" in stderr and "mit_movie (one of mit-movie.json" in stderr


def test_list_and_show(capsys):
    code, stdout, _ = run(capsys, "suite", "list")
    assert code == 0
    for name in ("zero-shot-ner", "supervised-en", "supervised-zh"):
        assert name in stdout
    code, stdout, _ = run(capsys, "suite", "show", "supervised-zh")
    shown = json.loads(stdout)
    assert shown["datasets"]["weibo"]["classes"]["ner"][:2] == ["PersonName", "PersonNominal"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A 1-layer random Llama: its scores are noise, the run's structure is what is checked."""
    texts = [CROSSNER_AI, json.dumps(ACE05_ONEIE), 'class Entity: results = [Algorithm("x")]']
    tokenizer = train_tokenizer(texts, vocab_size=300, min_frequency=1)
    model = build_tiny_model(tokenizer, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)
    return save_model_dir(model, tokenizer, tmp_path_factory.mktemp("suite-model") / "model")


def test_a_model_run_writes_predictions_for_every_instance_and_task(capsys, tmp_path, data_dir, tiny_model):
    out = tmp_path / "out"
    code, stdout, stderr = run(
        capsys,
        "--set", "evaluation.max_new_tokens=16",
        "--set", "prompt.descriptions=false",
        "suite", "run", "supervised-en", "--data-dir", str(data_dir), "--model", str(tiny_model),
        "--out-dir", str(out),
    )  # fmt: skip
    assert code == 0, stderr
    rows = [json.loads(line) for line in (out / "ace05" / "predictions.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == ["HAND_1-0:eae", "HAND_1-0:ed", "HAND_1-0:ner", "HAND_1-0:re"]
    summary = json.loads((out / "suite.json").read_text())
    assert summary["source"] == str(tiny_model)
    assert set(summary["details"]) == {"ace05.ner", "ace05.re", "ace05.ed", "ace05.eae"}
    assert summary["details"]["ace05.ner"]["tp"] + summary["details"]["ace05.ner"]["fn"] == 3
    # stored predictions of that run score the same without the model
    code, again, _ = run(
        capsys,
        "suite",
        "run",
        "supervised-en",
        "--data-dir",
        str(data_dir),
        "--pred",
        str(out),
        "--out-dir",
        str(tmp_path / "again"),
    )
    assert code == 0 and json.loads(again) == json.loads(stdout)
