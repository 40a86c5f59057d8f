"""Multi-GPU launch: the exact torchrun / DeepSpeed commands, the resolved parameter file, the checks."""

from __future__ import annotations

import pytest

from knowcoder.config import load_params
from knowcoder.errors import KnowCoderError
from knowcoder.training import launch
from knowcoder.training.launch import (
    RUN_ID_ENV,
    DistributedTrainingError,
    check_launchable,
    curves_from_env,
    failure_reason,
    launch_command,
    rank_env,
    resolved_params_yaml,
    run_distributed,
)

from ..conftest import REPO

PYTHON = "/opt/venv/bin/python"


@pytest.fixture(scope="module")
def smoke():
    return load_params(REPO / "params.yaml", profile="smoke")


@pytest.fixture(scope="module")
def seven_b():
    return load_params(REPO / "params.yaml", profile="7b")


def test_without_deepspeed_every_rank_starts_under_torchrun(smoke):
    assert smoke.train.deepspeed is None
    command = launch_command(smoke, "sft", nproc=4, params_file="/tmp/run/params.yaml", python=PYTHON)
    assert command == [
        PYTHON, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "4",
        "-m", "knowcoder.cli.main",
        "--params", "/tmp/run/params.yaml", "--profile", "smoke", "train", "--stage", "sft",
    ]  # fmt: skip


def test_torchrun_ignores_the_master_port_and_passes_fresh(smoke):
    command = launch_command(smoke, "pretrain", nproc=2, python=PYTHON, master_port=29600, fresh=True)
    assert "29600" not in command  # --standalone picks its own rendezvous port
    assert command[-6:] == ["--profile", "smoke", "train", "--stage", "pretrain", "--fresh"]
    assert command[command.index("--params") + 1] == "params.yaml"


def test_with_a_deepspeed_config_the_deepspeed_launcher_runs_the_cli_as_a_module(seven_b):
    assert seven_b.train.deepspeed == "infra/deepspeed/zero2.json"
    command = launch_command(
        seven_b, "align", nproc=8, params_file="p.yaml", python=PYTHON, master_port=29601
    )
    assert command == [
        "/opt/venv/bin/deepspeed", "--num_gpus", "8", "--master_port", "29601",
        "--module", "--no_local_rank", "knowcoder.cli.main",
        "--params", "p.yaml", "--profile", "7b", "train", "--stage", "align",
    ]  # fmt: skip


def test_deepspeed_without_a_port_leaves_the_launcher_default(seven_b):
    command = launch_command(seven_b, "sft", nproc=2, python=PYTHON)
    assert command[:5] == ["/opt/venv/bin/deepspeed", "--num_gpus", "2", "--module", "--no_local_rank"]


@pytest.mark.parametrize(
    ("stage", "nproc", "message"),
    [
        ("evaluate", 2, "stage: unknown stage 'evaluate'; choose one of pretrain, sft, align"),
        ("sft", 0, "nproc: must be at least 1, got 0; pass the GPUs per run"),
    ],
)
def test_a_bad_stage_or_rank_count_is_refused(smoke, stage, nproc, message):
    with pytest.raises(DistributedTrainingError) as caught:
        launch_command(smoke, stage, nproc=nproc)
    assert str(caught.value) == message


def test_the_resolved_file_gives_every_rank_the_callers_parameters(tmp_path):
    params = load_params(REPO / "params.yaml", profile="smoke", overrides=["train.sft.learning_rate=0.002"])
    path = tmp_path / "params.yaml"
    path.write_text(resolved_params_yaml(params), encoding="utf-8")
    again = load_params(path, profile=params.profile)
    assert again == params and again.digest() == params.digest()
    assert again.train.sft.learning_rate == 0.002


def test_the_run_id_and_its_store_reach_the_ranks_and_a_stale_one_does_not(monkeypatch):
    import mlflow

    monkeypatch.setattr(mlflow, "get_tracking_uri", lambda: "sqlite:///runs.db")  # set in-process by the flow
    assert rank_env("abc123", {"PATH": "/bin"}) == {
        "PATH": "/bin",
        RUN_ID_ENV: "abc123",
        "MLFLOW_TRACKING_URI": "sqlite:///runs.db",
    }
    given = {"PATH": "/bin", "MLFLOW_TRACKING_URI": "http://mlflow:5000"}
    assert rank_env("abc123", given)["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"  # an explicit store wins
    assert rank_env(None, {"PATH": "/bin", RUN_ID_ENV: "old"}) == {"PATH": "/bin"}


def test_ranks_log_curves_only_when_given_a_run_id(monkeypatch, tmp_path):
    from knowcoder.tracking.mlflow_io import TrainingCurves

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.delenv(RUN_ID_ENV, raising=False)
    assert curves_from_env() is None
    monkeypatch.setenv(RUN_ID_ENV, "run-7")
    (callback,) = curves_from_env() or []
    assert isinstance(callback, TrainingCurves) and callback.tracker.run_id == "run-7"
    assert launch.mlflow_run_id([object(), callback]) == "run-7"
    assert launch.mlflow_run_id(None) is None


def test_too_few_gpus_is_a_one_line_error_with_the_fix(smoke):
    with pytest.raises(DistributedTrainingError) as caught:
        check_launchable(smoke, 4, devices=1)
    assert str(caught.value) == (
        "deployment.gpus_per_run: 4 GPUs asked, 1 CUDA device(s) visible; "
        "lower deployment.gpus_per_run or run on a worker with more GPUs"
    )
    assert isinstance(caught.value, KnowCoderError)


def test_deepspeed_must_be_installed_and_its_config_present(seven_b, tmp_path):
    missing = seven_b.model_copy(
        update={"train": seven_b.train.model_copy(update={"deepspeed": str(tmp_path / "none.json")})}
    )
    with pytest.raises(DistributedTrainingError, match=r"^train.deepspeed: no such file .*none.json; name a"):
        check_launchable(missing, 2, devices=2)
    config = tmp_path / "zero2.json"
    config.write_text("{}")
    present = seven_b.model_copy(
        update={"train": seven_b.train.model_copy(update={"deepspeed": str(config)})}
    )
    with pytest.raises(DistributedTrainingError, match=r"DeepSpeed is not installed; install the extra"):
        check_launchable(present, 2, devices=2, python=str(tmp_path / "bin" / "python"))


def test_the_reason_of_a_failure_is_the_ranks_error_line_when_there_is_one():
    lines = ["step 1", "knowcoder: error: --stage: corpus missing", "ChildFailedError:", "rank: 0"]
    assert failure_reason(lines) == "knowcoder: error: --stage: corpus missing"
    assert failure_reason(["Traceback", "RuntimeError: NCCL timeout"]) == "RuntimeError: NCCL timeout"
    assert failure_reason([]) == ""


@pytest.mark.slow
def test_a_failing_rank_surfaces_as_one_line_naming_the_stage(tmp_path, monkeypatch, smoke):
    """A real torchrun with one CPU rank whose stage has no corpus: the rank's own error comes back."""
    params = smoke.model_copy(update={"paths": smoke.paths.model_copy(update={"artifacts": str(tmp_path)})})
    monkeypatch.chdir(REPO)
    with pytest.raises(DistributedTrainingError) as caught:
        run_distributed(params, "sft", nproc=1, devices=1)
    message = str(caught.value)
    assert message.startswith(
        "train.sft: torchrun on 1 GPUs exited with status 1 (knowcoder: error: --stage: "
    )
    assert "corpus/sft.jsonl does not exist; run `knowcoder corpus --stage sft` first" in message
    assert message.endswith("; see the ranks' log above") and "\n" not in message
