"""The training stages (pretrain, sft, align): each starts from the model before it in ``train.order``.

A stage trains on ``corpus/<stage>.jsonl`` with the real transformers Trainer and writes
``models/<stage>/`` with its metrics and loss curve beside it (paths: ``knowcoder.artifacts``).
Its checkpoints carry the stage's fingerprint: a retry with the same fingerprint resumes from the
last checkpoint, a changed stage starts fresh instead of resuming someone else's run.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from knowcoder.artifacts import Layout
from knowcoder.config import Params
from knowcoder.data.instance import Instance
from knowcoder.data.jsonl import read_instances
from knowcoder.errors import ConfigError
from knowcoder.modeling.base import ensure_base_model
from knowcoder.schema.ontology import load_ontology
from knowcoder.stages.base import LogContext, StageContext, StageOutput, TrainInfo

STAGES = ("pretrain", "sft", "align")


def _check_stage(stage: str) -> None:
    if stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}; choose one of: {', '.join(STAGES)}", field="--stage")


def stage_init(params: Params, stage: str) -> Path | str:
    """A stage starts from the previous stage's model in ``train.order``, or from the base."""
    order = params.train.order
    if stage not in order:
        raise ConfigError(f"stage {stage!r} is not in train.order {order}", field="train.order")
    position = order.index(stage)
    if position == 0:
        return ensure_base_model(params)
    previous = Layout(params).model(order[position - 1])
    if not (previous / "config.json").is_file():
        raise ConfigError(
            f"stage {stage!r} starts from {previous}, which does not exist; "
            f"run `knowcoder train --stage {order[position - 1]}` first",
            field="train.order",
        )
    return previous


def run_training(
    params: Params, stage: str, *, fresh: bool = False, callbacks: list[Any] | None = None
) -> Any:
    """Train one stage; resumes from its checkpoints unless ``fresh``; ``callbacks`` go to the Trainer."""
    from knowcoder.training.trainer import clear_checkpoints, train_stage

    _check_stage(stage)
    layout = Layout(params)
    corpus = layout.corpus(stage)
    if not corpus.is_file():
        raise ConfigError(
            f"{corpus} does not exist; run `knowcoder corpus --stage {stage}` first", field="--stage"
        )
    init = stage_init(params, stage)
    if fresh:
        clear_checkpoints(layout.checkpoints(stage))
    dev = dev_evaluator(params, stage, layout)
    return train_stage(
        stage,
        init_dir=init,
        corpus=corpus,
        output_dir=layout.model(stage),
        checkpoint_dir=layout.checkpoints(stage),
        config=getattr(params.train, stage),
        train=params.train,
        cache_dir=layout.datasets_cache,
        dtype=params.model.dtype,
        trust_remote_code=params.model.trust_remote_code,
        use_safetensors=params.model.use_safetensors,
        callbacks=callbacks,
        dev=dev,
        dev_every=params.train.dev.every,
        metrics_path=layout.model_metrics(stage),
        curve_path=layout.model_curve(stage),
        tokenize_workers=params.data.workers or 0,
    )


def dev_evaluator(params: Params, stage: str, layout: Layout) -> Any:
    """The stage's IE scorer on a fixed dev sample (``train.dev``), or None when it is off."""
    from knowcoder.corpus.build import prompt_builder
    from knowcoder.training.dev import DevEvaluator, sample_instances

    config = params.train.dev
    if config.every == 0 or stage not in config.stages:
        return None
    if config.split == params.corpus.split:
        raise ConfigError(
            f"train.dev.split {config.split!r} is the split the corpora are built from; pick another",
            field="train.dev.split",
        )
    instances: list[Instance] = []
    for name in config.data:
        path = layout.validated(name)
        if not path.is_file():
            raise ConfigError(
                f"{path} does not exist; run `knowcoder data prepare` first (or fix the name)",
                field="train.dev.data",
            )
        instances.extend(i for i in read_instances(path) if i.split == config.split)
    ontology = load_ontology(params.paths.ontology)
    sample = sample_instances(instances, config.sentences, config.tasks, ontology)
    if not sample:
        raise ConfigError(
            f"no {config.split!r} sentence in {', '.join(config.data)} "
            f"is annotated for {', '.join(config.tasks)}",
            field="train.dev.data",
        )
    return DevEvaluator(
        sample,
        ontology,
        prompt_builder(params, ontology, shuffled=False),
        layout.checkpoints(stage) / "tokenizer",
        tasks=tuple(config.tasks),
        max_new_tokens=config.max_new_tokens,
        batch_size=params.evaluation.batch_size,
        constrained=params.evaluation.constrained,
        max_length=getattr(params.train, stage).max_length,
    )


# ---- the pipeline's training stages --------------------------------------------------------------
def prepare_checkpoints(params: Params, stage: str, fingerprint_: str) -> bool:
    """Keep a stage's checkpoints only if they belong to this fingerprint; True when they are kept."""
    layout = Layout(params)
    folder, marker = layout.checkpoints(stage), layout.checkpoint_marker(stage)
    if folder.is_dir() and marker.is_file() and marker.read_text().strip() == fingerprint_:
        return True
    if folder.is_dir():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    marker.write_text(fingerprint_ + "\n")
    return False


def run_stage(
    params: Params, stage: str, fingerprint_: str, callbacks: list[Any] | None = None
) -> StageOutput[TrainInfo]:
    """One training stage of the pipeline: resume or start fresh, on one device or several."""
    from knowcoder.training import launch

    started = time.perf_counter()
    resumed = prepare_checkpoints(params, stage, fingerprint_)
    if params.deployment.gpus_per_run > 1 and launch.cuda_device_count() > 0:
        # one process per GPU (torchrun or deepspeed); only rank 0 logs to the stage's MLflow run
        result = launch.run_distributed(
            params, stage, nproc=params.deployment.gpus_per_run, run_id=launch.mlflow_run_id(callbacks)
        )
    else:
        result = run_training(params, stage, callbacks=callbacks)
    summary = {
        k: float(v)
        for k, v in result.metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
    outputs = {"model": str(result.model_dir), "metrics": str(result.metrics_path)}
    info = TrainInfo(resumed=resumed, resumed_from=result.metrics.get("resumed_from"))
    return StageOutput(stage, fingerprint_, outputs, summary, info, time.perf_counter() - started)


def runner(stage: str) -> Any:
    """The stage table's runner for training ``stage``: curves to its MLflow run, progress to the console."""

    def run(context: StageContext) -> StageOutput[TrainInfo]:
        from knowcoder import console
        from knowcoder.tracking.mlflow_io import TrainingCurves

        curves = [TrainingCurves(context.run_id)] if context.run_id else []
        callbacks = [*curves, *console.training_callbacks(), *context.callbacks] or None
        return run_stage(context.params, stage, context.fingerprint, callbacks=callbacks)

    run.__name__ = f"run_{stage}"
    return run


def log(context: LogContext, output: StageOutput[TrainInfo]) -> None:
    context.stage.artifact(output.outputs["metrics"])
