from __future__ import annotations

import json

import pytest

from knowcoder.artifacts import Layout
from knowcoder.config import load_params
from knowcoder.errors import ConfigError
from knowcoder.modeling.base import corpus_texts, ensure_base_model
from knowcoder.stages.corpus import build_corpus

from ..conftest import REPO, prepared_params


@pytest.fixture(scope="module")
def params(tmp_path_factory):
    return prepared_params(tmp_path_factory.mktemp("base"))


def test_tiny_base_model_is_built_once_from_the_corpora(params):
    build_corpus(params, "pretrain")
    base = ensure_base_model(params)
    config = json.loads((base / "config.json").read_text())
    assert config["hidden_size"] == 32 and config["vocab_size"] <= 400
    stamp = (base / "model.safetensors").stat().st_mtime_ns
    assert ensure_base_model(params) == base
    assert (base / "model.safetensors").stat().st_mtime_ns == stamp  # not rebuilt


def test_a_named_base_model_is_used_as_is(params):
    named = params.model_copy(update={"model": params.model.model_copy(update={"base": "org/some-model"})})
    assert ensure_base_model(named) == "org/some-model"


def test_the_tiny_model_needs_the_corpora_first(tmp_path):
    params = load_params(REPO / "params.yaml", overrides=[f"paths.artifacts={tmp_path}"])
    with pytest.raises(ConfigError, match="the tiny model's tokenizer is trained on the corpora"):
        ensure_base_model(params)


def test_the_tokenizer_reads_every_text_of_every_built_corpus(tmp_path):
    layout = Layout(tmp_path)
    layout.corpus("pretrain").parent.mkdir(parents=True)
    layout.corpus("pretrain").write_text('{"text": "class Person"}\n')
    layout.corpus("sft").write_text('{"prompt": "p", "target": "t"}\n')
    assert list(corpus_texts(layout)) == ["class Person", "p", "t"]  # align not built: skipped
