"""The suite table: columns in percent, the average of unrounded F1s, metrics and the Markdown."""

from __future__ import annotations

import json

import pytest

from knowcoder.suites.definition import Suite
from knowcoder.suites.report import (
    column_scores,
    render_markdown,
    suite_metrics,
    suite_summary,
    write_suite_report,
)
from knowcoder.suites.runner import DatasetRun, SuiteRun

SUITE = Suite.model_validate(
    {
        "name": "tiny",
        "title": "Tiny suite",
        "reference": "Table 9 of a paper",
        "setting": "strict micro F1",
        "average": True,
        "datasets": [
            {
                "name": "a",
                "column": "A",
                "lang": "en",
                "tasks": ["ner"],
                "ontology": "a.yaml",
                "files": [{"path": "a.json", "format": "instruction"}],
            },
            {
                "name": "b",
                "column": "B",
                "lang": "en",
                "tasks": ["ner", "re"],
                "ontology": "b.yaml",
                "files": [
                    {"path": "b.json", "format": "instruction"},
                    {"path": "b/test.txt", "format": "conll"},
                ],
            },
        ],
        "paper": [{"model": "KnowCoder-7B", "note": "paper", "scores": {"a.ner": 60.3, "average": 50.0}}],
    }
)


def scored(name: str, **tasks: tuple[int, int, int]) -> DatasetRun:
    """A scored dataset whose tasks have these (TP, FP, FN) at their headline level."""
    levels = {"ner": "classification", "re": "strict"}
    metrics: dict[str, float] = {}
    for task, (tp, fp, fn) in tasks.items():
        metrics |= {
            f"{task}.f1": 2 * tp / (2 * tp + fp + fn),
            f"{task}.precision": tp / (tp + fp),
            f"{task}.recall": tp / (tp + fn),
            f"{task}.{levels[task]}.tp": tp,
            f"{task}.{levels[task]}.fp": fp,
            f"{task}.{levels[task]}.fn": fn,
            f"{task}.instances": 10,
        }
    return DatasetRun(
        name,
        "scored",
        file=f"{name}.json",
        format="instruction",
        imported=12,
        ignored_labels={"misc": 2},
        rejected=1,
        scored=10,
        metrics=metrics,
    )


@pytest.fixture
def complete(tmp_path) -> SuiteRun:
    # a.ner: TP 2, FP 1, FN 1 -> F1 2/3; b.ner: 1, 1, 2 -> 2/5; b.re: 3, 3, 4 -> 6/13
    runs = [scored("a", ner=(2, 1, 1)), scored("b", ner=(1, 1, 2), re=(3, 3, 4))]
    return SuiteRun(SUITE, tmp_path / "out", "predictions.jsonl", runs)


def test_columns_are_percent_with_one_decimal_and_the_counts(complete):
    assert column_scores(complete) == {
        "a.ner": {"f1": 66.7, "precision": 66.7, "recall": 66.7, "tp": 2, "fp": 1, "fn": 1, "instances": 10},
        "b.ner": {"f1": 40.0, "precision": 50.0, "recall": 33.3, "tp": 1, "fp": 1, "fn": 2, "instances": 10},
        "b.re": {"f1": 46.2, "precision": 50.0, "recall": 42.9, "tp": 3, "fp": 3, "fn": 4, "instances": 10},
    }


def test_the_average_is_the_mean_of_the_unrounded_f1s(complete):
    summary = suite_summary(complete)
    # (2/3 + 2/5 + 6/13) / 3 = 0.50940 -> 50.9; the rounded columns would give (66.7 + 40 + 46.2) / 3 = 51.0
    assert summary["scores"] == {"a.ner": 66.7, "b.ner": 40.0, "b.re": 46.2, "average": 50.9}
    assert summary["missing"] == []
    assert summary["columns"] == {"a.ner": "A", "b.ner": "B NER", "b.re": "B RE"}
    assert suite_metrics(summary) == {
        "suite/tiny/a/ner/f1": 66.7,
        "suite/tiny/a/ner/precision": 66.7,
        "suite/tiny/a/ner/recall": 66.7,
        "suite/tiny/b/ner/f1": 40.0,
        "suite/tiny/b/ner/precision": 50.0,
        "suite/tiny/b/ner/recall": 33.3,
        "suite/tiny/b/re/f1": 46.2,
        "suite/tiny/b/re/precision": 50.0,
        "suite/tiny/b/re/recall": 42.9,
        "suite/tiny/average/f1": 50.9,
    }


def test_a_missing_dataset_leaves_its_columns_and_the_average_empty(tmp_path):
    missing = DatasetRun("b", "missing", expected=["b.json", "b/test.txt"])
    run = SuiteRun(SUITE, tmp_path, "model", [scored("a", ner=(2, 1, 1)), missing])
    summary = suite_summary(run)
    assert summary["scores"] == {"a.ner": 66.7, "b.ner": None, "b.re": None, "average": None}
    assert summary["missing"] == ["b.ner", "b.re"]
    assert "suite/tiny/average/f1" not in suite_metrics(summary)
    markdown = render_markdown(summary)
    assert "| **this run** | **66.7** | **-** | **-** | **-** |" in markdown
    assert "Not scored (no file found): b.ner, b.re; the average needs every column." in markdown
    assert "| b | missing: one of b.json, b/test.txt | | | | | |" in markdown


def test_the_markdown_puts_the_paper_rows_above_this_run(complete):
    lines = render_markdown(suite_summary(complete)).splitlines()
    table = lines[lines.index("| Model | A | B NER | B RE | Average |") :][:4]
    assert table == [
        "| Model | A | B NER | B RE | Average |",
        "|---|---|---|---|---|",
        "| KnowCoder-7B (paper) | 60.3 | - | - | 50.0 |",
        "| **this run** | **66.7** | **40.0** | **46.2** | **50.9** |",
    ]
    assert "| b.re | 46.2 | 50.0 | 42.9 | 3 | 3 | 4 | 10 |" in lines
    assert "| a | a.json | instruction | 12 | misc: 2 | 1 | 10 |" in lines


def test_write_suite_report_writes_the_json_and_the_markdown(complete):
    summary = write_suite_report(complete)
    assert json.loads((complete.out_dir / "suite.json").read_text(encoding="utf-8")) == summary
    assert (complete.out_dir / "suite.md").read_text(encoding="utf-8") == render_markdown(summary)
