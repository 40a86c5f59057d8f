"""The pipeline's stages as plain functions: selection, fingerprints, stamps, and one runner each.

A stage's *fingerprint* hashes what decides its output: the fingerprints of the stages it reads,
the parameter sections it uses and the package version. The Prefect flow keys its task cache on
it, and each stage writes ``stamps/<stage>.json`` with the fingerprint once its outputs are
complete, so a cache hit is honoured only while those outputs are still there. Training stages
also stamp their checkpoint folder: a retry with the same fingerprint resumes from the last
checkpoint, a changed stage starts fresh instead of resuming someone else's run.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from knowcoder import __version__
from knowcoder.config import Params
from knowcoder.data.jsonl import atomic_open
from knowcoder.errors import ConfigError
from knowcoder.stages.train import STAGES as TRAIN_STAGES
from knowcoder.stages.train import Layout

#: every stage of the pipeline, in order
STAGES = ("data", "corpus", "pretrain", "sft", "align", "evaluate", "register")

#: the parameter sections each stage's output depends on (dotted paths into Params)
STAGE_PARAMS: dict[str, tuple[str, ...]] = {
    # not data.workers, data.dask_address, data.shard_size: where shards run never changes an output
    "data": ("paths.ontology", "paths.raw", "paths.parallel", "data.synth", "data.imports", "validation"),
    "corpus": ("corpus", "prompt", "paths.parallel"),
    "pretrain": ("model", "train.seed", "train.bf16", "train.deepspeed", "train.pretrain"),
    "sft": ("train.seed", "train.bf16", "train.deepspeed", "train.gradient_checkpointing", "train.sft"),
    "align": ("train.seed", "train.bf16", "train.deepspeed", "train.gradient_checkpointing", "train.align"),
    "evaluate": ("evaluation", "prompt", "parser", "model.dtype"),
    "register": ("registry",),
}


@dataclass
class StageOutput:
    """What a stage hands to the next ones (JSON-serialisable: the flow caches it)."""

    stage: str
    fingerprint: str
    outputs: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StageOutput:
        return cls(**data)


def select_stages(
    params: Params, *, start_at: str | None = None, stop_after: str | None = None, skip_align: bool = False
) -> list[str]:
    """The stages to run, in order: from ``start_at`` to ``stop_after``, training as ``train.order`` says."""
    for name, value in (("start_at", start_at), ("stop_after", stop_after)):
        if value is not None and value not in STAGES:
            raise ConfigError(f"unknown stage {value!r}; choose one of: {', '.join(STAGES)}", field=name)
    order = ["data", "corpus", *params.train.order, "evaluate", "register"]
    if skip_align:
        order = [s for s in order if s != "align"]
    first = order.index(start_at) if start_at in order else 0
    last = order.index(stop_after) if stop_after in order else len(order) - 1
    if start_at is not None and start_at not in order:
        raise ConfigError(
            f"stage {start_at!r} is not part of this pipeline (train.order, skip_align)", field="start_at"
        )
    if stop_after is not None and stop_after not in order:
        raise ConfigError(f"stage {stop_after!r} is not part of this pipeline", field="stop_after")
    if first > last:
        raise ConfigError(f"start_at {start_at!r} comes after stop_after {stop_after!r}", field="start_at")
    return order[first : last + 1]


def trained_stages(stages: Sequence[str]) -> list[str]:
    return [s for s in stages if s in TRAIN_STAGES]


def _section(tree: Mapping[str, Any], dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        node = node[part]
    return node


def params_slice(params: Params, stage: str) -> dict[str, Any]:
    tree = params.model_dump(mode="json")
    return {key: _section(tree, key) for key in STAGE_PARAMS[stage]}


def fingerprint(stage: str, params: Params, upstream: Sequence[str] = (), extra: Any = None) -> str:
    """The content hash that decides ``stage``'s output (see the module docstring)."""
    payload = {
        "stage": stage,
        "version": __version__,
        "params": params_slice(params, stage),
        "upstream": list(upstream),
        "extra": extra,
    }
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


# ---- stamps -------------------------------------------------------------------------------
def stamp_path(params: Params, stage: str) -> Path:
    return Path(params.paths.artifacts) / "stamps" / f"{stage}.json"


def write_stamp(params: Params, output: StageOutput) -> None:
    with atomic_open(stamp_path(params, output.stage)) as handle:
        json.dump(output.to_dict(), handle, indent=2)
        handle.write("\n")


def read_stamp(params: Params, stage: str) -> StageOutput | None:
    path = stamp_path(params, stage)
    if not path.is_file():
        return None
    try:
        return StageOutput.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError):
        return None


def is_complete(params: Params, stage: str, fingerprint_: str) -> bool:
    """Whether ``stage`` finished with this fingerprint and its outputs are still on disk."""
    stamp = read_stamp(params, stage)
    if stamp is None or stamp.fingerprint != fingerprint_:
        return False
    return all(Path(path).exists() for path in stamp.outputs.values())


def previous_output(params: Params, stage: str) -> StageOutput:
    """The recorded output of a stage this run does not execute (it starts later)."""
    stamp = read_stamp(params, stage)
    if stamp is None or not all(Path(p).exists() for p in stamp.outputs.values()):
        raise ConfigError(
            f"stage {stage!r} has no complete output under {params.paths.artifacts}; start the "
            f"pipeline at {stage!r} or earlier",
            field="start_at",
        )
    return stamp


# ---- checkpoints --------------------------------------------------------------------------
def prepare_checkpoints(params: Params, stage: str, fingerprint_: str) -> bool:
    """Keep a stage's checkpoints only if they belong to this fingerprint; True when they are kept."""
    folder = Layout(params).checkpoints(stage)
    marker = folder / "FINGERPRINT"
    if folder.is_dir() and marker.is_file() and marker.read_text().strip() == fingerprint_:
        return True
    if folder.is_dir():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    marker.write_text(fingerprint_ + "\n")
    return False


# ---- the stages ---------------------------------------------------------------------------
def run_data(params: Params, fingerprint_: str, versions: list[dict[str, Any]]) -> StageOutput:
    from knowcoder.stages.data import prepare_data

    started = time.perf_counter()
    prepared = prepare_data(params)
    outputs = {name: str(path) for name, path in prepared.valid_paths().items()}
    metrics = {
        f"valid_records.{name}": float(result.valid_records) for name, result in prepared.results.items()
    }
    metrics["parallel_pairs"] = float(prepared.parallel_pairs)
    info = {"versions": versions, "summary": str(prepared.out_dir / "summary.json")}
    return StageOutput("data", fingerprint_, outputs, metrics, info, time.perf_counter() - started)


def run_corpus(params: Params, fingerprint_: str) -> StageOutput:
    from knowcoder.stages.train import build_corpus

    started = time.perf_counter()
    outputs: dict[str, str] = {}
    metrics: dict[str, float] = {}
    for stage in params.train.order:
        # align draws its schema-following examples from the SFT corpus when this run built it
        instructions = Path(outputs["sft"]) if stage == "align" and "sft" in outputs else None
        result = build_corpus(params, stage, instructions=instructions)
        outputs[stage] = str(result.path)
        outputs[f"{stage}.report"] = str(result.path.with_suffix(".report.json"))
        metrics[f"{stage}.rows"] = float(result.report["rows"])
    # the tiny model's tokenizer is trained on the corpora: a new corpus means a new base model
    base = Layout(params).model("base")
    if params.model.base is None and base.is_dir():
        shutil.rmtree(base)
    return StageOutput("corpus", fingerprint_, outputs, metrics, {}, time.perf_counter() - started)


def run_train(
    params: Params, stage: str, fingerprint_: str, callbacks: list[Any] | None = None
) -> StageOutput:
    from knowcoder.stages.train import run_training
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
    info = {"resumed": resumed, "resumed_from": result.metrics.get("resumed_from")}
    return StageOutput(stage, fingerprint_, outputs, summary, info, time.perf_counter() - started)


def run_evaluate(params: Params, fingerprint_: str, model_dir: str | Path) -> StageOutput:
    """Score the headline suite (``evaluation.suite``) and each of ``evaluation.report_suites``.

    Each suite reports into ``artifacts/evaluation/<suite>/``. The headline suite's metrics keep
    their names (``ner.f1``: the registry gate's); a report suite's headline metrics are prefixed
    with its name (``sample-test.ner.f1``, logged to MLflow as ``sample-test/ner/f1``).
    """
    from knowcoder.schema.ontology import load_ontology
    from knowcoder.stages.evaluate import evaluate_suites, headline

    started = time.perf_counter()
    layout = Layout(params)
    config = params.evaluation
    names = [config.suite, *config.report_suites]
    suites = {}
    for name in names:
        suite = config.resolve_suite(name)
        suites[name] = (suite, [layout.validated(data) for data in suite.data])
    root = Path(params.paths.artifacts) / "evaluation"
    runs = evaluate_suites(
        model_dir, suites, root, params=params, ontology=load_ontology(params.paths.ontology), progress=True
    )
    metrics = {
        k: float(v) for k, v in runs[config.suite].result.to_dict().items() if isinstance(v, int | float)
    }
    out_dir = root / config.suite
    outputs = {
        "report": str(out_dir),
        "predictions": str(out_dir / "predictions.jsonl"),
        "model": str(model_dir),
    }
    for name in config.report_suites:
        numbers = {k: float(v) for k, v in runs[name].result.to_dict().items() if isinstance(v, int | float)}
        metrics.update({f"{name}.{k}": v for k, v in headline(numbers).items()})
        outputs[f"report.{name}"] = str(root / name)
    info = {"suites": names}
    return StageOutput("evaluate", fingerprint_, outputs, metrics, info, time.perf_counter() - started)
