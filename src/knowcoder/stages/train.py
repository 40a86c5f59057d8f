"""Corpus building and training stages as functions of ``Params``.

Layout under ``paths.artifacts``::

    data/validated/<input>/valid.jsonl      from the data stage (inputs to every corpus)
    corpus/<stage>.jsonl, <stage>.report.json
    models/base/                             the tiny model, built when model.base is empty
    models/<stage>/, <stage>.metrics.json    each stage's standalone model and metrics
    checkpoints/<stage>/                     Trainer checkpoints (resume from here)
    cache/datasets/                          tokenized corpora, keyed by content hash
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knowcoder.config import Params
from knowcoder.data.instance import Instance
from knowcoder.data.jsonl import atomic_open, iter_jsonl, read_instances
from knowcoder.errors import ConfigError
from knowcoder.prompts import PromptBuilder, PromptOptions
from knowcoder.schema.ontology import Ontology, load_ontology

log = logging.getLogger(__name__)

STAGES = ("pretrain", "sft", "align")


@dataclass
class CorpusResult:
    stage: str
    path: Path
    report: dict[str, Any]


class Layout:
    """Where a run's files live, derived from ``paths.artifacts``."""

    def __init__(self, params: Params) -> None:
        self.root = Path(params.paths.artifacts)

    def validated(self, name: str) -> Path:
        return self.root / "data" / "validated" / name / "valid.jsonl"

    def corpus(self, stage: str) -> Path:
        return self.root / "corpus" / f"{stage}.jsonl"

    def model(self, stage: str) -> Path:
        return self.root / "models" / stage

    def checkpoints(self, stage: str) -> Path:
        return self.root / "checkpoints" / stage

    @property
    def datasets_cache(self) -> Path:
        return self.root / "cache" / "datasets"


def _check_stage(stage: str) -> None:
    if stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}; choose one of: {', '.join(STAGES)}", field="--stage")


def training_instances(params: Params, layout: Layout) -> Iterator[Instance]:
    """The validated inputs named in ``corpus.inputs``, restricted to ``corpus.split``."""
    for name in params.corpus.inputs:
        path = layout.validated(name)
        if not path.is_file():
            raise ConfigError(
                f"{path} does not exist; run `knowcoder data prepare` first (or fix the name)",
                field="corpus.inputs",
            )
        for instance in read_instances(path):
            if instance.split in (None, params.corpus.split):
                yield instance


def prompt_builder(params: Params, ontology: Ontology, *, shuffled: bool) -> PromptBuilder:
    settings = params.prompt.model_dump()
    if shuffled:
        settings["class_order"] = "given"
    return PromptBuilder(ontology, PromptOptions(**settings))


def build_corpus(params: Params, stage: str, *, instructions: Path | None = None) -> CorpusResult:
    """Write ``corpus/<stage>.jsonl`` and its report from shards (``knowcoder.corpus.build``).

    Deterministic for a seed whatever ``data.workers``; ``instructions``: an SFT corpus built from
    the same parameters, which align draws its schema-following examples from.
    """
    from knowcoder.corpus.build import build_corpus_file

    _check_stage(stage)
    path = Layout(params).corpus(stage)
    built = build_corpus_file(params, stage, path, instructions=instructions)
    summary = {"stage": stage, "rows": built.rows, "rows_by_kind": built.rows_by_kind}
    summary |= built.report.to_dict()
    with atomic_open(path.with_suffix(".report.json")) as handle:
        json.dump(summary, handle, indent=2)
        handle.write("\n")
    return CorpusResult(stage, path, summary)


# ---- models -----------------------------------------------------------------------------
def corpus_texts(layout: Layout) -> Iterator[str]:
    """Every text of the built corpora, for training the tiny tokenizer."""
    for stage in STAGES:
        path = layout.corpus(stage)
        if not path.is_file():
            continue
        for _, row in iter_jsonl(path):
            if "text" in row:
                yield row["text"]
            else:
                yield row["prompt"]
                yield row["target"]


def ensure_base_model(params: Params) -> Path | str:
    """The model the first stage starts from: ``model.base``, or the tiny model (built once)."""
    if params.model.base:
        return params.model.base
    layout = Layout(params)
    base = layout.model("base")
    if (base / "config.json").is_file():
        return base
    if not layout.corpus("pretrain").is_file():
        raise ConfigError(
            "the tiny model's tokenizer is trained on the corpora; run `knowcoder corpus --stage pretrain` "
            "(and sft/align) first, or name a model in model.base",
            field="model.base",
        )
    from knowcoder.modeling.tiny import build_tiny_model, save_model_dir
    from knowcoder.modeling.tokenizer import train_tokenizer

    tiny = params.model.tiny
    log.info("building the tiny base model in %s", base)
    tokenizer = train_tokenizer(
        corpus_texts(layout), vocab_size=tiny.vocab_size, min_frequency=tiny.min_frequency
    )
    model = build_tiny_model(
        tokenizer,
        hidden_size=tiny.hidden_size,
        num_layers=tiny.num_layers,
        num_heads=tiny.num_heads,
        intermediate_size=tiny.intermediate_size,
        max_position_embeddings=tiny.max_position_embeddings,
        seed=tiny.seed,
    )
    save_model_dir(model, tokenizer, base)
    return base


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
    )


def dev_evaluator(params: Params, stage: str, layout: Layout) -> Any:
    """The stage's IE scorer on a fixed dev sample (``train.dev``), or None when it is off."""
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
