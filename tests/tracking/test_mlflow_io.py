"""The MLflow wrapper: names, URIs, parameter encoding and logging against a real SQLite store."""

from __future__ import annotations

import json

import mlflow
import pytest

from knowcoder.config import TrackingConfig, load_params
from knowcoder.tracking import mlflow_io
from knowcoder.versioning import DataVersion

from ..conftest import REPO


@pytest.fixture
def store(tmp_path):
    previous = mlflow.get_tracking_uri()
    config = TrackingConfig(
        uri=f"sqlite:///{tmp_path / 'db' / 'mlflow.db'}",
        artifact_location=str(tmp_path / "mlartifacts"),
        experiment="exp",
    )
    try:
        yield config, mlflow_io.configure(config)
    finally:
        mlflow.set_tracking_uri(previous)


def test_metric_names_swap_dots_and_slashes_both_ways():
    assert mlflow_io.mlflow_name("ner.lang.zh.f1") == "ner/lang/zh/f1"
    assert mlflow_io.from_mlflow_name("ner/lang/zh/f1") == "ner.lang.zh.f1"
    assert mlflow_io.from_mlflow_name(mlflow_io.mlflow_name("eae.arg_cls.f1")) == "eae.arg_cls.f1"


def test_tracking_uri_prefers_the_config_then_the_environment_then_the_default(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env:5000")
    assert mlflow_io.tracking_uri(TrackingConfig(uri="http://conf:5000")) == "http://conf:5000"
    assert mlflow_io.tracking_uri(TrackingConfig()) == "http://env:5000"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert mlflow_io.tracking_uri(TrackingConfig()) == "sqlite:///mlruns/mlflow.db"


def test_links_point_at_the_server_or_at_the_configured_ui(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    local = TrackingConfig(uri="sqlite:///x.db", ui_url="http://127.0.0.1:5000/")
    assert mlflow_io.run_url(local, "3", "abc") == "http://127.0.0.1:5000/#/experiments/3/runs/abc"
    assert mlflow_io.ui_command(local) == "mlflow ui --backend-store-uri sqlite:///x.db"
    server = TrackingConfig(uri="https://mlflow.example.org/")
    assert mlflow_io.run_url(server, "1", "r") == "https://mlflow.example.org/#/experiments/1/runs/r"
    assert mlflow_io.ui_command(server) == "open https://mlflow.example.org/"


def test_registry_target_drops_credentials(monkeypatch, store):
    # the environment, not mlflow.set_registry_uri: that one also exports it and outlives the test
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", "http://user:secret@registry.example.org:5001")
    target = mlflow_io.registry_target(TrackingConfig(uri="http://bob:pw@tracker:5000"))
    assert target == "http://tracker:5000 http://registry.example.org:5001"
    monkeypatch.delenv("MLFLOW_REGISTRY_URI")
    config, _ = store  # no registry URI: registrations go to the tracking store, named once
    assert mlflow_io.registry_target(config) == config.uri


def test_encode_params_flattens_to_dotted_names_and_keeps_values_exact():
    tree = {
        "prompt": {"style": "released", "max_examples": 3, "lang": "中文"},
        "data": {"languages": ["en", "zh"], "seed": None, "empty": {}},
        "lr": 2e-4,
        "long": "x" * 7000,
    }
    assert mlflow_io.encode_params(tree) == {
        "prompt.style": "released",  # strings as they are, not JSON-quoted
        "prompt.max_examples": "3",
        "prompt.lang": "中文",  # not escaped
        "data.languages": '["en", "zh"]',
        "data.seed": "null",
        "data.empty": "{}",  # an empty mapping is a value, not a prefix
        "lr": "0.0002",
        "long": "x" * 6000,  # MLflow's longest parameter value
    }


def test_flat_params_has_every_parameter_under_its_dotted_name():
    params = load_params(REPO / "params.yaml", overrides=["data.synth.seed=7"])
    flat = mlflow_io.flat_params(params)
    assert flat["data.synth.seed"] == "7"
    assert flat["tracking.experiment"] == params.tracking.experiment
    assert json.loads(flat["registry.guarded_metrics"]) == params.registry.guarded_metrics
    assert set(flat) == set(mlflow_io.flat(params.model_dump(mode="json")))


def test_numeric_keeps_numbers_and_drops_bools_and_strings():
    metrics = {"ner.f1": 0.5, "count": 3, "ok": True, "note": "x", "none": None}
    assert mlflow_io.numeric(metrics) == {"ner.f1": 0.5, "count": 3.0}


def test_data_tags_name_each_input_and_each_dvc_file():
    versions = [
        DataVersion("data/raw/a.jsonl", "aa11", 10, "data/raw.dvc", "ff00.dir"),
        DataVersion("data/raw/b.jsonl", "bb22", 20, "data/raw.dvc", "ff00.dir"),
        DataVersion("data/ontology.yaml", "cc33", 30, "git"),
    ]
    assert mlflow_io.data_tags(versions) == {
        "data.data/raw/a.jsonl": "aa11",
        "data.data/raw/b.jsonl": "bb22",
        "dvc.data/raw.dvc": "ff00.dir",
        "data.data/ontology.yaml": "cc33",
    }


def test_configure_creates_the_experiment_once_with_its_kind_and_artifact_folder(store, tmp_path):
    config, experiment_id = store
    assert (tmp_path / "db").is_dir()  # the SQLite file's folder is made first
    assert mlflow_io.configure(config) == experiment_id
    experiment = mlflow.MlflowClient().get_experiment(experiment_id)
    assert experiment.name == "exp"
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert experiment.artifact_location == (tmp_path / "mlartifacts").resolve().as_uri()


def test_configure_tags_an_experiment_made_elsewhere(store):
    config, _ = store
    client = mlflow.MlflowClient()
    bare = client.create_experiment("made-by-hand")
    assert "mlflow.experimentKind" not in client.get_experiment(bare).tags
    assert mlflow_io.configure(config.model_copy(update={"experiment": "made-by-hand"})) == bare
    assert client.get_experiment(bare).tags["mlflow.experimentKind"] == "custom_model_development"


def test_tracker_logs_params_in_batches_and_metrics_under_grouped_names(store):
    _, experiment_id = store
    client = mlflow.MlflowClient()
    run_id = client.create_run(experiment_id).info.run_id
    tracker = mlflow_io.Tracker(run_id)
    params = {f"p{i:03d}": str(i) for i in range(200)}  # more than one batch of 90
    tracker.params(params)
    tracker.metrics({"ner.f1": 0.25, "ner.lang.zh.f1": 0.5}, step=4)
    tracker.tags({"stage": "evaluate", "long": "y" * 6000})
    data = client.get_run(run_id).data
    assert data.params == params
    assert data.metrics == {"ner/f1": 0.25, "ner/lang/zh/f1": 0.5}
    assert [m.step for m in client.get_metric_history(run_id, "ner/f1")] == [4]
    assert data.tags["stage"] == "evaluate"
    assert data.tags["long"] == "y" * 5000


def test_tracker_logs_artifacts_and_datasets_and_skips_what_is_absent(store, tmp_path):
    _, experiment_id = store
    client = mlflow.MlflowClient()
    run_id = client.create_run(experiment_id).info.run_id
    tracker = mlflow_io.Tracker(run_id)
    report = tmp_path / "report.md"
    report.write_text("# scores\n")
    tracker.artifact(report, "reports")
    tracker.artifact(tmp_path / "missing.md")  # nothing there: nothing logged
    tracker.text("hello", "notes/hello.txt")
    tracker.table([], "empty.json")  # no rows: no table
    tracker.datasets([DataVersion(str(report), "d41d", 9, "git")], context="training")
    listed = sorted(f.path for f in client.list_artifacts(run_id)) + sorted(
        f.path for f in client.list_artifacts(run_id, "reports")
    )
    assert listed == ["notes", "reports", "reports/report.md"]
    (dataset_input,) = client.get_run(run_id).inputs.dataset_inputs
    assert dataset_input.dataset.name == "report.md"
    assert dataset_input.dataset.digest == "d41d"
    tags = {tag.key: tag.value for tag in dataset_input.tags}
    assert tags["mlflow.data.context"] == "training"
    assert tags["dvc.tracked_by"] == "git"
    assert tags["dvc.hash"] == ""


@pytest.mark.parametrize(
    ("uri", "is_model"),
    [
        ("models:/knowcoder-ie@champion", True),
        ("runs:/abc/model", True),
        ("mlflow-artifacts:/1/abc/artifacts/model", True),
        ("artifacts/models/tiny", False),
    ],
)
def test_is_model_uri(uri, is_model):
    assert mlflow_io.is_model_uri(uri) is is_model


def test_local_model_dir_follows_the_mlmodel_file_to_the_model_artifact(store, tmp_path):
    _, experiment_id = store
    client = mlflow.MlflowClient()
    run_id = client.create_run(experiment_id).info.run_id
    mlmodel = "flavors:\n  python_function:\n    artifacts:\n      model:\n        path: artifacts/tiny\n"
    client.log_text(run_id, mlmodel, "model/MLmodel")
    client.log_text(run_id, "{}", "model/artifacts/tiny/config.json")
    local = mlflow_io.local_model_dir(f"runs:/{run_id}/model", tmp_path / "dl")
    assert local.name == "tiny"
    assert (local / "config.json").read_text() == "{}"


def test_local_model_dir_refuses_a_pyfunc_without_a_model_artifact(store, tmp_path):
    _, experiment_id = store
    client = mlflow.MlflowClient()
    run_id = client.create_run(experiment_id).info.run_id
    client.log_text(run_id, "flavors: {}\n", "model/MLmodel")
    with pytest.raises(ValueError, match=r"^runs:/\w+/model is not a knowcoder model: its MLmodel has no"):
        mlflow_io.local_model_dir(f"runs:/{run_id}/model", tmp_path / "dl")
