"""The prepared data every stage test starts from: the bundled samples and a small synthetic set."""

from __future__ import annotations

import pytest

from knowcoder.config import load_params
from knowcoder.stages.data import prepare_data

from ..conftest import REPO


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("stage")
    params = load_params(
        REPO / "params.yaml",
        overrides=[
            f"paths.ontology={REPO / 'data/ontology.yaml'}",
            f"paths.raw=[{REPO / 'data/raw/sample/en.jsonl'}, {REPO / 'data/raw/sample/zh.jsonl'}]",
            f"paths.parallel={REPO / 'data/raw/parallel/en_zh.jsonl'}",
            f"paths.artifacts={root}",
            "data.synth.train=60",
            "data.synth.dev=4",
            "data.synth.test=4",
            "model.tiny.vocab_size=400",
            "model.tiny.hidden_size=32",
            "model.tiny.num_layers=1",
            "model.tiny.num_heads=2",
            "model.tiny.intermediate_size=64",
        ],
    )
    prepare_data(params)
    return params
