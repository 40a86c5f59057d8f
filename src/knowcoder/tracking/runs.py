"""The MLflow runs of one pipeline: a parent run, one nested run per stage, and what goes on them.

The flow opens a :class:`PipelineRuns`, logs each stage's params, tags and metrics with
:func:`log_stage` (then the stage's own hook from the stage table), and ends every run it opened:
FINISHED, or FAILED when the flow fails. :func:`log_schema` puts the rendered schema code of every
class on the parent run, as the model sees it in prompts.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from knowcoder.config import Params
from knowcoder.tracking import mlflow_io
from knowcoder.tracking.mlflow_io import Tracker


def git_revision(root: Path) -> tuple[str, bool]:
    """The commit checked out and whether the tree has uncommitted changes ('unknown' outside git)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],  # noqa: S607 - git from PATH, fixed arguments
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],  # noqa: S607 - as above
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown", False
    return head, bool(status.strip())


class PipelineRuns:
    """The parent MLflow run of a pipeline and its nested stage runs."""

    def __init__(self, params: Params, tags: Mapping[str, str], name: str | None = None) -> None:
        import mlflow

        self.experiment_id = mlflow_io.configure(params.tracking)
        self.client = mlflow.MlflowClient()
        name = f"pipeline-{name or time.strftime('%Y%m%d-%H%M%S')}"
        run = self.client.create_run(self.experiment_id, run_name=name, tags=dict(tags))
        self.parent = Tracker(run.info.run_id)
        self.url = mlflow_io.run_url(params.tracking, self.experiment_id, run.info.run_id)

    def nested(self, stage: str, tags: Mapping[str, str]) -> Tracker:
        tags = {"mlflow.parentRunId": self.parent.run_id, "stage": stage, **tags}
        run = self.client.create_run(self.experiment_id, run_name=stage, tags=tags)
        return Tracker(run.info.run_id)

    def finish(self, tracker: Tracker, status: str) -> None:
        self.client.set_terminated(tracker.run_id, status)


def log_stage(tracker: Tracker, params_slice: Mapping[str, Any], output: Any, cached: bool) -> None:
    """What every stage run gets: its parameter slice, fingerprint and cache tags, metrics and wall time."""
    tracker.params(mlflow_io.encode_params(params_slice))
    tracker.tags({"fingerprint": output.fingerprint, "cached": str(cached).lower()})
    tracker.metrics({**output.metrics, "stage.wall_s": output.wall_s})


def log_schema(tracker: Tracker, params: Params) -> None:
    """The rendered schema code of every class per task, as the model sees it in prompts."""
    from knowcoder.schema.ontology import load_ontology
    from knowcoder.schema.render import SchemaOptions, render_schema
    from knowcoder.tasks import TASKS

    ontology = load_ontology(params.paths.ontology)
    prompt = params.prompt
    options = SchemaOptions(prompt.style, prompt.lang, prompt.descriptions, prompt.max_examples)
    for task in TASKS.values():  # one file per kind of class: the task that writes its class documents
        if task.writes_class_documents:
            names = [name for kind in task.schema_kinds for name in ontology.names(kind)]
            tracker.text(render_schema(ontology, names, task.name, options), f"schema/{task.name}.py")
