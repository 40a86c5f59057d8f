from __future__ import annotations

import json

import pytest

from knowcoder.artifacts import Layout
from knowcoder.data.jsonl import iter_jsonl
from knowcoder.stages.base import NoInfo, StageContext
from knowcoder.stages.corpus import build_corpus, run


@pytest.fixture
def params(prepared):
    return prepared


def test_corpora_are_built_from_the_train_split_with_reports(params):
    results = {stage: build_corpus(params, stage) for stage in ("pretrain", "sft", "align")}
    pretrain = [row for _, row in iter_jsonl(results["pretrain"].path)]
    assert {row["kind"] for row in pretrain} == {"class", "instance"}
    sft = [row for _, row in iter_jsonl(results["sft"].path)]
    test_ids = {
        row["id"]
        for _, row in iter_jsonl(Layout(params).validated("sample-en"))
        if row.get("split") == "test"
    }
    assert not {row["id"].rsplit(":", 1)[0] for row in sft} & test_ids  # no test sentence leaks into training
    report = json.loads(results["sft"].path.with_suffix(".report.json").read_text())
    assert report["rows"] == len(sft) == report["examples"]
    align = [row for _, row in iter_jsonl(results["align"].path)]
    kinds = [row["kind"] for row in align]
    assert (
        kinds.count("alignment") == kinds.count("instruction") == 36
    )  # 18 train pairs x 2 directions, mix 1.0


def test_the_same_seed_builds_the_same_corpus(params):
    first = build_corpus(params, "sft").path.read_bytes()
    assert build_corpus(params, "sft").path.read_bytes() == first


def test_the_corpus_stage_builds_every_corpus_of_train_order_and_drops_a_stale_tiny_model(params):
    base = Layout(params).base_model
    base.mkdir(parents=True, exist_ok=True)
    (base / "config.json").write_text("{}")
    output = run(StageContext(params, "fp"))
    assert output.stage == "corpus" and output.fingerprint == "fp" and output.info == NoInfo()
    assert set(output.outputs) == {
        "pretrain",
        "sft",
        "align",
        "pretrain.report",
        "sft.report",
        "align.report",
    }
    for stage in ("pretrain", "sft", "align"):
        rows = sum(1 for _ in iter_jsonl(Layout(params).corpus(stage)))
        assert output.metrics[f"{stage}.rows"] == rows > 0
        assert json.loads(Layout(params).corpus_report(stage).read_text())["rows"] == rows
    assert not base.exists()  # its tokenizer was trained on the old corpora


def test_an_unknown_corpus_stage_is_a_one_line_error(params):
    from knowcoder.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown stage 'evaluate'; choose one of: pretrain, sft, align"):
        build_corpus(params, "evaluate")
