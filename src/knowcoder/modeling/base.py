"""The model the first training stage starts from: ``model.base``, or the tiny model built here.

The tiny model's tokenizer is trained on every built corpus (``corpus/<stage>.jsonl``), so it is
built once after the corpora and removed by the corpus stage whenever they change.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from knowcoder.artifacts import Layout
from knowcoder.config import Params
from knowcoder.data.jsonl import iter_jsonl
from knowcoder.errors import ConfigError

log = logging.getLogger(__name__)

#: the corpora the tiny tokenizer learns from, in this order
CORPORA = ("pretrain", "sft", "align")


def corpus_texts(layout: Layout) -> Iterator[str]:
    """Every text of the built corpora, for training the tiny tokenizer."""
    for stage in CORPORA:
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
    base = layout.base_model
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
