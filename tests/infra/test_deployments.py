"""Prefect deployments built from the parameters (not applied) and the `knowcoder deploy`/`serve` commands."""

from __future__ import annotations

import json

import pytest

from knowcoder.cli import deploy as deploy_cli
from knowcoder.cli import main as cli_main
from knowcoder.config import load_params
from knowcoder.errors import ConfigError

from ..conftest import REPO

OVERRIDES = [
    "deployment.retrain_cron=30 2 * * 1",
    "deployment.timezone=Europe/Berlin",
    "deployment.retrain_concurrency=2",
    "deployment.gpu_pool=a100",
    "deployment.evaluate_pool=ci",
]


@pytest.fixture(scope="module")
def params():
    return load_params(REPO / "params.yaml", profile="smoke", overrides=OVERRIDES)


@pytest.fixture(scope="module")
def built(params):
    from flows.deployments import build_deployments, describe

    return {d.name: describe(d) for d in build_deployments(params, source_dir=REPO)}


@pytest.fixture
def knowcoder(monkeypatch):
    """``knowcoder`` with the deploy/serve commands, whether or not main.py registers them yet."""
    if deploy_cli not in cli_main.COMMAND_GROUPS:
        monkeypatch.setattr(cli_main, "COMMAND_GROUPS", (*cli_main.COMMAND_GROUPS, deploy_cli))
    monkeypatch.chdir(REPO)
    return cli_main.main


def test_retrain_runs_the_pipeline_on_the_gpu_pool_on_the_cron_schedule(built):
    retrain = built["retrain"]
    assert retrain["name"] == "knowcoder-pipeline/retrain"
    assert retrain["entrypoint"] == "flows/pipeline.py:pipeline_flow"
    assert retrain["work_pool"] == "a100"
    assert retrain["schedules"] == [{"cron": "30 2 * * 1", "timezone": "Europe/Berlin", "active": True}]
    assert retrain["parameters"] == {"params_path": "params.yaml", "profile": "7b"}


def test_two_retrainings_never_share_a_slot_the_extra_one_waits(built):
    assert built["retrain"]["concurrency_limit"] == 2
    assert built["retrain"]["collision_strategy"] == "ENQUEUE"


def test_evaluate_runs_on_demand_on_the_evaluation_pool(built):
    evaluate = built["evaluate"]
    assert evaluate["name"] == "knowcoder-evaluate/evaluate"
    assert evaluate["entrypoint"] == "flows/evaluate.py:evaluate_flow"
    assert (evaluate["work_pool"], evaluate["schedules"], evaluate["concurrency_limit"]) == ("ci", [], None)


def test_workers_start_each_run_in_the_source_folder(built):
    step = {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}
    assert built["retrain"]["pull_steps"] == [step] and built["evaluate"]["pull_steps"] == [step]


def test_one_deployment_by_name_and_an_unknown_name(params):
    from flows.deployments import build_deployments

    (only,) = build_deployments(params, source_dir=REPO, names=["evaluate"], params_path="conf/team.yaml")
    assert (
        only.full_name == "knowcoder-evaluate/evaluate" and only.parameters["params_path"] == "conf/team.yaml"
    )
    with pytest.raises(
        ConfigError, match=r"^--only: unknown deployment 'train'; choose from retrain, evaluate$"
    ):
        build_deployments(params, source_dir=REPO, names=["train"])


def test_a_source_without_the_flows_is_refused(params, tmp_path):
    from flows.deployments import build_deployments

    with pytest.raises(ConfigError) as caught:
        build_deployments(params, source_dir=tmp_path)
    assert str(caught.value) == (
        f"--source: {tmp_path} has no flows/pipeline.py; pass the repository root or its git URL"
    )


def test_deploying_without_a_prefect_api_is_refused(params):
    from flows.deployments import deploy
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(restore_defaults={PREFECT_API_URL}), pytest.raises(ConfigError) as caught:
        deploy(params, source_dir=REPO)
    assert str(caught.value).startswith(
        "PREFECT_API_URL: not set, so deployments would go to a temporary server"
    )


def test_deploy_dry_run_prints_the_deployments_as_json(knowcoder, built, capsys):
    argv = [
        "--profile",
        "smoke",
        *[arg for item in OVERRIDES for arg in ("--set", item)],
        "deploy",
        "--dry-run",
    ]
    assert knowcoder(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == [built["retrain"], built["evaluate"]]


def test_serve_with_a_missing_model_exits_1_with_one_line(knowcoder, capsys, tmp_path):
    assert knowcoder(["serve", "--model", str(tmp_path / "gone")]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"knowcoder: error: --model: no such model folder '{tmp_path / 'gone'}'; "
        "pass a logged model folder or models:/NAME@ALIAS\n"
    )
