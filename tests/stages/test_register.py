"""The register stage against a real SQLite MLflow store: logged on the parent run, gated, typed."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from knowcoder.config import load_params
from knowcoder.modeling.tiny import build_tiny_model, save_model_dir
from knowcoder.modeling.tokenizer import train_tokenizer
from knowcoder.stages.base import RegisterInfo, StageContext, StageOutput
from knowcoder.stages.register import registry_target, run, still_registered
from knowcoder.tracking import mlflow_io

from ..conftest import REPO


@pytest.fixture
def params(tmp_path):
    previous = mlflow.get_tracking_uri()
    params = load_params(
        REPO / "params.yaml",
        profile="smoke",
        overrides=[
            f"paths.artifacts={tmp_path / 'artifacts'}",
            f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
            f"tracking.artifact_location={tmp_path / 'mlartifacts'}",
        ],
    )
    yield params
    mlflow.set_tracking_uri(previous)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    tokenizer = train_tokenizer(["Ada Park joined Acme.", "results = []"], vocab_size=300, min_frequency=1)
    model = build_tiny_model(tokenizer, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)
    return save_model_dir(model, tokenizer, tmp_path_factory.mktemp("register") / "model")


def _register(params, model_dir: Path, f1: float) -> StageOutput[RegisterInfo]:
    experiment = mlflow_io.configure(params.tracking)
    parent = mlflow.MlflowClient().create_run(experiment).info.run_id
    evaluation = StageOutput("evaluate", "fp-eval", {"model": str(model_dir)}, {"ner.f1": f1, "re.f1": f1})
    context = StageContext(
        params, "fp", upstream=[evaluation], parent_run_id=parent, tags={"git.commit": "abc"}
    )
    return run(context)


def test_the_first_model_becomes_champion_and_a_worse_one_challenger(params, model_dir):
    first = _register(params, model_dir, 0.5)
    assert isinstance(first.info, RegisterInfo)
    assert (first.info.name, first.info.version, first.info.champion) == ("knowcoder-ie", "1", True)
    assert first.metrics == {"registry.version": 1.0, "registry.champion": 1.0}
    assert first.info.uri == "models:/knowcoder-ie/1" and "| ner.f1 |" in first.info.table
    version = mlflow.MlflowClient().get_model_version("knowcoder-ie", "1")
    assert version.tags["git.commit"] == "abc" and version.run_id == first.info.run_id
    worse = _register(params, model_dir, 0.1)
    assert (worse.info.version, worse.info.champion, worse.info.champion_before) == ("2", False, "1")
    assert worse.info.decision["promote"] is False


def test_a_cached_registration_holds_only_while_its_version_exists(params, model_dir):
    output = _register(params, model_dir, 0.5)
    assert still_registered(params, output)
    mlflow.MlflowClient().delete_model_version("knowcoder-ie", output.info.version)
    assert not still_registered(params, output)


def test_another_registry_is_another_fingerprint_input(params, tmp_path):
    other = params.model_copy(
        update={"tracking": params.tracking.model_copy(update={"uri": f"sqlite:///{tmp_path / 'other.db'}"})}
    )
    assert registry_target(params) != registry_target(other)


def test_register_needs_the_parent_run(params, model_dir):
    evaluation = StageOutput("evaluate", "fp-eval", {"model": str(model_dir)}, {"ner.f1": 0.5})
    with pytest.raises(ValueError, match="logged on the pipeline's parent run"):
        run(StageContext(params, "fp", upstream=[evaluation]))
