"""One pipeline at a time per artifacts folder, and cleaning up after one that was killed.

Two pipelines writing the same ``paths.artifacts`` would overwrite each other's corpora,
checkpoints, stamps and task cache. :class:`PipelineLock` is an exclusive ``flock`` on
``<artifacts>/.pipeline.lock``: a second pipeline fails at once with a line naming the first
(its pid, host, start time) and the two ways out. The kernel drops the lock when its holder dies,
even by SIGKILL, so a crash never leaves a lock to delete by hand; the file's record then still
says ``running``, which is how the next holder learns that the previous run was killed and
which Prefect flow run it was (:func:`close_killed_runs` marks its MLflow runs KILLED).
"""

from __future__ import annotations

import fcntl
import functools
import inspect
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from knowcoder.artifacts import LOCK_NAME
from knowcoder.errors import KnowCoderError

log = logging.getLogger(__name__)


class PipelineBusyError(KnowCoderError):
    """Another pipeline holds the lock on the same artifacts folder."""


class PipelineLock:
    """An exclusive, crash-safe lock on an artifacts folder (see the module docstring)."""

    def __init__(self, artifacts: str | Path) -> None:
        self.artifacts = Path(artifacts)
        self.path = self.artifacts / LOCK_NAME
        self._fd: int | None = None
        self.record: dict[str, Any] = {}

    def acquire(self, **info: Any) -> dict[str, Any] | None:
        """Take the lock and note ``info`` in it; return the record of a holder that died holding it.

        Raises :class:`PipelineBusyError` when a live process holds it.
        """
        self.artifacts.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            pid, host, since = (holder.get(key, "?") for key in ("pid", "host", "started"))
            who = f"pid {pid} on {host}, since {since}"
            raise PipelineBusyError(
                f"another pipeline ({who}) is running with its artifacts in {self.artifacts}; wait for it "
                "to finish, or give this one its own folder: --set paths.artifacts=OTHER_DIR"
            ) from None
        previous = _read(fd)
        self._fd = fd
        self.record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "state": "running",
            **info,
        }
        self._write()
        return previous if previous.get("state") == "running" else None

    def note(self, **info: Any) -> None:
        """Add ``info`` to the record (for instance the MLflow run once it exists)."""
        self.record.update(info)
        self._write()

    def release(self) -> None:
        if self._fd is None:
            return
        self.record["state"] = "finished"
        try:
            self._write()
        finally:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def _write(self) -> None:
        assert self._fd is not None
        data = (json.dumps(self.record) + "\n").encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def __enter__(self) -> PipelineLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read(fd: int) -> dict[str, Any]:
    try:
        record = json.loads(os.pread(fd, 1 << 16, 0).decode() or "{}")
    except (ValueError, OSError):
        return {}
    return record if isinstance(record, dict) else {}


def close_killed_runs(flow_run_id: str, tracking: Any) -> tuple[list[str], list[str]]:
    """Mark the MLflow runs a killed pipeline left RUNNING as KILLED.

    The runs are found by the ``prefect.flow_run_id`` tag that the pipeline puts on its parent and
    nested runs. Returns the ids of the runs closed and of all the pipeline's runs.
    """
    import mlflow

    from knowcoder.tracking import mlflow_io

    experiment_id = mlflow_io.configure(tracking)
    client = mlflow.MlflowClient()
    runs = client.search_runs(
        [experiment_id], filter_string=f"tags.`prefect.flow_run_id` = '{flow_run_id}'", max_results=1000
    )
    closed = []
    for run in runs:
        if run.info.status == "RUNNING":
            client.set_terminated(run.info.run_id, "KILLED")
            closed.append(run.info.run_id)
    return closed, [run.info.run_id for run in runs]


def delete_half_registered(run_ids: list[str], registry_name: str, registered: str | None) -> list[str]:
    """Delete the versions of ``registry_name`` that the killed runs ``run_ids`` registered half-way.

    ``registered`` is the version the register stage's stamp records (written once registration
    completed): that one is whole and stays.
    """
    import mlflow

    client = mlflow.MlflowClient()
    deleted = []
    for run_id in run_ids:
        for version in client.search_model_versions(f"run_id = '{run_id}'"):
            if version.name == registry_name and str(version.version) != str(registered):
                client.delete_model_version(version.name, version.version)
                deleted.append(str(version.version))
    return deleted


F = TypeVar("F", bound=Callable[..., Any])


def one_pipeline_per_artifacts(function: F) -> F:
    """Decorate the pipeline flow: hold its artifacts folder's lock while it runs.

    The flow's ``params_path``, ``profile`` and ``overrides`` arguments say which folder. After a
    killed run, the MLflow runs it left RUNNING are closed first and a warning says so.
    """
    signature = inspect.signature(function)

    @functools.wraps(function)
    def locked(*args: Any, **kwargs: Any) -> Any:
        from prefect.runtime import flow_run

        from knowcoder.config import load_params

        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        arguments = bound.arguments
        params = load_params(
            arguments["params_path"], profile=arguments["profile"], overrides=arguments["overrides"] or []
        )
        lock = PipelineLock(params.paths.artifacts)
        killed = lock.acquire(flow_run_id=str(flow_run.get_id() or ""))
        try:
            if killed is not None:
                from knowcoder.stages.pipeline import read_stamp

                flow_run_id = killed.get("flow_run_id")
                closed, all_runs = (
                    close_killed_runs(flow_run_id, params.tracking) if flow_run_id else ([], [])
                )
                stamp = read_stamp(params, "register")
                deleted = delete_half_registered(
                    all_runs, params.registry.name, stamp.info.version if stamp else None
                )
                log.warning(
                    "the previous pipeline in %s (pid %s, since %s) was killed; its finished stages are "
                    "reused, the others resume or start again; %d MLflow run(s) it left RUNNING are "
                    "now KILLED; half-registered versions deleted: %s",
                    lock.artifacts,
                    killed.get("pid"),
                    killed.get("started"),
                    len(closed),
                    ", ".join(deleted) or "none",
                )
            return function(*args, **kwargs)
        finally:
            lock.release()

    return locked  # type: ignore[return-value]
