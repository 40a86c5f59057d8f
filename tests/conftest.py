"""Fixtures shared across the suite: a small ontology shipped with the tests and one rich instance."""

from __future__ import annotations

import os
from pathlib import Path

# Tests never reach a model hub: fail at once instead of retrying for half a minute.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pytest

from knowcoder.data.instance import Instance
from knowcoder.schema.ontology import Ontology, load_ontology

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[1]


def prepared_params(root: Path):
    """Params on the bundled samples, 68 synthetic sentences and a one-layer tiny model, rooted at
    ``root``, with the data stage already run (what the stage and base-model tests start from)."""
    from knowcoder.config import load_params
    from knowcoder.stages.data import prepare_data

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


def pipeline_space(root: Path) -> dict:
    """Where a ``knowcoder pipeline`` child process keeps everything: artifacts, MLflow, Prefect, logs.

    ``overrides`` point the params at ``root``; ``env`` keeps Prefect's temporary server, the error
    logs and the model hubs out of the user's environment.
    """
    overrides = [
        f"paths.artifacts={root / 'artifacts'}",
        f"tracking.uri=sqlite:///{root / 'mlflow.db'}",
        f"tracking.artifact_location={root / 'mlartifacts'}",
    ]
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "PREFECT_HOME": str(root / "prefect"),  # the temporary server's database stays in the test
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "KNOWCODER_LOG_DIR": str(root / "errors"),
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    return {"root": root, "overrides": overrides, "env": env}


@pytest.fixture(scope="session")
def mini_ontology() -> Ontology:
    return load_ontology(FIXTURES / "mini_ontology.yaml")


@pytest.fixture
def hire_instance() -> Instance:
    """'Ada Park joined Acme Corp in "Paris".' with all four tasks annotated."""
    return Instance.model_validate(
        {
            "id": "sample-en-0001",
            "dataset": "sample",
            "lang": "en",
            "text": 'Ada Park joined Acme Corp in "Paris".',
            "entities": [
                {"start": 0, "end": 8, "type": "Person"},
                {"start": 16, "end": 25, "type": "Company"},
                {"start": 30, "end": 35, "type": "Location"},
            ],
            "relations": [{"type": "Employment", "head": 0, "tail": 1}],
            "events": [
                {
                    "type": "StartPosition",
                    "trigger": {"start": 9, "end": 15},
                    "arguments": [
                        {"role": "employee", "start": 0, "end": 8},
                        {"role": "employer", "start": 16, "end": 25},
                        {"role": "place", "start": 30, "end": 35},
                    ],
                }
            ],
        }
    )
