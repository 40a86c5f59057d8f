"""The stage table: every stage of the pipeline, one entry each, and what follows from it.

Each :class:`~knowcoder.stages.base.Stage` names its parameter sections, its upstream rule, its
runner, its MLflow hook and the type of its output's ``info``. The Prefect flow, the CLI's
``--start-at``/``--stop-after`` choices, the stamps and the fingerprints all read this table;
adding a stage is one entry (:func:`add_stage`) and its module.

A stage's *fingerprint* hashes what decides its output: the fingerprints of the stages it reads,
the parameter sections it uses and the package version. The Prefect flow keys its task cache on
it, and each stage writes ``stamps/<stage>.json`` with the fingerprint once its outputs are
complete, so a cache hit is honoured only while those outputs are still there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from knowcoder import __version__
from knowcoder.artifacts import Layout
from knowcoder.config import Params
from knowcoder.data.jsonl import atomic_open
from knowcoder.errors import ConfigError
from knowcoder.stages import corpus, data, evaluate, register, train
from knowcoder.stages.base import (
    DataInfo,
    EvaluateInfo,
    NoInfo,
    RegisterInfo,
    Stage,
    StageOutput,
    TrainInfo,
    UpstreamRule,
)

# not data.workers, data.dask_address, data.shard_size: where shards run never changes an output
_TRAINED = ("train.seed", "train.bf16", "train.deepspeed")


# ---- upstream rules: which outputs a stage reads (their fingerprints enter its own) -------------
def _from_versions(
    outputs: Mapping[str, StageOutput[Any]], params: Params, versions: list[dict[str, Any]]
) -> list[StageOutput[Any]]:
    digest = hashlib.sha256(json.dumps(versions, sort_keys=True).encode()).hexdigest()[:20]
    return [StageOutput("versions", digest)]


def reads(*names: str) -> UpstreamRule:
    """The upstream rule of a stage that reads the outputs of the stages ``names``, in that order."""

    def rule(
        outputs: Mapping[str, StageOutput[Any]], params: Params, versions: Any
    ) -> list[StageOutput[Any]]:
        return [outputs[name] for name in names]

    return rule


def _corpus_and_previous_model(stage: str) -> Any:
    """A training stage reads its corpus and the model of the stage before it in ``train.order``."""

    def rule(
        outputs: Mapping[str, StageOutput[Any]], params: Params, versions: Any
    ) -> list[StageOutput[Any]]:
        order: list[str] = list(params.train.order)
        previous = [outputs[s] for s in order[: order.index(stage)] if s in outputs][-1:]
        return [outputs["corpus"], *previous]

    return rule


def _data_and_last_model(
    outputs: Mapping[str, StageOutput[Any]], params: Params, versions: Any
) -> list[StageOutput[Any]]:
    trained = [s for s in params.train.order if s in outputs]
    return [outputs["data"], outputs[trained[-1]]]


def _training(name: str, sections: tuple[str, ...], summary: str) -> Stage:
    return Stage(
        name,
        params=sections,
        upstream=_corpus_and_previous_model(name),
        run=train.runner(name),
        info=TrainInfo,
        log=train.log,
        trained=True,
        summary=summary,
    )


#: every stage, in pipeline order (training stages run in ``train.order``'s order, where they stand)
TABLE: dict[str, Stage] = {
    stage.name: stage
    for stage in (
        Stage(
            "data",
            params=(
                "paths.ontology",
                "paths.raw",
                "paths.parallel",
                "data.synth",
                "data.imports",
                "validation",
            ),
            upstream=_from_versions,
            run=data.run,
            info=DataInfo,
            log=data.log,
            summary="synthesize and validate every input (Great Expectations)",
        ),
        Stage(
            "corpus",
            params=("corpus", "prompt", "paths.parallel"),
            upstream=reads("data"),
            run=corpus.run,
            log=corpus.log,
            summary="build the training corpora of train.order",
        ),
        _training("pretrain", ("model", *_TRAINED, "train.pretrain"), "schema understanding: class code"),
        _training(
            "sft", (*_TRAINED, "train.gradient_checkpointing", "train.sft"), "schema following: instructions"
        ),
        _training(
            "align", (*_TRAINED, "train.gradient_checkpointing", "train.align"), "cross-lingual alignment"
        ),
        Stage(
            "evaluate",
            params=("evaluation", "prompt", "parser", "model.dtype"),
            upstream=_data_and_last_model,
            run=evaluate.run,
            info=EvaluateInfo,
            log=evaluate.log,
            summary="score the headline suite and the report suites",
        ),
        Stage(
            "register",
            params=("registry",),
            upstream=reads("evaluate"),
            run=register.run,
            info=RegisterInfo,
            fingerprint_extra=register.registry_target,
            still_valid=register.still_registered,
            summary="register the model and apply the promotion gate",
        ),
    )
}


def stage_names() -> tuple[str, ...]:
    """Every stage's name, in table order."""
    return tuple(TABLE)


def add_stage(stage: Stage, *, after: str) -> None:
    """Put ``stage`` in the table right after the stage named ``after`` (plugins and tests)."""
    if stage.name in TABLE:
        raise ConfigError(f"stage {stage.name!r} is already in the stage table", field="stages")
    if after not in TABLE:
        raise ConfigError(f"no stage {after!r} to put {stage.name!r} after", field="stages")
    entries = list(TABLE.values())
    entries.insert(list(TABLE).index(after) + 1, stage)
    TABLE.clear()
    TABLE.update((entry.name, entry) for entry in entries)


def remove_stage(name: str) -> None:
    TABLE.pop(name, None)


def get_stage(name: str) -> Stage:
    try:
        return TABLE[name]
    except KeyError:
        raise ConfigError(
            f"unknown stage {name!r}; choose one of: {', '.join(TABLE)}", field="stage"
        ) from None


# ---- selection ----------------------------------------------------------------------------
def pipeline_order(params: Params, *, skip_align: bool = False) -> list[str]:
    """Every stage of this pipeline in order; training stages as ``train.order`` says, where they stand."""
    order: list[str] = []
    for name, stage in TABLE.items():
        if not stage.trained:
            order.append(name)
        elif not any(TABLE[s].trained for s in order if s in TABLE):
            order.extend(s for s in params.train.order if s in TABLE and TABLE[s].trained)
    if skip_align:
        order = [s for s in order if s != "align"]
    return order


def select_stages(
    params: Params, *, start_at: str | None = None, stop_after: str | None = None, skip_align: bool = False
) -> list[str]:
    """The stages to run, in order: from ``start_at`` to ``stop_after``, training as ``train.order`` says."""
    for name, value in (("start_at", start_at), ("stop_after", stop_after)):
        if value is not None and value not in TABLE:
            raise ConfigError(f"unknown stage {value!r}; choose one of: {', '.join(TABLE)}", field=name)
    order = pipeline_order(params, skip_align=skip_align)
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
    return [s for s in stages if s in TABLE and TABLE[s].trained]


# ---- fingerprints -------------------------------------------------------------------------
def _section(tree: Mapping[str, Any], dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        node = node[part]
    return node


def params_slice(params: Params, stage: str) -> dict[str, Any]:
    tree = params.model_dump(mode="json")
    return {key: _section(tree, key) for key in get_stage(stage).params}


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


def output_from_dict(data: Mapping[str, Any]) -> StageOutput[Any]:
    """A stage output read back from JSON, its ``info`` as the stage's table entry says."""
    stage = TABLE.get(str(data.get("stage")))
    return StageOutput.from_dict(data, stage.info if stage is not None else NoInfo)


# ---- stamps -------------------------------------------------------------------------------
def stamp_path(params: Params, stage: str) -> Path:
    return Layout(params).stamp(stage)


def write_stamp(params: Params, output: StageOutput[Any]) -> None:
    with atomic_open(stamp_path(params, output.stage)) as handle:
        json.dump(output.to_dict(), handle, indent=2)
        handle.write("\n")


def read_stamp(params: Params, stage: str) -> StageOutput[Any] | None:
    path = stamp_path(params, stage)
    if not path.is_file():
        return None
    try:
        return output_from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError):
        return None


def is_complete(params: Params, stage: str, fingerprint_: str) -> bool:
    """Whether ``stage`` finished with this fingerprint and its outputs are still on disk."""
    stamp = read_stamp(params, stage)
    if stamp is None or stamp.fingerprint != fingerprint_:
        return False
    return all(Path(path).exists() for path in stamp.outputs.values())


def previous_output(params: Params, stage: str) -> StageOutput[Any]:
    """The recorded output of a stage this run does not execute (it starts later)."""
    stamp = read_stamp(params, stage)
    if stamp is None or not all(Path(p).exists() for p in stamp.outputs.values()):
        raise ConfigError(
            f"stage {stage!r} has no complete output under {params.paths.artifacts}; start the "
            f"pipeline at {stage!r} or earlier",
            field="start_at",
        )
    return stamp
