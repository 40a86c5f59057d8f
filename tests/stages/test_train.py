from __future__ import annotations

import json

import pytest

from knowcoder.config import load_params
from knowcoder.data.jsonl import iter_jsonl
from knowcoder.errors import ConfigError
from knowcoder.stages.data import prepare_data
from knowcoder.stages.train import Layout, build_corpus, ensure_base_model, run_training, stage_init

from ..conftest import REPO


@pytest.fixture(scope="module")
def params(tmp_path_factory):
    root = tmp_path_factory.mktemp("stage")
    params = load_params(
        REPO / "params.yaml",
        overrides=[
            f"paths.ontology={REPO / 'data/ontology.yaml'}",
            f"paths.raw=[{REPO / 'data/raw/sample/en.jsonl'}, {REPO / 'data/raw/sample/zh.jsonl'}]",
            f"paths.parallel={REPO / 'data/raw/parallel/en_zh.jsonl'}",
            f"paths.artifacts={root}",
            "data.synth.train=60",
            "data.synth.dev=4",
            "data.synth.test=4",
            "model.tiny.vocab_size=400",
            "model.tiny.hidden_size=32",
            "model.tiny.num_layers=1",
            "model.tiny.num_heads=2",
            "model.tiny.intermediate_size=64",
        ],
    )
    prepare_data(params)
    return params


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


def test_later_stages_need_the_earlier_ones(params):
    with pytest.raises(ConfigError, match=r"stage 'sft' starts from .*models/pretrain, which does not exist"):
        stage_init(params, "sft")
    reordered = params.model_copy(
        update={"train": params.train.model_copy(update={"order": ["pretrain", "sft"]})}
    )
    with pytest.raises(ConfigError, match=r"stage 'align' is not in train.order"):
        stage_init(reordered, "align")


def test_training_needs_its_corpus(params, tmp_path):
    empty = params.model_copy(update={"paths": params.paths.model_copy(update={"artifacts": str(tmp_path)})})
    with pytest.raises(
        ConfigError, match=r"corpus/sft.jsonl does not exist; run `knowcoder corpus --stage sft`"
    ):
        run_training(empty, "sft")


def test_tiny_base_model_is_built_once_from_the_corpora(params):
    build_corpus(params, "pretrain")
    base = ensure_base_model(params)
    config = json.loads((base / "config.json").read_text())
    assert config["hidden_size"] == 32 and config["vocab_size"] <= 400
    stamp = (base / "model.safetensors").stat().st_mtime_ns
    assert ensure_base_model(params) == base
    assert (base / "model.safetensors").stat().st_mtime_ns == stamp  # not rebuilt


def test_a_named_base_model_is_used_as_is(params):
    named = params.model_copy(update={"model": params.model.model_copy(update={"base": "org/some-model"})})
    assert ensure_base_model(named) == "org/some-model"
