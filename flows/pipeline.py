"""Prefect flow ``knowcoder-pipeline``: data → corpora → pretrain → sft → align → evaluate → register.

Thin: every step calls ``knowcoder.stages.pipeline``. What the flow adds is orchestration and
tracking: one MLflow parent run per flow run and one nested run per stage, a task cache keyed on
each stage's fingerprint (unchanged stages are skipped), retries that resume training from the
last checkpoint, and Prefect artifacts (a metrics table and a link to the MLflow run).

Run it (ephemeral Prefect, SQLite MLflow, nothing to start first):  knowcoder pipeline
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.context import TaskRunContext
from prefect.runtime import flow_run

from knowcoder import console
from knowcoder.config import Params, load_params
from knowcoder.locking import one_pipeline_per_artifacts
from knowcoder.stages import pipeline as stages
from knowcoder.stages.evaluate import headline
from knowcoder.stages.pipeline import StageOutput
from knowcoder.tracking import mlflow_io
from knowcoder.tracking.mlflow_io import Tracker

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def _stage_key(context: TaskRunContext, arguments: dict[str, Any]) -> str | None:
    """Cache key: the stage and its fingerprint (None when caching is off)."""
    if not arguments["params"]["pipeline"]["cache"]:
        return None
    return f"knowcoder-{arguments['stage']}-{arguments['fingerprint']}"


_CACHED: dict[str, Any] = {"cache_key_fn": _stage_key, "persist_result": True, "result_serializer": "json"}


@task(name="version-data")
def version_data(params: dict[str, Any], record: bool) -> list[dict[str, Any]]:
    """Pull missing inputs from the DVC remote, check them against their recorded versions."""
    from knowcoder.versioning import check_versioned

    config = Params.model_validate(params)
    inputs = [*config.paths.raw, config.paths.parallel, config.paths.ontology]
    return [v.to_dict() for v in check_versioned(inputs, record=record)]


@task(name="validate-data", **_CACHED)
def validate_data(params: dict[str, Any], stage: str, fingerprint: str, versions: list) -> dict[str, Any]:
    config = Params.model_validate(params)
    output = stages.run_data(config, fingerprint, versions)
    stages.write_stamp(config, output)
    return output.to_dict()


@task(name="build-corpus", **_CACHED)
def build_corpus(params: dict[str, Any], stage: str, fingerprint: str) -> dict[str, Any]:
    config = Params.model_validate(params)
    output = stages.run_corpus(config, fingerprint)
    stages.write_stamp(config, output)
    return output.to_dict()


@task(name="train", **_CACHED)
def train(params: dict[str, Any], stage: str, fingerprint: str, run_id: str | None) -> dict[str, Any]:
    """One training stage; a retry resumes from the stage's last checkpoint."""
    config = Params.model_validate(params)
    curves = [mlflow_io.TrainingCurves(run_id)] if run_id else []
    callbacks = [*curves, *console.training_callbacks()] or None
    output = stages.run_train(config, stage, fingerprint, callbacks=callbacks)
    stages.write_stamp(config, output)
    return output.to_dict()


@task(name="evaluate", **_CACHED)
def evaluate(params: dict[str, Any], stage: str, fingerprint: str, model_dir: str) -> dict[str, Any]:
    config = Params.model_validate(params)
    output = stages.run_evaluate(config, fingerprint, model_dir)
    stages.write_stamp(config, output)
    return output.to_dict()


@task(name="register", **_CACHED)
def register(
    params: dict[str, Any], stage: str, fingerprint: str, parent_run_id: str, evaluation: dict, tags: dict
) -> dict[str, Any]:
    """Log the model as a pyfunc on the parent run, register it, and apply the promotion gate."""
    from knowcoder.serving.predictor import ServingConfig
    from knowcoder.serving.pyfunc import log_pyfunc_model
    from knowcoder.tracking.registry import register_and_promote

    config = Params.model_validate(params)
    started = time.perf_counter()
    # logged on the parent run by id: only the flow ends that run (FINISHED, or FAILED on an error),
    # so a kill after this task leaves it RUNNING for the server to mark, never falsely FINISHED
    info = log_pyfunc_model(
        evaluation["outputs"]["model"],
        config.paths.ontology,
        ServingConfig.from_params(config).to_dict(),
        run_id=parent_run_id,
    )
    registration = register_and_promote(
        info.model_uri,
        run_id=parent_run_id,
        metrics=evaluation["metrics"],
        suite=config.evaluation.suite,
        config=config.registry,
        tags=tags,
    )
    output = StageOutput(
        "register",
        fingerprint,
        {},
        {
            "registry.version": float(registration.version),
            "registry.champion": float(registration.is_champion),
        },
        {
            "name": registration.name,
            "version": registration.version,
            "uri": registration.uri,
            "champion": registration.is_champion,
            "champion_before": registration.champion_before,
            "decision": registration.decision.to_dict(),
            "table": registration.decision.markdown(),
            "run_id": parent_run_id,
        },
        time.perf_counter() - started,
    )
    stages.write_stamp(config, output)
    return output.to_dict()


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


# ---- the flow ---------------------------------------------------------------------------
class _Runs:
    """The parent MLflow run and its nested stage runs."""

    def __init__(self, params: Params, tags: dict[str, str]) -> None:
        import mlflow

        self.experiment_id = mlflow_io.configure(params.tracking)
        self.client = mlflow.MlflowClient()
        name = f"pipeline-{flow_run.get_name() or time.strftime('%Y%m%d-%H%M%S')}"
        run = self.client.create_run(self.experiment_id, run_name=name, tags=tags)
        self.parent = Tracker(run.info.run_id)
        self.url = mlflow_io.run_url(params.tracking, self.experiment_id, run.info.run_id)

    def nested(self, stage: str, tags: dict[str, str]) -> Tracker:
        tags = {"mlflow.parentRunId": self.parent.run_id, "stage": stage, **tags}
        run = self.client.create_run(self.experiment_id, run_name=stage, tags=tags)
        return Tracker(run.info.run_id)

    def finish(self, tracker: Tracker, status: str) -> None:
        self.client.set_terminated(tracker.run_id, status)


def _log_stage(tracker: Tracker, params: Params, output: StageOutput, cached: bool) -> None:
    tracker.params(mlflow_io.encode_params(stages.params_slice(params, output.stage)))
    tracker.tags({"fingerprint": output.fingerprint, "cached": str(cached).lower()})
    tracker.metrics({**output.metrics, "stage.wall_s": output.wall_s})
    if output.stage == "data":
        summary = Path(output.info.get("summary", ""))
        tracker.artifact(summary)
        tracker.artifact(summary.with_name("sample_prompts.md"))
        for name, path in output.outputs.items():
            reports = Path(path).parent
            for report in ("report.md", "report.json"):
                tracker.artifact(reports / report, f"validation/{name}")
    elif output.stage == "corpus":
        for name, path in output.outputs.items():
            if name.endswith(".report"):
                tracker.artifact(path, "corpus")
    elif output.stage in ("pretrain", "sft", "align"):
        tracker.artifact(output.outputs["metrics"])
    elif output.stage == "evaluate":
        tracker.artifact(output.outputs["report"], "evaluation")
        for name, path in output.outputs.items():  # report suites, each in a folder of its own
            if name.startswith("report."):
                tracker.artifact(path, f"evaluation/{name.removeprefix('report.')}")


def _prediction_rows(path: Path, limit: int, params: Params) -> list[dict[str, Any]]:
    """Up to ``limit`` predictions, taken in turn from every task, each beside its gold records."""
    import json

    from knowcoder.data.jsonl import read_instances
    from knowcoder.schema.ontology import load_ontology
    from knowcoder.stages.train import Layout
    from knowcoder.tasks import get_task

    if not path.is_file() or limit <= 0:
        return []
    by_task: dict[str, list[dict[str, Any]]] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            item = json.loads(line)
            by_task.setdefault(item["task"], []).append(item)
    picked: list[dict[str, Any]] = []
    queues = [list(reversed(items)) for items in by_task.values()]
    while len(picked) < limit and any(queues):
        for queue in queues:
            if queue and len(picked) < limit:
                picked.append(queue.pop())
    wanted = {item["id"] for item in picked}
    gold: dict[str, Any] = {}
    layout = Layout(params)
    for name in params.evaluation.resolve_suite().data:
        source = layout.validated(name)
        if source.is_file():
            gold.update((i.id, i) for i in read_instances(source) if i.id in wanted)
    ontology = load_ontology(params.paths.ontology)
    rows = []
    for item in picked:
        instance = gold.get(item["id"])
        records = get_task(item["task"]).gold_records(instance, ontology) if instance is not None else None
        rows.append(
            {
                "id": item["id"],
                "task": item["task"],
                "lang": item.get("lang"),
                "text": item["text"],
                "output": item["output"],
                "records": json.dumps(item["records"], ensure_ascii=False),
                "gold": json.dumps([r.to_dict() for r in records or []], ensure_ascii=False),
            }
        )
    return rows


def _registered(params: Params, output: StageOutput) -> bool:
    """Whether the version a cached registration names is in the registry MLflow points at now."""
    from knowcoder.tracking.registry import registered_version

    name = output.info.get("name", params.registry.name)
    return registered_version(name, output.info.get("version", "")) is not None


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
    root = Path(params_path).resolve().parent
    commit, dirty = git_revision(root)
    base_tags = {
        "git.commit": commit,
        "git.dirty": str(dirty).lower(),
        "params.hash": params.digest(),
        "params.profile": params.profile,
        "prefect.flow_run_id": str(flow_run.get_id() or ""),
        "prefect.flow_run_name": str(flow_run.get_name() or ""),
    }
    base_tags |= mlflow_io.source_tags(commit, "knowcoder pipeline (flows/pipeline.py)")
    runs = _Runs(params, {**base_tags, "pipeline.stages": ",".join(selected)})
    runs.parent.params(mlflow_io.flat_params(params))
    logger.info("MLflow run: %s", runs.url)
    storage = Path(params.paths.artifacts).resolve() / "cache" / "prefect"
    outputs: dict[str, StageOutput] = {}
    cached_stages: set[str] = set()
    current: Tracker | None = None
    try:
        versions = version_data(tree, version_data_changes)
        runs.parent.tags(mlflow_io.data_tags(_versions(versions)))
        runs.parent.datasets(_versions(versions), context="training")
        for stage in pipeline_order:
            if stage not in selected:
                if pipeline_order.index(stage) > pipeline_order.index(selected[-1]):
                    break
                outputs[stage] = stages.previous_output(params, stage)  # before start_at: as recorded
                continue
            upstream = _upstream(stage, outputs, params, versions)
            # a registration belongs to one registry: another server is another cache entry
            extra = mlflow_io.registry_target(params.tracking) if stage == "register" else None
            fingerprint = stages.fingerprint(stage, params, [o.fingerprint for o in upstream], extra=extra)
            fresh = not stages.is_complete(params, stage, fingerprint)
            current = runs.nested(stage, {**base_tags, "fingerprint": fingerprint})
            console.current().stage_started(stage)
            options: dict[str, Any] = {
                "result_storage": storage,
                "refresh_cache": fresh,
                "task_run_name": stage,
            }
            if stage in ("pretrain", "sft", "align"):
                options |= {
                    "retries": params.pipeline.train_retries,
                    "retry_delay_seconds": params.pipeline.retry_delay_s,
                }
            state_result = _call(
                stage, options, tree, fingerprint, upstream, current, runs, outputs, base_tags, versions
            )
            output, cached = state_result
            if stage == "register" and cached and not _registered(params, output):
                logger.warning(
                    "register: the cached registration %s is not in the registry at %s; registering again",
                    output.info.get("uri"),
                    mlflow_io.registry_target(params.tracking),
                )
                options["refresh_cache"] = True
                output, cached = _call(
                    stage, options, tree, fingerprint, upstream, current, runs, outputs, base_tags, versions
                )
            outputs[stage] = output
            if cached:
                cached_stages.add(stage)
            _log_stage(current, params, output, cached)
            if stage == "evaluate":
                rows = _prediction_rows(
                    Path(output.outputs["predictions"]), params.pipeline.sample_predictions, params
                )
                current.table(rows, "sample_predictions.json")
                runs.parent.metrics(headline(output.metrics))
                runs.parent.datasets(
                    _versions(versions, only=params.paths.raw),
                    context=f"evaluation:{params.evaluation.suite}",
                )
            runs.finish(current, "FINISHED")
            current = None
            took = f"cached (ran {output.wall_s:.1f}s before)" if cached else f"done in {output.wall_s:.1f}s"
            logger.info("%s: %s", stage, took)
            console.current().stage_finished(stage, output.wall_s, cached)
        _log_schema(runs.parent, params)
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
    for stage in selected:
        summary["stages"][stage]["cached"] = stage in cached_stages
    if "evaluate" in outputs:
        create_markdown_artifact(
            markdown=_metrics_markdown(outputs["evaluate"].metrics, params.evaluation.tasks, runs.url)
            + ("\n" + outputs["register"].info["table"] if "register" in outputs else ""),
            key="knowcoder-metrics",
            description="Evaluation of this pipeline run",
        )
    create_link_artifact(link=runs.url, link_text="MLflow run", key="knowcoder-mlflow-run")
    return summary


def _versions(rows: list[dict[str, Any]], only: list[str] | None = None) -> list[Any]:
    from knowcoder.versioning import DataVersion

    return [DataVersion(**row) for row in rows if only is None or row["path"] in only]


def _upstream(
    stage: str, outputs: dict[str, StageOutput], params: Params, versions: list
) -> list[StageOutput]:
    """The outputs a stage reads (their fingerprints enter its own)."""
    if stage == "data":
        return [StageOutput("versions", _hash(versions))]
    if stage == "corpus":
        return [outputs["data"]]
    order: list[str] = list(params.train.order)
    trained = [s for s in order if s in outputs]
    if stage in order:
        before = order[: order.index(stage)]
        previous = [outputs[s] for s in before if s in outputs][-1:]
        return [outputs["corpus"], *previous]
    if stage == "evaluate":
        return [outputs["data"], outputs[trained[-1]]]
    return [outputs["evaluate"]]


def _hash(value: Any) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:20]


def _call(
    stage: str,
    options: dict[str, Any],
    tree: dict[str, Any],
    fingerprint: str,
    upstream: list[StageOutput],
    current: Tracker,
    runs: _Runs,
    outputs: dict[str, StageOutput],
    tags: dict[str, str],
    versions: list[dict[str, Any]],
) -> tuple[StageOutput, bool]:
    """Run one stage's task; return its output and whether it came from the cache."""
    if stage == "data":
        state = validate_data.with_options(**options)(tree, stage, fingerprint, versions, return_state=True)
    elif stage == "corpus":
        state = build_corpus.with_options(**options)(tree, stage, fingerprint, return_state=True)
    elif stage in ("pretrain", "sft", "align"):
        state = train.with_options(**options)(tree, stage, fingerprint, current.run_id, return_state=True)
    elif stage == "evaluate":
        model_dir = upstream[-1].outputs["model"]
        state = evaluate.with_options(**options)(tree, stage, fingerprint, model_dir, return_state=True)
    else:
        evaluation = outputs["evaluate"].to_dict()
        all_tags = {**tags, **mlflow_io.data_tags(_versions(outputs["data"].info.get("versions", [])))}
        state = register.with_options(**options)(
            tree, stage, fingerprint, runs.parent.run_id, evaluation, all_tags, return_state=True
        )
    result = state.result()  # raises the task's exception when it failed
    return StageOutput.from_dict(result), state.name == "Cached"


def _log_schema(tracker: Tracker, params: Params) -> None:
    """The rendered schema code of every class per task, as the model sees it in prompts."""
    from knowcoder.schema.ontology import Kind, load_ontology
    from knowcoder.schema.render import SchemaOptions, render_schema

    ontology = load_ontology(params.paths.ontology)
    prompt = params.prompt
    options = SchemaOptions(prompt.style, prompt.lang, prompt.descriptions, prompt.max_examples)
    entity, relation, event = Kind.ENTITY, Kind.RELATION, Kind.EVENT
    for task_name, kinds in (("ner", (entity,)), ("re", (entity, relation)), ("eae", (entity, event))):
        names = [name for kind in kinds for name in ontology.names(kind)]
        tracker.text(render_schema(ontology, names, task_name, options), f"schema/{task_name}.py")


def _summary(
    params: Params, selected: list[str], outputs: dict[str, StageOutput], runs: _Runs, wall: float
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
        summary["registry"] = {k: outputs["register"].info[k] for k in ("name", "version", "uri", "champion")}
        summary["promotion"] = outputs["register"].info["decision"]["reason"]
    return summary


logging.getLogger("mlflow").setLevel(logging.WARNING)

if __name__ == "__main__":
    print(pipeline_flow())
