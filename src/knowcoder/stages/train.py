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

import itertools
import json
import logging
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knowcoder.config import Params
from knowcoder.corpus.align import alignment_examples, mix_with_instructions
from knowcoder.corpus.pretrain import Document, class_documents, instance_documents
from knowcoder.corpus.sft import CorpusReport, InstructionExample, NegativeSampling, instruction_examples
from knowcoder.data.instance import Instance
from knowcoder.data.jsonl import atomic_open, iter_jsonl, read_instances, write_jsonl
from knowcoder.data.parallel import read_pairs
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


def build_corpus(params: Params, stage: str) -> CorpusResult:
    """Write ``corpus/<stage>.jsonl`` and its report; streaming, deterministic for a seed."""
    _check_stage(stage)
    layout = Layout(params)
    ontology = load_ontology(params.paths.ontology)
    path = layout.corpus(stage)
    report = CorpusReport()
    rows: Iterable[dict[str, Any]]
    if stage == "pretrain":
        rows = (document.to_dict() for document in _pretrain_documents(params, layout, ontology))
    elif stage == "sft":
        rows = (example.to_dict() for example in _sft_examples(params, layout, ontology, report))
    else:
        rows = (example.to_dict() for example in _align_examples(params, layout, ontology, report))
    counts: dict[str, int] = {}

    def counted(items: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        from tqdm import tqdm

        for row in tqdm(items, desc=f"corpus {stage}", unit=" rows", disable=None, file=sys.stderr):
            key = row.get("kind", "?")
            counts[key] = counts.get(key, 0) + 1
            yield row

    total = write_jsonl(path, counted(rows))
    summary = {"stage": stage, "rows": total, "rows_by_kind": counts, **report.to_dict()}
    with atomic_open(path.with_suffix(".report.json")) as handle:
        json.dump(summary, handle, indent=2)
        handle.write("\n")
    return CorpusResult(stage, path, summary)


def _pretrain_documents(params: Params, layout: Layout, ontology: Ontology) -> Iterator[Document]:
    config = params.corpus.pretrain
    for _ in range(config.class_repeats):
        yield from class_documents(ontology, languages=config.class_languages)
    instances: Iterable[Instance] = training_instances(params, layout)
    extra = (instance for path in config.extra for instance in read_instances(path))
    yield from instance_documents(itertools.chain(instances, extra), ontology, tasks=config.tasks)


def _sft_examples(
    params: Params, layout: Layout, ontology: Ontology, report: CorpusReport
) -> Iterator[InstructionExample]:
    config = params.corpus.sft
    builder = prompt_builder(params, ontology, shuffled=config.shuffle_classes)
    yield from instruction_examples(
        training_instances(params, layout),
        ontology,
        builder,
        tasks=config.tasks,
        sampling=NegativeSampling(
            config.negative_ratio, config.only_negative_rate, config.without_positives_rate
        ),
        seed=params.corpus.seed,
        report=report,
    )


def _align_examples(
    params: Params, layout: Layout, ontology: Ontology, report: CorpusReport
) -> Iterator[InstructionExample]:
    config = params.corpus.align
    builder = prompt_builder(params, ontology, shuffled=False)
    pairs = (
        pair for pair in read_pairs(params.paths.parallel) if pair.source.split in (None, params.corpus.split)
    )
    alignment = alignment_examples(
        pairs, builder, tasks=config.tasks, both_directions=config.both_directions, report=report
    )
    instructions: list[InstructionExample] = []
    if config.instruction_mix > 0:
        instructions = list(_sft_examples(params, layout, ontology, CorpusReport()))
    yield from mix_with_instructions(
        alignment, instructions, ratio=config.instruction_mix, seed=params.corpus.seed
    )


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
    )
