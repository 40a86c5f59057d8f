"""Two pipelines on one checkout, a full disk, a read-only disk: one line, nothing half-written."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from knowcoder.locking import PipelineBusyError, PipelineLock

from ..conftest import REPO

pytestmark = pytest.mark.fault

HOLD = textwrap.dedent(
    """
    import sys, time
    from knowcoder.locking import PipelineLock
    lock = PipelineLock(sys.argv[1])
    lock.acquire(flow_run_id="flow-1")
    print("held", flush=True)
    time.sleep(120)
    """
)


def hold_lock_in_child(artifacts: Path) -> subprocess.Popen:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(artifacts)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert child.stdout.readline().strip() == "held"
    return child


def test_a_second_pipeline_on_the_same_artifacts_fails_at_once_naming_the_first(tmp_path):
    # given a pipeline (another process) holding the artifacts folder
    holder = hold_lock_in_child(tmp_path / "artifacts")
    try:
        # when a second one starts on the same folder, then it stops with one line naming the first
        with pytest.raises(PipelineBusyError) as error:
            PipelineLock(tmp_path / "artifacts").acquire()
        message = str(error.value)
        assert f"another pipeline (pid {holder.pid} on " in message and "\n" not in message
        assert "--set paths.artifacts=OTHER_DIR" in message
        # and a pipeline on its own folder is not held up
        other = PipelineLock(tmp_path / "other")
        assert other.acquire() is None
        other.release()
    finally:
        holder.kill()
        holder.wait()


def test_the_flow_takes_the_lock_before_doing_anything(tmp_path):
    from flows.pipeline import pipeline_flow

    artifacts = tmp_path / "artifacts"
    holder = hold_lock_in_child(artifacts)
    try:
        with pytest.raises(PipelineBusyError, match=r"^another pipeline \(pid \d+ on "):
            pipeline_flow.fn(
                params_path=str(REPO / "params.yaml"),
                profile="smoke",
                overrides=[f"paths.artifacts={artifacts}", f"tracking.uri=sqlite:///{tmp_path / 'x.db'}"],
            )
        assert sorted(p.name for p in artifacts.iterdir()) == [".pipeline.lock"]
        assert not (tmp_path / "x.db").exists()
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_holder_frees_the_lock_and_its_successor_learns_of_the_kill(tmp_path):
    holder = hold_lock_in_child(tmp_path)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    lock = PipelineLock(tmp_path)
    killed = lock.acquire(flow_run_id="flow-2")
    assert killed is not None and killed["pid"] == holder.pid and killed["flow_run_id"] == "flow-1"
    lock.release()
    # a holder that finished normally leaves nothing to clean up
    assert PipelineLock(tmp_path).acquire() is None


# ---- full and read-only disks -----------------------------------------------------------------
def data_prepare(artifacts: Path, home: Path, *, fsize: int | None = None, read_only: bool = False):
    def limits() -> None:
        if fsize is not None:  # writes past this size fail with EFBIG, as on a full disk
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "KNOWCODER_LOG_DIR": str(home / "logs"),
        "XDG_CACHE_HOME": str(home / "cache"),
    }
    command = [sys.executable, "-m", "knowcoder.cli.main", "--profile", "smoke"]
    command += ["--set", f"paths.artifacts={artifacts}", "data", "prepare"]
    if read_only and os.geteuid() == 0:
        # root writes through file modes: mount the folder read-only in a private mount namespace
        mount = f"mount --bind {artifacts} {artifacts} && mount -o remount,bind,ro {artifacts}"
        command = ["unshare", "-m", "sh", "-c", f'{mount} && exec "$@"', "sh", *command]
    elif read_only:
        artifacts.chmod(0o555)
    return subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, preexec_fn=limits, timeout=300
    )


def assert_nothing_half_written(artifacts: Path) -> None:
    files = [p for p in artifacts.rglob("*") if p.is_file()]
    assert [p for p in files if p.name.endswith(".tmp")] == []  # no temporary file left behind
    for path in files:
        if path.suffix == ".jsonl":
            for line in path.read_text(encoding="utf-8").splitlines():
                json.loads(line)  # every line whole
        elif path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))


def test_a_full_disk_ends_in_one_line_with_nothing_half_written(tmp_path):
    artifacts = tmp_path / "artifacts"
    result = data_prepare(artifacts, tmp_path, fsize=20_000)  # the synthetic data file is ~25 KB
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert line.startswith("knowcoder: error: cannot write: File too large; make room")
    assert "Traceback" not in result.stderr
    assert_nothing_half_written(artifacts)


def test_a_read_only_artifacts_folder_ends_in_one_line_with_nothing_written(tmp_path):
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    result = data_prepare(artifacts, tmp_path, read_only=True)
    assert result.returncode == 1, result.stderr[-2000:]
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert line.startswith("knowcoder: error: cannot write: ")
    assert "Read-only file system" in line or "Permission denied" in line
    assert "Traceback" not in result.stderr
    assert list(artifacts.iterdir()) == []
