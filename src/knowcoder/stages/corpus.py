"""The corpus stage: one training corpus per stage of ``train.order``, built from shards.

``corpus/<stage>.jsonl`` and its report (``knowcoder.corpus.build`` does the work, on a Dask
cluster when ``data.workers`` says so). Deterministic for a seed whatever the worker count.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knowcoder.artifacts import Layout
from knowcoder.config import Params
from knowcoder.data.jsonl import atomic_open
from knowcoder.errors import ConfigError
from knowcoder.stages.base import LogContext, NoInfo, StageContext, StageOutput

#: the stages a corpus is built for
CORPORA = ("pretrain", "sft", "align")


@dataclass
class CorpusResult:
    stage: str
    path: Path
    report: dict[str, Any]


def check_stage(stage: str) -> None:
    if stage not in CORPORA:
        raise ConfigError(f"unknown stage {stage!r}; choose one of: {', '.join(CORPORA)}", field="--stage")


def build_corpus(params: Params, stage: str, *, instructions: Path | None = None) -> CorpusResult:
    """Write ``corpus/<stage>.jsonl`` and its report from shards (``knowcoder.corpus.build``).

    Deterministic for a seed whatever ``data.workers``; ``instructions``: an SFT corpus built from
    the same parameters, which align draws its schema-following examples from.
    """
    from knowcoder.corpus.build import build_corpus_file

    check_stage(stage)
    layout = Layout(params)
    path = layout.corpus(stage)
    built = build_corpus_file(params, stage, path, instructions=instructions)
    summary = {"stage": stage, "rows": built.rows, "rows_by_kind": built.rows_by_kind}
    summary |= built.report.to_dict()
    with atomic_open(layout.corpus_report(stage)) as handle:
        json.dump(summary, handle, indent=2)
        handle.write("\n")
    return CorpusResult(stage, path, summary)


def run(context: StageContext) -> StageOutput[NoInfo]:
    """Every corpus of ``train.order``; a new corpus means a new tiny base model."""
    params = context.params
    started = time.perf_counter()
    layout = Layout(params)
    outputs: dict[str, str] = {}
    metrics: dict[str, float] = {}
    for stage in params.train.order:
        # align draws its schema-following examples from the SFT corpus when this run built it
        instructions = Path(outputs["sft"]) if stage == "align" and "sft" in outputs else None
        result = build_corpus(params, stage, instructions=instructions)
        outputs[stage] = str(result.path)
        outputs[f"{stage}.report"] = str(layout.corpus_report(stage))
        metrics[f"{stage}.rows"] = float(result.report["rows"])
    # the tiny model's tokenizer is trained on the corpora: a new corpus means a new base model
    if params.model.base is None and layout.base_model.is_dir():
        shutil.rmtree(layout.base_model)
    return StageOutput(
        "corpus", context.fingerprint, outputs, metrics, NoInfo(), time.perf_counter() - started
    )


def log(context: LogContext, output: StageOutput[NoInfo]) -> None:
    for name, path in output.outputs.items():
        if name.endswith(".report"):
            context.stage.artifact(path, "corpus")
