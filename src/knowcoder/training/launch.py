"""Several GPUs for one training stage: torchrun or the DeepSpeed launcher around ``knowcoder train``.

Every rank runs ``python -m knowcoder.cli.main --params FILE --profile NAME train --stage X`` with
the resolved parameters written to FILE, so all ranks train with the values the caller holds,
``--set`` overrides included. Only rank 0 writes the model and logs to MLflow: the parent hands
the MLflow run id to the ranks in ``KNOWCODER_MLFLOW_RUN_ID`` and ``knowcoder train`` attaches the
training curves to that run (:func:`curves_from_env`), which log on the world's rank 0 only.
"""

from __future__ import annotations

import collections
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, get_args

import yaml

from knowcoder.config import Params, StageName
from knowcoder.errors import KnowCoderError

#: the environment variable that carries the MLflow run id from the launching process to every rank
RUN_ID_ENV = "KNOWCODER_MLFLOW_RUN_ID"
#: the command-line entry every rank runs
ENTRY_MODULE = "knowcoder.cli.main"
STAGES: tuple[str, ...] = get_args(StageName)


class DistributedTrainingError(KnowCoderError):
    """A multi-GPU training launch could not start or one of its ranks failed."""


def launch_command(
    params: Params,
    stage: str,
    *,
    nproc: int,
    params_file: str | Path = "params.yaml",
    python: str = sys.executable,
    master_port: int | None = None,
    fresh: bool = False,
) -> list[str]:
    """The command that trains ``stage`` on ``nproc`` local GPUs (torchrun, or DeepSpeed's launcher).

    ``params_file`` is read by every rank with ``--profile params.profile``; :func:`run_distributed`
    writes the resolved parameters there. ``master_port`` pins DeepSpeed's rendezvous port (torchrun
    runs ``--standalone`` and picks a free one itself).
    """
    if stage not in STAGES:
        raise DistributedTrainingError(f"stage: unknown stage {stage!r}; choose one of {', '.join(STAGES)}")
    if nproc < 1:
        raise DistributedTrainingError(f"nproc: must be at least 1, got {nproc}; pass the GPUs per run")
    train_args = ["--params", str(params_file), "--profile", params.profile, "train", "--stage", stage]
    if fresh:
        train_args.append("--fresh")
    if params.train.deepspeed is None:
        # python -m torch.distributed.run is torchrun, from the same interpreter (no PATH lookup)
        launcher = [python, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)]
        return [*launcher, "-m", ENTRY_MODULE, *train_args]
    # the deepspeed script installed beside this interpreter; --no_local_rank: the CLI takes no
    # --local_rank argument (ranks read LOCAL_RANK from the environment, as under torchrun)
    launcher = [str(Path(python).with_name("deepspeed")), "--num_gpus", str(nproc)]
    if master_port is not None:
        launcher += ["--master_port", str(master_port)]
    return [*launcher, "--module", "--no_local_rank", ENTRY_MODULE, *train_args]


def resolved_params_yaml(params: Params) -> str:
    """``params`` as a parameter file whose only profile (``params.profile``) resolves to exactly them.

    Its paths are already resolved against the launcher's working directory, which the ranks share,
    so the file says so (``paths_relative_to: cwd``) wherever it is written.
    """
    tree = params.model_dump(mode="json")
    document = {
        "profile": params.profile,
        "paths_relative_to": "cwd",
        "base": tree,
        "profiles": {params.profile: {}},
    }
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def rank_env(run_id: str | None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of the launcher: ``base`` (default: this process's) plus the MLflow run id."""
    env = dict(os.environ if base is None else base)
    env.pop(RUN_ID_ENV, None)
    if run_id:
        env[RUN_ID_ENV] = run_id
        if "MLFLOW_TRACKING_URI" not in env:  # the flow set its store in-process; the ranks need it too
            import mlflow

            env["MLFLOW_TRACKING_URI"] = mlflow.get_tracking_uri()
    return env


def curves_from_env() -> list[Any] | None:
    """The training-curve callback for the run named in ``KNOWCODER_MLFLOW_RUN_ID`` (None when unset)."""
    run_id = os.environ.get(RUN_ID_ENV)
    if not run_id:
        return None
    from knowcoder.tracking.mlflow_io import TrainingCurves

    return [TrainingCurves(run_id)]  # logs on the world's rank 0 only


def mlflow_run_id(callbacks: Sequence[Any] | None) -> str | None:
    """The run id of the first training-curve callback in ``callbacks``, to hand on to the ranks."""
    from knowcoder.tracking.mlflow_io import TrainingCurves

    for callback in callbacks or ():
        if isinstance(callback, TrainingCurves):
            return callback.tracker.run_id
    return None


def cuda_device_count() -> int:
    """CUDA devices visible here (0 without CUDA)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def check_launchable(params: Params, nproc: int, *, devices: int, python: str = sys.executable) -> None:
    """Raise a one-line error when ``nproc`` ranks cannot start here."""
    if devices < nproc:
        raise DistributedTrainingError(
            f"deployment.gpus_per_run: {nproc} GPUs asked, {devices} CUDA device(s) visible; "
            "lower deployment.gpus_per_run or run on a worker with more GPUs"
        )
    if params.train.deepspeed is not None:
        if not Path(params.train.deepspeed).is_file():
            raise DistributedTrainingError(
                f"train.deepspeed: no such file {params.train.deepspeed}; name a config in infra/deepspeed/"
            )
        if importlib.util.find_spec("deepspeed") is None or not Path(python).with_name("deepspeed").exists():
            raise DistributedTrainingError(
                "train.deepspeed: DeepSpeed is not installed; install the extra "
                "(pip install -c constraints.txt '.[deepspeed]') or set train.deepspeed=null for torchrun"
            )


def free_port() -> int:
    """A TCP port free on this machine right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_distributed(
    params: Params,
    stage: str,
    *,
    nproc: int,
    run_id: str | None = None,
    fresh: bool = False,
    devices: int | None = None,
) -> Any:
    """Train ``stage`` on ``nproc`` local GPUs in a subprocess; return its ``StageResult`` from disk.

    The launcher's output streams through; a failure raises :class:`DistributedTrainingError` with
    the exit status and the last line the ranks wrote.
    """
    from knowcoder.artifacts import Layout
    from knowcoder.training.trainer import StageResult

    check_launchable(params, nproc, devices=cuda_device_count() if devices is None else devices)
    with tempfile.TemporaryDirectory(prefix="knowcoder-launch-") as scratch:
        params_file = Path(scratch) / "params.yaml"
        params_file.write_text(resolved_params_yaml(params), encoding="utf-8")
        command = launch_command(
            params, stage, nproc=nproc, params_file=params_file, master_port=free_port(), fresh=fresh
        )
        code, last = _stream(command, rank_env(run_id))
    if code != 0:
        launcher = "deepspeed" if params.train.deepspeed else "torchrun"
        raise DistributedTrainingError(
            f"train.{stage}: {launcher} on {nproc} GPUs exited with status {code}"
            + (f" ({last})" if last else "")
            + "; see the ranks' log above"
        )
    layout = Layout(params)
    model_dir, metrics_path = layout.model(stage), layout.model_metrics(stage)
    if not metrics_path.is_file():
        raise DistributedTrainingError(
            f"train.{stage}: the ranks finished but rank 0 wrote no {metrics_path}; see the ranks' log above"
        )
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    return StageResult(stage, model_dir, metrics_path, metrics)


def _stream(command: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ``command`` with its output passed through to stderr; return its status and the reason it gave."""
    tail: collections.deque[str] = collections.deque(maxlen=200)
    try:
        process = subprocess.Popen(  # noqa: S603 - a command built by launch_command, no shell
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
    except OSError as error:
        raise DistributedTrainingError(f"cannot start {command[0]}: {error.strerror}") from error
    assert process.stdout is not None
    with process:
        for line in process.stdout:
            sys.stderr.write(line)
            if any(char.isalnum() for char in line):
                tail.append(" ".join(line.split()))
    return process.returncode, failure_reason(list(tail))


def failure_reason(lines: Sequence[str]) -> str:
    """The line of a failed launch that says why: a rank's ``knowcoder: error:`` line, else the last line."""
    for line in reversed(lines):
        if line.startswith("knowcoder: error:"):
            return line
    return lines[-1] if lines else ""
