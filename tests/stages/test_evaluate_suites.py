"""The pipeline's evaluate stage: the headline suite (held-out synthetic sentences) and report suites."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from knowcoder.artifacts import Layout
from knowcoder.cli.main import main
from knowcoder.config import load_params
from knowcoder.data.jsonl import read_instances, write_instances
from knowcoder.data.synth import synthesize
from knowcoder.errors import ConfigError
from knowcoder.modeling.tiny import build_tiny_model, save_model_dir
from knowcoder.modeling.tokenizer import train_tokenizer
from knowcoder.schema.ontology import load_ontology
from knowcoder.stages.base import StageContext, StageOutput
from knowcoder.stages.evaluate import run as run_evaluate

from ..conftest import REPO

SAMPLE = {"sample-en": REPO / "data/raw/sample/en.jsonl", "sample-zh": REPO / "data/raw/sample/zh.jsonl"}


def smoke(tmp_path: Path, *overrides: str):
    return load_params(
        REPO / "params.yaml",
        profile="smoke",
        overrides=[f"paths.artifacts={tmp_path}", "evaluation.max_new_tokens=6", *overrides],
    )


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-layer random Llama: its scores are noise, which suites it scores and where is what is checked."""
    texts = [i.text for path in SAMPLE.values() for i in read_instances(path)] + ["results = []"]
    tokenizer = train_tokenizer(texts, vocab_size=300, min_frequency=1)
    model = build_tiny_model(tokenizer, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)
    return save_model_dir(model, tokenizer, tmp_path_factory.mktemp("eval-model") / "model")


def test_the_headline_suite_is_the_held_out_synthetic_test_split() -> None:
    params = load_params(REPO / "params.yaml")
    assert params.evaluation.suite == "heldout" and params.evaluation.report_suites == ["sample-test"]
    heldout = params.evaluation.resolve_suite()
    assert (heldout.data, heldout.split) == (["synth"], "test")
    sample = params.evaluation.resolve_suite("sample-test")
    assert (sample.data, sample.split) == (["sample-en", "sample-zh"], "test")
    # the default (tiny) profile: 200 test sentences, instance i in languages[i % 2]
    assert params.data.synth.test == 200
    ontology = load_ontology(params.paths.ontology)
    test = list(synthesize(ontology, counts={"test": 200}, languages=params.data.synth.languages))
    assert Counter(i.lang for i in test) == {"en": 100, "zh": 100}


@pytest.mark.parametrize("name", ["no-such-suite", "heldout"])
def test_a_report_suite_must_be_another_defined_suite(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=f"evaluation.report_suites.*'{name}' is not a suite"):
        smoke(tmp_path, f"evaluation.report_suites=[{name}]")


def test_the_stage_scores_each_suite_into_its_own_folder(tmp_path: Path, tiny_model: Path) -> None:
    params = smoke(tmp_path, "evaluation.tasks=[ner, re]")
    layout = Layout(params)
    ontology = load_ontology(params.paths.ontology)
    synth = synthesize(ontology, counts={"train": 3, "test": 4}, languages=["en", "zh"])
    write_instances(layout.validated("synth"), synth)
    for name, path in SAMPLE.items():
        write_instances(layout.validated(name), read_instances(path))

    model = StageOutput("align", "fp-align", {"model": str(tiny_model)})
    output = run_evaluate(StageContext(params, "fp", upstream=[StageOutput("data", "fp-data"), model]))

    root = tmp_path / "evaluation"
    for suite in ("heldout", "sample-test"):
        assert {"headline.json", "metrics.json", "predictions.jsonl", "report.md"} <= {
            p.name for p in (root / suite).iterdir()
        }
    assert output.outputs["report"] == str(root / "heldout")
    assert output.outputs["report.sample-test"] == str(root / "sample-test")
    assert output.info.suites == ["heldout", "sample-test"]
    metrics = output.metrics
    # the headline suite under today's names: the 4 test sentences, not the 3 train ones
    assert metrics["ner.instances"] == 4 and metrics["ner.lang.zh.instances"] == 2
    assert {"ner.f1", "ner.f1_ci_low", "ner.f1_ci_high", "ner.lang.en.f1_ci_low", "re.f1"} <= set(metrics)
    assert metrics["ner.f1_ci_low"] <= metrics["ner.f1"] <= metrics["ner.f1_ci_high"]
    # the report suite's headline metrics, prefixed: the 12 sample test sentences, 6 per language
    assert metrics["sample-test.ner.instances"] == 12 and metrics["sample-test.re.lang.en.instances"] == 6
    assert {"sample-test.ner.f1_ci_low", "sample-test.parse.ner.outputs"} <= set(metrics)
    assert not any(k.startswith("sample-test.") and ".classification." in k for k in metrics)
    assert "eae.f1" not in metrics  # evaluation.tasks holds for every suite without its own tasks
    headline = json.loads((root / "sample-test" / "headline.json").read_text())
    assert headline["ner.f1"] == metrics["sample-test.ner.f1"]
    rows = [json.loads(line) for line in (root / "heldout" / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 4 and all(r["id"].startswith("synth-") for r in rows)


def test_the_cli_scores_a_suite_into_the_pipeline_s_folder(tmp_path: Path, tiny_model: Path, capsys) -> None:
    """``knowcoder evaluate --suite`` and the pipeline's stage: the same folder, the same numbers."""
    params = smoke(tmp_path, "evaluation.tasks=[ner]")
    layout = Layout(params)
    for name, path in SAMPLE.items():
        write_instances(layout.validated(name), read_instances(path))
    common = [
        "--profile",
        "smoke",
        "--set",
        f"paths.artifacts={tmp_path}",
        "--set",
        "evaluation.max_new_tokens=6",
    ]
    common += ["--set", "evaluation.tasks=[ner]"]
    assert main([*common, "evaluate", "--model", str(tiny_model), "--suite", "sample-test"]) == 0
    printed = json.loads(capsys.readouterr().out)
    folder = layout.evaluation("sample-test")
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["ner.instances"] == 12  # the suite's data and split: the 12 test sentences
    assert printed["ner.f1"] == round(metrics["ner.f1"], 4)
    assert main([*common, "evaluate", "--model", str(tiny_model), "--suite", "nope"]) == 1
    assert "unknown evaluation suite 'nope'" in capsys.readouterr().err
