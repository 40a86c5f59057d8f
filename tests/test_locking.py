"""The artifacts lock in one process (flock is per open file), and the clean-up after a killed run."""

from __future__ import annotations

import json
import os
import socket

import mlflow
import pytest

from knowcoder.config import TrackingConfig
from knowcoder.locking import (
    LOCK_NAME,
    PipelineBusyError,
    PipelineLock,
    close_killed_runs,
    delete_half_registered,
)
from knowcoder.tracking import mlflow_io


def _record(artifacts) -> dict:
    return json.loads((artifacts / LOCK_NAME).read_text())


def test_acquire_writes_who_holds_it_and_release_marks_it_finished(tmp_path):
    artifacts = tmp_path / "artifacts"
    lock = PipelineLock(artifacts)
    assert lock.acquire(flow_run_id="f-1") is None  # a fresh folder: no killed predecessor
    held = _record(artifacts)
    assert held["pid"] == os.getpid()
    assert held["host"] == socket.gethostname()
    assert held["state"] == "running"
    assert held["flow_run_id"] == "f-1"
    lock.note(mlflow_run="r-9")
    assert _record(artifacts)["mlflow_run"] == "r-9"
    lock.release()
    assert _record(artifacts)["state"] == "finished"
    lock.release()  # a second release is a no-op
    assert _record(artifacts)["state"] == "finished"


def test_a_second_holder_is_refused_with_the_first_ones_pid_and_the_way_out(tmp_path):
    with PipelineLock(tmp_path) as first:
        with pytest.raises(PipelineBusyError) as caught:
            PipelineLock(tmp_path).acquire()
        message = str(caught.value)
        assert f"pid {os.getpid()} on {socket.gethostname()}, since {first.record['started']}" in message
        assert message.endswith("--set paths.artifacts=OTHER_DIR")
        assert first.record["state"] == "running"
    # released on leaving the block: the next one takes it and finds nobody killed
    successor = PipelineLock(tmp_path)
    assert successor.acquire() is None
    successor.release()


def test_a_record_left_running_is_handed_to_the_next_holder(tmp_path):
    # what a SIGKILLed holder leaves: the kernel dropped the flock, the file still says running
    left = {"pid": 4242, "host": "elsewhere", "started": "2026-01-02T03:04:05", "state": "running"}
    (tmp_path / LOCK_NAME).write_text(json.dumps(left) + "\n")
    lock = PipelineLock(tmp_path)
    assert lock.acquire(flow_run_id="f-2") == left
    assert _record(tmp_path)["flow_run_id"] == "f-2"  # overwritten, not appended
    lock.release()


def test_an_unreadable_record_counts_as_no_predecessor(tmp_path):
    (tmp_path / LOCK_NAME).write_text("not json")
    lock = PipelineLock(tmp_path)
    assert lock.acquire() is None
    assert _record(tmp_path)["state"] == "running"
    lock.release()


@pytest.fixture
def tracking(tmp_path):
    previous = mlflow.get_tracking_uri()
    config = TrackingConfig(
        uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_location=str(tmp_path / "mlartifacts")
    )
    try:
        yield config, mlflow_io.configure(config)
    finally:
        mlflow.set_tracking_uri(previous)


def test_close_killed_runs_ends_only_the_running_runs_of_that_flow_run(tracking):
    config, experiment = tracking
    client = mlflow.MlflowClient()
    running = client.create_run(experiment, tags={"prefect.flow_run_id": "dead"}).info.run_id
    finished = client.create_run(experiment, tags={"prefect.flow_run_id": "dead"}).info.run_id
    client.set_terminated(finished)
    other = client.create_run(experiment, tags={"prefect.flow_run_id": "alive"}).info.run_id

    closed, runs = close_killed_runs("dead", config)

    assert closed == [running]
    assert sorted(runs) == sorted([running, finished])
    assert client.get_run(running).info.status == "KILLED"
    assert client.get_run(finished).info.status == "FINISHED"
    assert client.get_run(other).info.status == "RUNNING"


def test_delete_half_registered_keeps_the_version_the_stamp_records(tracking):
    _, experiment = tracking
    client = mlflow.MlflowClient()
    client.create_registered_model("ie")
    client.create_registered_model("other")
    killed = client.create_run(experiment).info.run_id
    survivor = client.create_run(experiment).info.run_id
    source = client.get_run(killed).info.artifact_uri
    v1 = client.create_model_version("ie", source, run_id=killed).version  # whole: the stamp has it
    v2 = client.create_model_version("ie", source, run_id=killed).version  # half-way
    client.create_model_version("other", source, run_id=killed)  # another model: not ours to delete
    client.create_model_version("ie", source, run_id=survivor)  # a run that was not killed

    deleted = delete_half_registered([killed], "ie", registered=str(v1))

    assert deleted == [str(v2)]
    assert sorted(int(v.version) for v in client.search_model_versions("name = 'ie'")) == [1, 3]
    assert len(client.search_model_versions("name = 'other'")) == 1
