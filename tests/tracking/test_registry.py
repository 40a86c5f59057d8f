"""The registry against a real (SQLite) MLflow store: exact champion metrics, registration checks."""

from __future__ import annotations

import mlflow
import pytest

from knowcoder.config import RegistryConfig, TrackingConfig
from knowcoder.tracking import mlflow_io
from knowcoder.tracking.registry import (
    CHAMPION,
    champion_metrics,
    metric_tags,
    register_and_promote,
    registered_version,
)

NAME = "knowcoder-ie"
SUITE = "sample-test"
GATE = RegistryConfig(name=NAME, guarded_metrics=["ner.f1", "re.f1"])


@pytest.fixture
def store(tmp_path):
    previous = mlflow.get_tracking_uri()
    config = TrackingConfig(uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_location=str(tmp_path / "a"))
    experiment = mlflow_io.configure(config)
    try:
        yield config, experiment
    finally:
        mlflow.set_tracking_uri(previous)


def _logged_run(experiment: str, metrics: dict[str, float]) -> tuple[str, str]:
    """A run with ``metrics`` (logged as the pipeline logs them) and a small artifact to register."""
    client = mlflow.MlflowClient()
    run = client.create_run(experiment)
    mlflow_io.Tracker(run.info.run_id).metrics(metrics)
    client.log_text(run.info.run_id, "weights", "model/weights.txt")
    client.set_terminated(run.info.run_id)
    return run.info.run_id, f"{client.get_run(run.info.run_id).info.artifact_uri}/model"


def test_the_gate_reads_the_champions_exact_metrics_from_its_run(store):
    _, experiment = store
    exact = {"ner.f1": 0.1234564, "re.f1": 0.25}
    run_id, uri = _logged_run(experiment, exact)
    first = register_and_promote(uri, run_id=run_id, metrics=exact, suite=SUITE, config=GATE, tags={})
    assert first.is_champion
    version = mlflow.MlflowClient().get_model_version_by_alias(NAME, CHAMPION)
    # the run holds the metrics as ner/f1; the gate sees them under the library's names, unrounded
    assert champion_metrics(version, SUITE)["ner.f1"] == 0.1234564
    assert version.tags[f"eval.{SUITE}.ner.f1"] == "0.1234564"
    # a candidate that ties the champion exactly stays challenger
    run_id, uri = _logged_run(experiment, exact)
    second = register_and_promote(uri, run_id=run_id, metrics=exact, suite=SUITE, config=GATE, tags={})
    assert not second.is_champion
    assert second.decision.reason == "ner.f1 ties the champion's (0.1234564); a tie is not a win"
    assert str(mlflow.MlflowClient().get_model_version_by_alias(NAME, CHAMPION).version) == first.version


def test_champion_metrics_of_another_suite_come_from_the_tags(store):
    _, experiment = store
    run_id, uri = _logged_run(experiment, {"ner.f1": 0.5})
    register_and_promote(uri, run_id=run_id, metrics={"ner.f1": 0.5}, suite=SUITE, config=GATE, tags={})
    version = mlflow.MlflowClient().get_model_version(NAME, "1")
    assert champion_metrics(version, "other-suite") == {}
    assert champion_metrics(version, SUITE) == {"ner.f1": 0.5}


def test_metric_tags_keep_full_precision():
    assert metric_tags({"ner.f1": 1 / 3, "x": 1.0}, SUITE, GATE) == {f"eval.{SUITE}.ner.f1": repr(1 / 3)}


def test_registered_version_is_none_for_a_version_the_registry_does_not_have(store):
    assert registered_version(NAME, "1") is None
    _, experiment = store
    run_id, uri = _logged_run(experiment, {"ner.f1": 0.5})
    register_and_promote(uri, run_id=run_id, metrics={"ner.f1": 0.5}, suite=SUITE, config=GATE, tags={})
    assert registered_version(NAME, "1").tags["eval.run_id"] == run_id
    assert registered_version(NAME, "2") is None


def test_metrics_are_logged_with_slash_groups(store):
    _, experiment = store
    run_id, _ = _logged_run(experiment, {"ner.lang.zh.f1": 0.5, "loss": 1.0})
    assert set(mlflow.MlflowClient().get_run(run_id).data.metrics) == {"ner/lang/zh/f1", "loss"}


def test_a_new_experiment_opens_in_the_model_development_view(store):
    _, experiment = store
    tags = mlflow.MlflowClient().get_experiment(experiment).tags
    assert tags["mlflow.experimentKind"] == "custom_model_development"
