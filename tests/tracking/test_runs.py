"""A pipeline's MLflow runs against a real SQLite store: parent, nested stage runs, what goes on them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import mlflow
import pytest

from knowcoder.config import load_params
from knowcoder.stages.base import StageOutput
from knowcoder.tracking.runs import PipelineRuns, git_revision, log_schema, log_stage

from ..conftest import REPO


@pytest.fixture
def params(tmp_path):
    previous = mlflow.get_tracking_uri()
    yield load_params(
        REPO / "params.yaml",
        overrides=[
            f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
            f"tracking.artifact_location={tmp_path / 'mlartifacts'}",
        ],
    )
    mlflow.set_tracking_uri(previous)


def test_a_parent_run_with_nested_stage_runs_each_ended_by_the_caller(params):
    runs = PipelineRuns(params, {"git.commit": "abc"}, name="flow-1")
    stage = runs.nested("sft", {"fingerprint": "fp"})
    client = mlflow.MlflowClient()
    parent = client.get_run(runs.parent.run_id)
    assert parent.info.run_name == "pipeline-flow-1" and parent.info.status == "RUNNING"
    child = client.get_run(stage.run_id)
    assert child.data.tags["mlflow.parentRunId"] == runs.parent.run_id
    assert (child.data.tags["stage"], child.info.run_name) == ("sft", "sft")
    runs.finish(stage, "FINISHED")
    runs.finish(runs.parent, "FAILED")
    assert client.get_run(stage.run_id).info.status == "FINISHED"
    assert client.get_run(runs.parent.run_id).info.status == "FAILED"
    assert runs.url.endswith(f"/runs/{runs.parent.run_id}")


def test_every_stage_run_gets_its_params_fingerprint_cache_flag_and_wall_time(params):
    runs = PipelineRuns(params, {})
    tracker = runs.nested("sft", {})
    output = StageOutput("sft", "fp-1", {}, {"train.loss": 0.5}, wall_s=3.0)
    log_stage(tracker, {"train.sft": {"max_steps": 2}}, output, cached=True)
    run = mlflow.MlflowClient().get_run(tracker.run_id)
    assert run.data.params["train.sft.max_steps"] == "2"
    assert (run.data.tags["fingerprint"], run.data.tags["cached"]) == ("fp-1", "true")
    assert run.data.metrics == {"train/loss": 0.5, "stage/wall_s": 3.0}


def test_the_schema_of_each_task_goes_on_the_parent_as_python(params, tmp_path):
    runs = PipelineRuns(params, {})
    log_schema(runs.parent, params)
    client = mlflow.MlflowClient()
    names = {a.path for a in client.list_artifacts(runs.parent.run_id, "schema")}
    assert names == {"schema/ner.py", "schema/re.py", "schema/eae.py"}
    code = client.download_artifacts(runs.parent.run_id, "schema/ner.py", str(tmp_path))
    text = Path(code).read_text(encoding="utf-8")
    assert "class Person(" in text and "class Entity" in text


def test_git_revision_names_the_commit_and_whether_the_tree_is_dirty(tmp_path):
    assert git_revision(tmp_path) == ("unknown", False)  # not a repository
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "a.txt").write_text("a")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "a.txt"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "a"], check=True)
    head = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert git_revision(tmp_path) == (head, False)
    (tmp_path / "a.txt").write_text("b")
    assert git_revision(tmp_path) == (head, True)
