"""A tiny random-weight model saved once for the serving tests, and its serving options."""

from __future__ import annotations

import pytest

from knowcoder.modeling.tiny import build_tiny_model, save_model_dir
from knowcoder.modeling.tokenizer import train_tokenizer
from knowcoder.prompts import PromptBuilder
from knowcoder.serving.predictor import ServingConfig

#: short prompts and outputs keep generation on a CPU to a fraction of a second
OPTIONS = {"system": False, "descriptions": False, "max_examples": 1, "max_new_tokens": 16, "batch_size": 8}
SENTENCES = ("Ada Park joined Acme Corp in Paris.", "Li Ming was hired by Bo Bank.")


@pytest.fixture(scope="session")
def serving_config() -> ServingConfig:
    return ServingConfig.from_dict(OPTIONS)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, mini_ontology, serving_config):
    """A 1-layer Llama (hidden 32) with a tokenizer trained on prompts of every task."""
    builder = PromptBuilder(mini_ontology, serving_config.prompt_options())
    texts = [
        builder.prompt(sentence, task, types)
        for sentence in SENTENCES
        for task, types in (("ner", ["Person"]), ("re", ["Employment"]), ("ed", ["StartPosition"]))
    ]
    tokenizer = train_tokenizer(texts, vocab_size=300, min_frequency=1)
    model = build_tiny_model(tokenizer, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)
    return save_model_dir(model, tokenizer, tmp_path_factory.mktemp("serving") / "model")
