from __future__ import annotations

import pytest

from knowcoder.artifacts import Layout
from knowcoder.errors import ConfigError
from knowcoder.stages.train import prepare_checkpoints, run_training, stage_init


@pytest.fixture
def params(prepared):
    return prepared


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


def test_checkpoints_survive_a_retry_with_the_same_fingerprint_but_not_a_changed_stage(tmp_path):
    from knowcoder.config import load_params

    from ..conftest import REPO

    params = load_params(REPO / "params.yaml", overrides=[f"paths.artifacts={tmp_path}"])
    folder = Layout(params).checkpoints("sft")
    assert prepare_checkpoints(params, "sft", "one") is False
    assert Layout(params).checkpoint_marker("sft").read_text() == "one\n"
    (folder / "checkpoint-4").mkdir()
    assert prepare_checkpoints(params, "sft", "one") is True  # a retry: resume from checkpoint-4
    assert (folder / "checkpoint-4").is_dir()
    assert prepare_checkpoints(params, "sft", "two") is False  # changed params: start fresh
    assert not (folder / "checkpoint-4").exists()
