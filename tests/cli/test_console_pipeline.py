"""`knowcoder pipeline` (smoke profile) as a script runs it: output to files, not a terminal.

The console has the stage lines and the summary table only; what the libraries print is in the
log file; ``--verbose`` gives the libraries their console back.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from ..conftest import REPO, pipeline_space

pytestmark = pytest.mark.slow
STAGES = ("data", "corpus", "pretrain", "sft", "align", "evaluate", "register")
#: what the console showed before: Hugging Face log dicts, datasets' bars, Python warnings
NOISE = re.compile(r"\{'loss'|\{\"loss\"|'train_runtime'|Generating train split|UserWarning")


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    return pipeline_space(tmp_path_factory.mktemp("console"))


def pipeline(space, name: str, *argv: str) -> subprocess.CompletedProcess:
    """``knowcoder [argv] pipeline ...`` with stdout and stderr in files (neither is a terminal)."""
    args = ["--profile", "smoke"]
    for override in space["overrides"]:
        args += ["--set", override]
    command = [sys.executable, "-m", "knowcoder.cli.main", *args, *argv]
    out, err = space["root"] / f"{name}.stdout", space["root"] / f"{name}.stderr"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        process = subprocess.Popen(
            command, cwd=REPO, env=space["env"], stdout=stdout, stderr=stderr, start_new_session=True
        )
        try:
            process.wait(timeout=500)
        finally:
            with contextlib.suppress(ProcessLookupError):  # the temporary Prefect server, if left
                os.killpg(process.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(command, process.returncode, out.read_text(), err.read_text())


@pytest.fixture(scope="module")
def quiet(space):
    done = pipeline(space, "quiet", "pipeline")
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def verbose(space, quiet):
    # one training stage again, enough for the Trainer's own output
    done = pipeline(
        space,
        "verbose",
        "--verbose",
        "pipeline",
        "--start-at",
        "pretrain",
        "--stop-after",
        "pretrain",
        "--no-cache",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def log_file(done: subprocess.CompletedProcess) -> Path:
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("Log:")]
    return Path(line.split(None, 1)[1])


def test_the_console_has_no_library_output(quiet):
    noisy = [line for line in (quiet.stdout + quiet.stderr).splitlines() if NOISE.search(line)]
    assert noisy == []
    assert "INFO" not in quiet.stderr  # Prefect's INFO lines went to the file


def test_a_line_when_each_stage_starts_and_ends(quiet):
    for index, stage in enumerate(STAGES, 1):
        label = rf"\[{index}/7\] {stage} *"
        assert re.search(rf"^\d\d:\d\d:\d\d {label}started$", quiet.stderr, re.M), stage
        assert re.search(rf"^\d\d:\d\d:\d\d {label}done in [\dhms.]+$", quiet.stderr, re.M), stage
    # training reports its steps (2 in the smoke profile: a line at 50%, with the loss of that step)
    assert re.search(r"\[3/7\] pretrain  step 1/2 \(50%\)  loss \d\.\d{4}  eta ", quiet.stderr)


def test_the_summary_table_names_every_stage_and_where_to_look(quiet):
    summary = quiet.stderr[quiet.stderr.index("Pipeline finished in") :]
    for stage in STAGES:
        assert re.search(rf"^  {stage} +done in [\dhms.]+$", summary, re.M), stage
    assert re.search(r"^  ner +\d\.\d{3} ", summary, re.M)
    assert re.search(r"^Model: +models:/knowcoder-ie/1 \(version 1, @champion; ", summary, re.M)
    assert re.search(r"^Report: +.*evaluation/.+/report\.html$", summary, re.M)
    assert re.search(r"^MLflow: +mlflow ui --backend-store-uri sqlite:///", summary, re.M)
    # and stdout stays the JSON summary that scripts read
    assert set(json.loads(quiet.stdout)["stages"]) == set(STAGES)


def test_the_log_file_has_the_library_output_and_goes_to_the_mlflow_run(space, quiet):
    path = log_file(quiet)
    assert path.parent == space["root"] / "artifacts" / "logs" and path.name.startswith("pipeline-")
    text = path.read_text(encoding="utf-8")
    assert re.search(r"prefect.flow_runs '[a-z-]+': Beginning flow run", text)  # Prefect's INFO lines
    assert "'train_runtime'" in text and "'loss'" in text  # the Trainer's log dicts
    assert "UserWarning" in text  # Python warnings
    assert "Successfully registered model 'knowcoder-ie'" in text  # what MLflow prints
    run_id = json.loads(quiet.stdout)["run_id"]
    mlflow.set_tracking_uri(f"sqlite:///{space['root'] / 'mlflow.db'}")
    logs = [a.path for a in mlflow.MlflowClient().list_artifacts(run_id, "logs")]
    assert logs == [f"logs/{path.name}"]


def test_verbose_gives_the_libraries_their_console_back(verbose):
    assert re.search(r"^\{'loss': ", verbose.stdout, re.M)
    assert "'train_runtime'" in verbose.stdout
    assert "Pipeline finished in" not in verbose.stderr
