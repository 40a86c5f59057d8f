"""``ci-evaluate`` with a benchmark suite: the flow runs it and logs its table to a real MLflow store.

A 1-layer random model generates, so the scores are noise; what is checked is that every scored
column of the suite lands on the CI run as ``suite/<suite>/<dataset>/<task>/...`` with the value of
``suite.json``, that the report is an artifact, and that the benchmark files' MD5s are tagged.
The DuIE file is the real cut in tests/fixtures/benchmarks (SOURCE.md there).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mlflow
import pytest

from knowcoder.modeling.tiny import build_tiny_model, save_model_dir
from knowcoder.modeling.tokenizer import train_tokenizer
from knowcoder.versioning import file_md5

from ..conftest import FIXTURES, REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    texts = [
        (FIXTURES / "benchmarks" / "duie_train.jsonl").read_text(encoding="utf-8"),
        'class Relation: results = [AuthorOf(Person("x"), Book("y"))]',
    ]
    tokenizer = train_tokenizer(texts, vocab_size=400, min_frequency=1)
    model = build_tiny_model(tokenizer, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)
    return save_model_dir(model, tokenizer, tmp_path_factory.mktemp("ci-model") / "model")


def test_ci_evaluate_runs_the_benchmark_suite_and_logs_its_table(
    prefect_server, tiny_model, tmp_path, monkeypatch
):
    from flows.evaluate import evaluate_flow

    monkeypatch.chdir(REPO)  # params name the bundled sample data relative to the repository root
    data = tmp_path / "benchmarks"
    data.mkdir()
    shutil.copy(FIXTURES / "benchmarks" / "duie_train.jsonl", data / "duie_dev.json")
    shutil.copy(FIXTURES / "importers" / "duee.jsonl", data / "duee_dev.json")
    state = evaluate_flow(
        model_uri=str(tiny_model),
        suite="sample-test",
        params_path=str(REPO / "params.yaml"),
        profile="smoke",
        overrides=[
            f"paths.artifacts={tmp_path / 'artifacts'}",
            f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
            f"tracking.artifact_location={tmp_path / 'mlartifacts'}",
            "evaluation.max_new_tokens=8",
            "evaluation.benchmark.suite=supervised-zh",
            f"evaluation.benchmark.data_dir={data}",
        ],
        return_state=True,
    )
    assert state.is_completed(), state.message
    result = state.result()
    bench = result["benchmark"]
    assert bench["suite"] == "supervised-zh"
    assert set(bench["scores"]) == {"msra.ner", "weibo.ner", "duie.re", "duee.ed", "duee.eae"}
    assert bench["scores"]["msra.ner"] is None and bench["scores"]["weibo.ner"] is None
    summary = json.loads((Path(bench["report"]).parent / "suite.json").read_text(encoding="utf-8"))

    client = mlflow.MlflowClient()
    run_id = result["mlflow_run"].rstrip("/").rsplit("/", 1)[-1]
    run = client.get_run(run_id)
    logged = {k: v for k, v in run.data.metrics.items() if k.startswith("suite/")}
    expected = {
        f"suite/supervised-zh/{dataset}/{task}/{measure}": summary["details"][f"{dataset}.{task}"][measure]
        for dataset, task in (("duie", "re"), ("duee", "ed"), ("duee", "eae"))
        for measure in ("f1", "precision", "recall")
    }
    assert logged == pytest.approx(expected)
    # the default evaluation is still there, under its own names
    assert "ner/f1" in run.data.metrics
    assert run.data.tags["ci.benchmark"] == "supervised-zh"
    assert run.data.tags["data.duie"] == file_md5(data / "duie_dev.json")
    assert run.data.tags["data.duee"] == file_md5(data / "duee_dev.json")
    artifacts = {a.path for a in client.list_artifacts(run_id, "suite/supervised-zh")}
    assert artifacts == {"suite/supervised-zh/suite.md", "suite/supervised-zh/suite.json"}
    table = client.download_artifacts(run_id, "suite/supervised-zh/suite.md", str(tmp_path / "dl"))
    assert "| **this run** |" in Path(table).read_text(encoding="utf-8")
