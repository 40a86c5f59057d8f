"""Prefect flow ``knowcoder-pipeline``: the stages of ``knowcoder.stages.pipeline.TABLE``, in order.

Only orchestration: data versions are checked first, then every selected stage runs as one cached
Prefect task (``stage``, run name = the stage), keyed on the stage's fingerprint so unchanged stages
are skipped; training stages retry from their last checkpoint. Tracking is one MLflow parent run
per flow run and one nested run per stage (``knowcoder.tracking.runs``), plus Prefect artifacts (a
metrics table and a link to the MLflow run). What a stage does, reads and logs is its table entry's.

Run it (ephemeral Prefect, SQLite MLflow, nothing to start first):  knowcoder pipeline
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.context import TaskRunContext
from prefect.runtime import flow_run

from knowcoder import console
from knowcoder.artifacts import Layout
from knowcoder.config import Params, load_params
from knowcoder.locking import one_pipeline_per_artifacts
from knowcoder.stages import pipeline as stages
from knowcoder.stages.base import LogContext, StageContext, StageOutput
from knowcoder.stages.evaluate import headline
from knowcoder.tracking import mlflow_io
from knowcoder.tracking.mlflow_io import Tracker
from knowcoder.tracking.runs import PipelineRuns, git_revision, log_schema, log_stage
from knowcoder.versioning import DataVersion

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

__all__ = ["git_revision", "pipeline_flow"]


def _stage_key(context: TaskRunContext, arguments: dict[str, Any]) -> str | None:
    """Cache key: the stage and its fingerprint (None when caching is off)."""
    if not arguments["params"]["pipeline"]["cache"]:
        return None
    return f"knowcoder-{arguments['stage']}-{arguments['fingerprint']}"


@task(name="version-data")
def version_data(params: dict[str, Any], record: bool) -> list[dict[str, Any]]:
    """Pull missing inputs from the DVC remote, check them against their recorded versions."""
    from knowcoder.versioning import check_versioned

    config = Params.model_validate(params)
    inputs = [*config.paths.raw, config.paths.parallel, config.paths.ontology]
    return [v.to_dict() for v in check_versioned(inputs, record=record)]


@task(name="stage", cache_key_fn=_stage_key, persist_result=True, result_serializer="json")
def run_stage(
    params: dict[str, Any], stage: str, fingerprint: str, context: dict[str, Any]
) -> dict[str, Any]:
    """One stage of the table: run it, stamp its output, hand the output on (JSON, cached)."""
    config = Params.model_validate(params)
    output = stages.get_stage(stage).run(
        StageContext(
            params=config,
            fingerprint=fingerprint,
            upstream=[stages.output_from_dict(item) for item in context["upstream"]],
            earlier={name: stages.output_from_dict(item) for name, item in context["earlier"].items()},
            versions=context["versions"],
            run_id=context["run_id"],
            parent_run_id=context["parent_run_id"],
            tags=context["tags"],
        )
    )
    stages.write_stamp(config, output)
    return output.to_dict()


def _call(options: dict[str, Any], tree: dict[str, Any], stage: str, fingerprint: str, context: dict) -> Any:
    """Run one stage's task; return its output and whether it came from the cache."""
    state = run_stage.with_options(**options)(tree, stage, fingerprint, context, return_state=True)
    result = state.result()  # raises the task's exception when it failed
    return stages.output_from_dict(result), state.name == "Cached"


@flow(name="knowcoder-pipeline", log_prints=True)
@one_pipeline_per_artifacts  # a second pipeline on the same artifacts fails at once; cleans up after a kill
def pipeline_flow(
    params_path: str = "params.yaml",
    profile: str | None = None,
    overrides: list[str] | None = None,
    start_at: str | None = None,
    stop_after: str | None = None,
    skip_align: bool = False,
    version_data_changes: bool = False,
) -> dict[str, Any]:
    """Run the pipeline's selected stages; return each stage's output and where to look."""
    logger = get_run_logger()
    started = time.perf_counter()
    params = load_params(params_path, profile=profile, overrides=overrides or [])
    pipeline_order = stages.select_stages(params, skip_align=skip_align)
    selected = stages.select_stages(params, start_at=start_at, stop_after=stop_after, skip_align=skip_align)
    console.current().begin(selected)
    tree = params.model_dump(mode="json")
    commit, dirty = git_revision(Path(params_path).resolve().parent)
    base_tags = {
        "git.commit": commit,
        "git.dirty": str(dirty).lower(),
        "params.hash": params.digest(),
        "params.profile": params.profile,
        "prefect.flow_run_id": str(flow_run.get_id() or ""),
        "prefect.flow_run_name": str(flow_run.get_name() or ""),
    }
    base_tags |= mlflow_io.source_tags(commit, "knowcoder pipeline (flows/pipeline.py)")
    runs = PipelineRuns(params, {**base_tags, "pipeline.stages": ",".join(selected)}, flow_run.get_name())
    runs.parent.params(mlflow_io.flat_params(params))
    logger.info("MLflow run: %s", runs.url)
    storage = Layout(params).prefect_cache.resolve()
    outputs: dict[str, StageOutput[Any]] = {}
    cached_stages: set[str] = set()
    current: Tracker | None = None
    try:
        versions = version_data(tree, version_data_changes)
        data_versions = [DataVersion(**row) for row in versions]
        runs.parent.tags(mlflow_io.data_tags(data_versions))
        runs.parent.datasets(data_versions, context="training")
        for name in pipeline_order:
            if name not in selected:
                if pipeline_order.index(name) > pipeline_order.index(selected[-1]):
                    break
                outputs[name] = stages.previous_output(params, name)  # before start_at: as recorded
                continue
            stage = stages.get_stage(name)
            upstream = stage.upstream(outputs, params, versions)
            extra = stage.fingerprint_extra(params) if stage.fingerprint_extra else None
            fingerprint = stages.fingerprint(name, params, [o.fingerprint for o in upstream], extra=extra)
            current = runs.nested(name, {**base_tags, "fingerprint": fingerprint})
            console.current().stage_started(name)
            options: dict[str, Any] = {
                "result_storage": storage,
                "refresh_cache": not stages.is_complete(params, name, fingerprint),
                "task_run_name": name,
            }
            if stage.trained:
                options |= {
                    "retries": params.pipeline.train_retries,
                    "retry_delay_seconds": params.pipeline.retry_delay_s,
                }
            context = {
                "upstream": [o.to_dict() for o in upstream],
                "earlier": {k: o.to_dict() for k, o in outputs.items()},
                "versions": versions,
                "run_id": current.run_id,
                "parent_run_id": runs.parent.run_id,
                "tags": base_tags,
            }
            output, cached = _call(options, tree, name, fingerprint, context)
            if cached and stage.still_valid is not None and not stage.still_valid(params, output):
                logger.warning("%s: the cached output no longer holds; running the stage again", name)
                options["refresh_cache"] = True
                output, cached = _call(options, tree, name, fingerprint, context)
            outputs[name] = output
            if cached:
                cached_stages.add(name)
            log_stage(current, stages.params_slice(params, name), output, cached)
            if stage.log is not None:
                stage.log(LogContext(current, runs.parent, params, data_versions), output)
            runs.finish(current, "FINISHED")
            current = None
            took = f"cached (ran {output.wall_s:.1f}s before)" if cached else f"done in {output.wall_s:.1f}s"
            logger.info("%s: %s", name, took)
            console.current().stage_finished(name, output.wall_s, cached)
        log_schema(runs.parent, params)
    except BaseException:
        if current is not None:
            runs.finish(current, "FAILED")
        runs.finish(runs.parent, "FAILED")
        raise
    wall = time.perf_counter() - started
    stage_time = sum(o.wall_s for s, o in outputs.items() if s in selected)
    runs.parent.metrics({"pipeline.wall_s": wall, "pipeline.overhead_s": wall - stage_time})
    runs.finish(runs.parent, "FINISHED")
    summary = _summary(params, selected, outputs, runs, wall)
    for name in selected:
        summary["stages"][name]["cached"] = name in cached_stages
    if "evaluate" in outputs:
        create_markdown_artifact(
            markdown=_metrics_markdown(outputs["evaluate"].metrics, params.evaluation.tasks, runs.url)
            + ("\n" + outputs["register"].info.table if "register" in outputs else ""),
            key="knowcoder-metrics",
            description="Evaluation of this pipeline run",
        )
    create_link_artifact(link=runs.url, link_text="MLflow run", key="knowcoder-mlflow-run")
    return summary


def _metrics_markdown(metrics: dict[str, float], tasks: list[str], run_url: str) -> str:
    langs = sorted(
        {k.split(".")[2] for k in metrics if k.count(".") == 3 and ".lang." in k and k.endswith(".f1")}
    )
    lines = [
        "| task | F1 | " + " | ".join(f"F1 {lang}" for lang in langs) + " |",
        "|---|---:|" + "---:|" * len(langs),
    ]
    for name in tasks:
        key = f"{name}.f1"
        cells = [f"{metrics.get(f'{name}.lang.{lang}.f1', float('nan')):.4f}" for lang in langs]
        lines.append(f"| {name} | {metrics.get(key, float('nan')):.4f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + f"\n\nMLflow run: {run_url}\n"


def _summary(
    params: Params, selected: list[str], outputs: dict[str, StageOutput[Any]], runs: PipelineRuns, wall: float
) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "stages": {
            s: {"wall_s": round(outputs[s].wall_s, 2), "fingerprint": outputs[s].fingerprint}
            for s in selected
        },
        "wall_s": round(wall, 2),
        "mlflow_run": runs.url,
        "mlflow_ui": mlflow_io.ui_command(params.tracking),
        "run_id": runs.parent.run_id,
        "experiment_id": runs.experiment_id,
    }
    if "evaluate" in outputs:
        summary["metrics"] = {
            k: round(v, 4) for k, v in headline(outputs["evaluate"].metrics).items() if k.count(".") == 1
        }
    if "register" in outputs:
        info = outputs["register"].info
        summary["registry"] = {
            "name": info.name,
            "version": info.version,
            "uri": info.uri,
            "champion": info.champion,
        }
        summary["promotion"] = info.decision["reason"]
    return summary


logging.getLogger("mlflow").setLevel(logging.WARNING)

if __name__ == "__main__":
    print(pipeline_flow())
