"""SIGKILL `knowcoder pipeline` mid-stage and mid-registration, then rerun it (smoke profile).

The rerun completes, reuses the stages that had finished, resumes training from its last
checkpoint, leaves no MLflow run RUNNING and no half-registered model version.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys

import mlflow
import pytest

from ..conftest import REPO, pipeline_space

pytestmark = [pytest.mark.fault, pytest.mark.slow]
NAME = "knowcoder-ie"


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    return pipeline_space(tmp_path_factory.mktemp("pipeline-kills"))


def pipeline(space, fault: str | None = None) -> subprocess.CompletedProcess:
    """Run the pipeline in its own process group; after a kill, reap what it started."""
    args = ["--profile", "smoke"]
    for override in space["overrides"]:
        args += ["--set", override]
    args.append("pipeline")
    command = [sys.executable, "-m", "knowcoder.cli.main", *args]
    if fault is not None:
        command = [sys.executable, "-m", "tests.faults.inject", fault, "--", *args]
    out, err = space["root"] / "stdout.txt", space["root"] / "stderr.txt"
    # files, not pipes: the ephemeral Prefect server outlives a killed parent and would hold a pipe
    with open(out, "w") as stdout, open(err, "w") as stderr:
        process = subprocess.Popen(
            command, cwd=REPO, env=space["env"], stdout=stdout, stderr=stderr, start_new_session=True
        )
        try:
            process.wait(timeout=400)
        finally:
            with contextlib.suppress(ProcessLookupError):  # the whole group: the server it started
                os.killpg(process.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(command, process.returncode, out.read_text(), err.read_text())


def client(space):
    uri = f"sqlite:///{space['root'] / 'mlflow.db'}"  # named here: the process-wide URI stays as it was
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def runs(space, status: str | None = None):
    found = client(space).search_runs(
        [client(space).get_experiment_by_name("knowcoder").experiment_id],
        filter_string=f"attributes.status = '{status}'" if status else "",
        max_results=1000,
    )
    return found


def versions(space):
    return client(space).search_model_versions(f"name = '{NAME}'")


def stamps(space) -> set[str]:
    return {p.stem for p in (space["root"] / "artifacts" / "stamps").glob("*.json")}


@pytest.fixture(scope="module")
def killed_in_sft(space):
    result = pipeline(space, "train:sft:2")
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    return result


@pytest.fixture(scope="module")
def killed_in_register(space, killed_in_sft):
    result = pipeline(space, "register")
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    return result


@pytest.fixture(scope="module")
def completed(space, killed_in_register):
    result = pipeline(space)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_a_kill_in_training_leaves_finished_stages_and_a_checkpoint(space, killed_in_sft):
    assert {"data", "corpus", "pretrain"} <= stamps(space) and "sft" not in stamps(space)
    assert (space["root"] / "artifacts" / "checkpoints" / "sft" / "checkpoint-1").is_dir()
    assert not (space["root"] / "artifacts" / "models" / "sft").exists()
    assert {r.info.run_name for r in runs(space, "RUNNING")} >= {"sft"}  # what a kill leaves


def test_the_rerun_after_a_kill_in_training_resumes_and_a_kill_in_registration_leaves_a_half_version(
    space, killed_in_register
):
    # the second run reused data, corpus and pretrain, resumed sft from checkpoint-1 and was then
    # killed between registering a version and giving it its aliases
    sft = json.loads((space["root"] / "artifacts" / "stamps" / "sft.json").read_text())
    assert sft["info"]["resumed_from"].endswith("checkpoint-1")
    (half,) = versions(space)
    assert not half.aliases
    assert "register" not in stamps(space)


def test_the_final_rerun_completes_skips_finished_stages_and_leaves_nothing_half_done(space, completed):
    stages = completed["stages"]
    assert all(stages[s]["cached"] for s in ("data", "corpus", "pretrain", "sft", "align", "evaluate"))
    assert not stages["register"]["cached"]
    # no MLflow run is left RUNNING: what the kills interrupted is marked KILLED
    assert runs(space, "RUNNING") == []
    killed = [r.info.run_name for r in runs(space, "KILLED")]
    assert {"sft", "register"} <= set(killed) and any(name.startswith("pipeline-") for name in killed)
    # the half-registered version 1 is gone; the one registered now is whole
    (version,) = versions(space)
    assert str(version.version) == completed["registry"]["version"] == "2"
    whole = client(space).get_model_version(NAME, version.version)
    assert "challenger" in whole.aliases and "promotion.decision" in whole.tags
