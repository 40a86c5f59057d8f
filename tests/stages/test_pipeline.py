from __future__ import annotations

import pytest

from knowcoder.config import load_params
from knowcoder.errors import ConfigError
from knowcoder.stages import pipeline as stages
from knowcoder.stages.pipeline import StageOutput

from ..conftest import REPO


@pytest.fixture
def params(tmp_path):
    return load_params(REPO / "params.yaml", overrides=[f"paths.artifacts={tmp_path}"])


def with_(params, *overrides):
    return load_params(
        REPO / "params.yaml", overrides=[f"paths.artifacts={params.paths.artifacts}", *overrides]
    )


# ---- selection ------------------------------------------------------------------------------
def test_all_stages_run_by_default(params):
    assert stages.select_stages(params) == [
        "data",
        "corpus",
        "pretrain",
        "sft",
        "align",
        "evaluate",
        "register",
    ]


def test_start_at_stop_after_and_skip_align_cut_the_chain(params):
    assert stages.select_stages(params, start_at="sft", stop_after="evaluate") == ["sft", "align", "evaluate"]
    assert stages.select_stages(params, start_at="sft", skip_align=True) == ["sft", "evaluate", "register"]
    assert stages.select_stages(params, stop_after="corpus") == ["data", "corpus"]


def test_training_stages_follow_train_order(params):
    order = with_(params, "train.order=[sft]")
    assert stages.select_stages(order) == ["data", "corpus", "sft", "evaluate", "register"]
    with pytest.raises(ConfigError, match="not part of this pipeline"):
        stages.select_stages(order, start_at="pretrain")


@pytest.mark.parametrize(
    ("start_at", "stop_after", "message"),
    [("train", None, "unknown stage 'train'"), ("evaluate", "sft", "comes after")],
)
def test_bad_selections_are_one_line_errors(params, start_at, stop_after, message):
    with pytest.raises(ConfigError, match=message):
        stages.select_stages(params, start_at=start_at, stop_after=stop_after)


# ---- fingerprints ---------------------------------------------------------------------------
def test_a_stage_fingerprint_changes_with_its_own_params_only(params):
    changed = with_(params, "train.sft.learning_rate=0.01")
    assert stages.fingerprint("sft", params, ["up"]) != stages.fingerprint("sft", changed, ["up"])
    assert stages.fingerprint("pretrain", params, ["up"]) == stages.fingerprint("pretrain", changed, ["up"])
    assert stages.fingerprint("evaluate", params, ["up"]) == stages.fingerprint("evaluate", changed, ["up"])


def test_a_stage_fingerprint_changes_with_its_upstream(params):
    assert stages.fingerprint("corpus", params, ["a"]) != stages.fingerprint("corpus", params, ["b"])


def test_evaluation_settings_do_not_invalidate_training(params):
    changed = with_(params, "evaluation.max_new_tokens=32")
    for stage in ("data", "corpus", "pretrain", "sft", "align"):
        assert stages.fingerprint(stage, params) == stages.fingerprint(stage, changed)
    assert stages.fingerprint("evaluate", params) != stages.fingerprint("evaluate", changed)


# ---- stamps ---------------------------------------------------------------------------------
def test_a_stage_is_complete_only_with_its_fingerprint_and_all_outputs_present(params, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    stages.write_stamp(params, StageOutput("sft", "abc", {"model": str(model)}, {"loss": 1.0}))
    assert stages.is_complete(params, "sft", "abc")
    assert not stages.is_complete(params, "sft", "other")
    model.rmdir()
    assert not stages.is_complete(params, "sft", "abc")
    with pytest.raises(ConfigError, match="start the pipeline at 'sft' or earlier"):
        stages.previous_output(params, "sft")


def test_stamps_round_trip(params, tmp_path):
    output = StageOutput("evaluate", "f", {"report": str(tmp_path)}, {"ner.f1": 0.5}, {"x": [1]}, 2.5)
    stages.write_stamp(params, output)
    assert stages.read_stamp(params, "evaluate") == output
    assert stages.previous_output(params, "evaluate") == output


# ---- checkpoints ----------------------------------------------------------------------------
def test_checkpoints_survive_a_retry_with_the_same_fingerprint_but_not_a_changed_stage(params):
    from knowcoder.stages.train import Layout

    folder = Layout(params).checkpoints("sft")
    assert stages.prepare_checkpoints(params, "sft", "one") is False
    (folder / "checkpoint-4").mkdir()
    assert stages.prepare_checkpoints(params, "sft", "one") is True  # a retry: resume from checkpoint-4
    assert (folder / "checkpoint-4").is_dir()
    assert stages.prepare_checkpoints(params, "sft", "two") is False  # changed params: start fresh
    assert not (folder / "checkpoint-4").exists()
