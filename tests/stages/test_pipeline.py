from __future__ import annotations

import pytest

from knowcoder.config import load_params
from knowcoder.errors import ConfigError
from knowcoder.stages import pipeline as stages
from knowcoder.stages.base import EvaluateInfo, NoInfo, Stage, StageContext, StageOutput, TrainInfo

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


def test_stamps_round_trip_with_each_stage_s_typed_info(params, tmp_path):
    output = StageOutput(
        "evaluate", "f", {"report": str(tmp_path)}, {"ner.f1": 0.5}, EvaluateInfo(["a"]), 2.5
    )
    stages.write_stamp(params, output)
    assert stages.read_stamp(params, "evaluate") == output
    assert stages.previous_output(params, "evaluate").info.suites == ["a"]
    trained = StageOutput("sft", "g", {}, {}, TrainInfo(resumed=True, resumed_from=4))
    stages.write_stamp(params, trained)
    assert stages.read_stamp(params, "sft").info == TrainInfo(resumed=True, resumed_from=4)


def test_a_stamp_with_unknown_info_keys_still_reads(params):
    """Keys a later version added are dropped, not fatal: a stamp is a cache, not a contract."""
    stamp = stages.stamp_path(params, "sft")
    stamp.parent.mkdir(parents=True)
    stamp.write_text(
        '{"stage": "sft", "fingerprint": "x", "outputs": {}, "metrics": {}, '
        '"info": {"resumed": false, "resumed_from": null, "new_key": 1}, "wall_s": 1.0}'
    )
    assert stages.read_stamp(params, "sft").info == TrainInfo()


# ---- the table ------------------------------------------------------------------------------
def test_every_stage_s_params_sections_exist(params):
    for name in stages.stage_names():
        sliced = stages.params_slice(params, name)
        assert set(sliced) == set(stages.get_stage(name).params)


def _out(stage):
    return StageOutput(stage, f"fp-{stage}")


def test_upstream_rules_name_what_each_stage_reads(params):
    outputs = {s: _out(s) for s in ("data", "corpus", "pretrain", "sft", "align", "evaluate")}

    def upstream(stage):
        return [o.stage for o in stages.get_stage(stage).upstream(outputs, params, [{"path": "x"}])]

    assert upstream("data") == ["versions"]
    assert upstream("corpus") == ["data"]
    assert upstream("pretrain") == ["corpus"]
    assert upstream("sft") == ["corpus", "pretrain"]
    assert upstream("align") == ["corpus", "sft"]
    assert upstream("evaluate") == ["data", "align"]
    assert upstream("register") == ["evaluate"]
    # a run that starts at sft after a pipeline without pretrain reads the corpus alone
    del outputs["pretrain"]
    assert upstream("sft") == ["corpus"]


def test_a_toy_stage_is_one_entry(params, tmp_path):
    """Adding a stage: one ``add_stage`` call; selection, fingerprints and stamps follow."""
    ran = []

    def run(context: StageContext) -> StageOutput[NoInfo]:
        ran.append(context.upstream[0].stage)
        path = tmp_path / "toy.txt"
        path.write_text("toy")
        return StageOutput("toy", context.fingerprint, {"toy": str(path)}, {"toy.rows": 1.0})

    stages.add_stage(
        Stage("toy", params=("corpus.seed",), upstream=stages.reads("corpus"), run=run), after="corpus"
    )
    try:
        assert stages.select_stages(params) == [
            "data", "corpus", "toy", "pretrain", "sft", "align", "evaluate", "register"
        ]  # fmt: skip
        assert stages.select_stages(params, start_at="toy", stop_after="toy") == ["toy"]
        changed = with_(params, "corpus.seed=99")
        assert stages.fingerprint("toy", params) != stages.fingerprint("toy", changed)
        with pytest.raises(ConfigError, match="already in the stage table"):
            stages.add_stage(stages.get_stage("toy"), after="data")
    finally:
        stages.remove_stage("toy")
    assert "toy" not in stages.select_stages(params)
