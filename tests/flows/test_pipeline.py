"""End to end: the knowcoder-pipeline flow on the smoke profile, with a real Prefect and MLflow."""

from __future__ import annotations

import mlflow
import pytest

from knowcoder.versioning import file_md5

from ..conftest import REPO

pytestmark = pytest.mark.slow
NAME = "knowcoder-ie"
SUITE = "heldout"  # evaluation.suite: the held-out synthetic test split


@pytest.fixture(scope="module")
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    overrides = [
        f"paths.artifacts={root / 'artifacts'}",
        f"tracking.uri=sqlite:///{root / 'mlflow.db'}",
        f"tracking.artifact_location={root / 'mlartifacts'}",
    ]
    return root, overrides


def run(overrides, *extra, **options):
    from flows.pipeline import pipeline_flow

    return pipeline_flow(
        params_path=str(REPO / "params.yaml"),
        profile="smoke",
        overrides=[*overrides, *extra],
        return_state=True,
        **options,
    )


@pytest.fixture(scope="module")
def first(prefect_server, workspace):
    import os

    cwd = os.getcwd()
    os.chdir(REPO)  # params name the bundled data relative to the repository root
    try:
        state = run(workspace[1])
    finally:
        os.chdir(cwd)
    assert state.is_completed(), state.message
    return state.result()


@pytest.fixture
def in_repo(monkeypatch):
    monkeypatch.chdir(REPO)


@pytest.fixture(scope="module")
def challenger(first, workspace):
    """A second, worse candidate (changed sft learning rate) against a champion that scored 0.9."""
    import os

    champion = client().get_model_version_by_alias(NAME, "champion")
    set_champion_metric("ner.f1", 0.9)  # the smoke model cannot get near that
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        state = run(workspace[1], "train.sft.learning_rate=0.002")
    finally:
        os.chdir(cwd)
    assert state.is_completed(), state.message
    return champion, state.result()


def client():
    return mlflow.MlflowClient()


def set_champion_metric(metric: str, value: float) -> None:
    """Overwrite a metric of the champion's run (where the gate reads it), as if it had scored ``value``."""
    champion = client().get_model_version_by_alias(NAME, "champion")
    client().log_metric(champion.tags["eval.run_id"], metric.replace(".", "/"), value)


def test_one_parent_run_with_a_nested_run_per_stage(first):
    parent = client().get_run(first["run_id"])
    assert parent.info.status == "FINISHED"
    children = client().search_runs(
        [first["experiment_id"]], filter_string=f"tags.mlflow.parentRunId = '{first['run_id']}'"
    )
    assert sorted(r.info.run_name for r in children) == sorted(
        ["data", "corpus", "pretrain", "sft", "align", "evaluate", "register"]
    )
    assert all(r.info.status == "FINISHED" for r in children)
    by_name = {r.info.run_name: r for r in children}
    # per-step training curves on the training runs
    history = client().get_metric_history(by_name["pretrain"].info.run_id, "loss")
    assert [m.step for m in history] == [1, 2]
    assert client().get_metric_history(by_name["sft"].info.run_id, "learning_rate")
    # stage params logged flat, evaluation metrics under consistent names
    assert by_name["sft"].data.params["train.sft.max_steps"] == "2"
    assert {"ner/f1", "re/strict/f1", "ner/lang/en/f1", "ner/lang/zh/f1"} <= set(
        by_name["evaluate"].data.metrics
    )
    assert {"ner/f1", "ner/lang/zh/f1", "pipeline/wall_s", "pipeline/overhead_s"} <= set(parent.data.metrics)
    # each headline F1 with its interval; the report suite's headline metrics under its name
    assert {"ner/f1_ci_low", "ner/f1_ci_high", "ner/lang/zh/f1_ci_low", "sample-test/ner/f1"} <= set(
        parent.data.metrics
    )
    # MLflow's own source and user tags, and the experiment opens in the model-development view
    assert parent.data.tags["mlflow.source.git.commit"] == parent.data.tags["git.commit"]
    assert {"mlflow.source.name", "mlflow.user"} <= set(parent.data.tags)
    experiment = client().get_experiment(first["experiment_id"])
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    # one parameter encoding: JSON for non-strings, on the parent and the stage runs alike
    assert by_name["data"].data.params["data.synth.languages"] == parent.data.params["data.synth.languages"]
    assert parent.data.params["data.synth.languages"] == '["en", "zh"]'
    # sample predictions with gold, every task
    table = client().load_table(
        first["experiment_id"], "sample_predictions.json", run_ids=[by_name["evaluate"].info.run_id]
    )
    assert set(table["task"]) == {"ner", "re", "ed", "eae"} and "gold" in table.columns
    evaluation = [a.path for a in client().list_artifacts(by_name["evaluate"].info.run_id, "evaluation")]
    assert "evaluation/report.md" in evaluation and "evaluation/metrics.json" in evaluation
    schema = [a.path for a in client().list_artifacts(first["run_id"], "schema")]
    assert "schema/ner.py" in schema


def test_the_parent_run_records_which_data_it_saw(first):
    parent = client().get_run(first["run_id"])
    for path in ("data/raw/sample/en.jsonl", "data/raw/parallel/en_zh.jsonl"):
        assert parent.data.tags[f"data.{path}"] == file_md5(REPO / path)
    assert parent.data.tags["dvc.data/raw.dvc"].endswith(".dir")
    assert parent.data.tags["params.hash"] and parent.data.tags["git.commit"]
    assert parent.data.tags["prefect.flow_run_id"]
    digests = {d.dataset.name: d.dataset.digest for d in parent.inputs.dataset_inputs}
    assert digests["en.jsonl"] == file_md5(REPO / "data/raw/sample/en.jsonl")


def test_the_registered_champion_loads_and_predicts_records(first):
    assert first["registry"]["champion"] is True
    version = client().get_model_version_by_alias(NAME, "champion")
    assert str(version.version) == first["registry"]["version"]
    assert {"git.commit", "params.hash", "prefect.flow_run_id", f"eval.{SUITE}.ner.f1"} <= set(version.tags)
    assert any(key.startswith("data.") for key in version.tags)
    model = mlflow.pyfunc.load_model(f"models:/{NAME}@champion")
    rows = model.predict(
        [{"text": "Ada Park joined Acme Corp in Paris.", "types": ["Person", "Organization"]}]
    )
    assert len(rows) == 1
    assert {"text", "entities", "relations", "events"} <= set(rows[0])
    assert isinstance(rows[0]["entities"], list)


def test_a_second_run_with_unchanged_inputs_is_served_from_the_cache(first, workspace, in_repo):
    before = client().search_model_versions(f"name = '{NAME}'")
    state = run(workspace[1])
    assert state.is_completed(), state.message
    summary = state.result()
    assert {stage: info["cached"] for stage, info in summary["stages"].items()} == dict.fromkeys(
        ["data", "corpus", "pretrain", "sft", "align", "evaluate", "register"], True
    )
    versions = client().search_model_versions(f"name = '{NAME}'")
    assert len(versions) == len(before)  # nothing new to register
    assert summary["registry"]["version"] == first["registry"]["version"]


def test_a_worse_candidate_stays_challenger(challenger):
    champion, summary = challenger
    cached = {stage for stage, info in summary["stages"].items() if info["cached"]}
    assert cached == {"data", "corpus", "pretrain"}  # only what the changed parameter feeds re-ran
    new = summary["registry"]["version"]
    assert new != str(champion.version) and summary["registry"]["champion"] is False
    assert client().get_model_version_by_alias(NAME, "champion").version == champion.version
    assert client().get_model_version(NAME, new).tags["promotion.decision"] == "challenger"
    parent = client().get_run(summary["run_id"])
    assert parent.data.tags["promotion.decision"] == "challenger"
    assert "promotion.md" in [a.path for a in client().list_artifacts(summary["run_id"])]


def test_a_run_that_fails_midway_registers_nothing(first, workspace, in_repo):
    before = {v.version for v in client().search_model_versions(f"name = '{NAME}'")}
    state = run(workspace[1], "train.align.learning_rate=0.003", "evaluation.data=[sample-en, no-such-input]")
    assert state.is_failed()
    after = {v.version for v in client().search_model_versions(f"name = '{NAME}'")}
    assert after == before
    failed = client().search_runs(
        [first["experiment_id"]],
        filter_string="attributes.status = 'FAILED' and tags.`pipeline.stages` != ''",
    )
    assert failed, "the parent run of the failed flow is marked FAILED"


def test_extract_and_evaluate_take_a_registry_uri(first, workspace, in_repo, capsys):
    import json

    from knowcoder.cli.main import main

    common = ["--profile", "smoke", *[arg for o in workspace[1] for arg in ("--set", o)]]
    text = "Ada Park joined Acme Corp in Paris."
    code = main(
        [
            *common,
            "extract",
            "--model",
            f"models:/{NAME}@champion",
            "--task",
            "ner",
            "--types",
            "Person",
            "--text",
            text,
        ]
    )
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == {"records", "output", "report"}


def test_ci_evaluate_fails_on_a_regression_against_the_champion(challenger, workspace, in_repo, capsys):
    import json

    from knowcoder.cli.main import main

    common = ["--profile", "smoke", *[arg for o in workspace[1] for arg in ("--set", o)]]
    set_champion_metric("re.f1", 0.0)
    assert main([*common, "ci-evaluate"]) == 0  # no guarded metric below the champion's
    passed = json.loads(capsys.readouterr().out)
    assert passed["passed"] is True and passed["regressions"] == []
    # the champion scored 0.9 on relations: the challenger's 0.0 is a regression beyond 0.02
    set_champion_metric("re.f1", 0.9)
    assert main([*common, "ci-evaluate"]) == 1
    failed = json.loads(capsys.readouterr().out)
    assert failed["regressions"] == ["re.f1"]
    runs = client().search_runs([challenger[1]["experiment_id"]], filter_string="tags.`ci.passed` = 'false'")
    assert len(runs) == 1 and runs[0].data.tags["ci.model_uri"] == f"models:/{NAME}@challenger"
    challenger = client().get_model_version_by_alias(NAME, "challenger")
    assert runs[0].data.tags["ci.model_version"] == str(challenger.version)
    assert runs[0].data.tags["git.commit"] and runs[0].data.tags["mlflow.source.git.commit"]
    assert any(key.startswith("data.") and key.endswith(".jsonl") for key in runs[0].data.tags)


def test_ci_evaluate_of_a_missing_model_fails_in_one_line_with_the_fix(first, workspace, in_repo, capsys):
    from knowcoder.cli.main import main

    common = ["--profile", "smoke", *[arg for o in workspace[1] for arg in ("--set", o)]]
    assert main([*common, "ci-evaluate", "--model", f"models:/{NAME}@no-such-alias"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"models:/{NAME}@no-such-alias does not exist in the registry at sqlite:///" in err
    assert "register one first (knowcoder pipeline)" in err


def test_a_cached_registration_is_checked_against_the_registry(challenger, workspace, in_repo):
    # given a pipeline whose stages are all cached, and a registry that lost the registered version
    from knowcoder.tracking.registry import CHALLENGER

    latest = client().get_model_version_by_alias(NAME, CHALLENGER)
    before = {str(v.version) for v in client().search_model_versions(f"name = '{NAME}'")}
    client().delete_model_version(NAME, latest.version)
    # when the same pipeline runs again
    state = run(workspace[1], "train.sft.learning_rate=0.002")
    assert state.is_completed(), state.message
    summary = state.result()
    # then what was cached stays cached, but the missing registration is made again
    assert {"data", "corpus", "pretrain"} <= {s for s, i in summary["stages"].items() if i["cached"]}
    assert summary["stages"]["register"]["cached"] is False
    version = summary["registry"]["version"]
    assert version not in before and client().get_model_version(NAME, version)


def test_another_tracking_server_is_another_registration(first, workspace, in_repo, tmp_path):
    # given a fresh, empty tracking store beside the one the pipeline registered to
    _, overrides = workspace
    other = [*overrides, f"tracking.uri=sqlite:///{tmp_path / 'other.db'}"]
    # when the pipeline starts at evaluate against it
    state = run(other, start_at="evaluate")
    assert state.is_completed(), state.message
    summary = state.result()
    # then the registration is not taken from the cache: the new store gets version 1
    assert summary["stages"]["register"]["cached"] is False
    assert summary["registry"]["version"] == "1"
    assert client().get_model_version(NAME, "1").tags["eval.run_id"] == summary["run_id"]


@pytest.fixture
def parent_status_at_registration(monkeypatch):
    """The parent run's status as the register task hands the logged model to the registry, and after."""
    import knowcoder.tracking.registry as registry

    seen: list[str] = []
    register_and_promote = registry.register_and_promote

    def watched(model_uri, *, run_id, **options):
        seen.append(client().get_run(run_id).info.status)  # the model is logged on the parent by now
        decision = register_and_promote(model_uri, run_id=run_id, **options)
        seen.append(client().get_run(run_id).info.status)
        return decision

    monkeypatch.setattr(registry, "register_and_promote", watched)
    return seen


def test_only_the_flow_ends_its_parent_run(
    first, workspace, in_repo, tmp_path, parent_status_at_registration
):
    # given a fresh registry, so that register runs (earlier stages come from the cache)
    _, overrides = workspace
    other = [*overrides, f"tracking.uri=sqlite:///{tmp_path / 'fresh.db'}"]
    # when the pipeline runs to its end
    state = run(other, start_at="evaluate")
    assert state.is_completed(), state.message
    # then the parent run was RUNNING while register logged to it and registered, FINISHED after
    assert parent_status_at_registration == ["RUNNING", "RUNNING"]
    assert client().get_run(state.result()["run_id"]).info.status == "FINISHED"


def test_a_step_failing_after_register_leaves_the_parent_failed(
    first, workspace, in_repo, tmp_path, monkeypatch, parent_status_at_registration
):
    import flows.pipeline

    # given a fresh registry, and a step after register that raises
    def broken(tracker, params):
        raise RuntimeError("schema logging failed")

    monkeypatch.setattr(flows.pipeline, "log_schema", broken)
    _, overrides = workspace
    other = [*overrides, f"tracking.uri=sqlite:///{tmp_path / 'failing.db'}"]
    # when the pipeline runs
    state = run(other, start_at="evaluate")
    # then register ran on a RUNNING parent, and the flow's failure marked the parent FAILED
    assert state.is_failed()
    assert parent_status_at_registration == ["RUNNING", "RUNNING"]
    experiment = client().get_experiment_by_name("knowcoder").experiment_id
    (parent,) = client().search_runs([experiment], "attributes.run_name LIKE 'pipeline-%'")
    assert parent.info.status == "FAILED"


def test_a_toy_stage_runs_in_the_flow_from_its_table_entry(first, workspace, in_repo):
    """Adding a stage is one table entry: the flow runs it, caches it and gives it its MLflow run."""
    from pathlib import Path

    from knowcoder.stages import pipeline as stages
    from knowcoder.stages.base import Stage, StageOutput

    def count_synthetic(context):
        synth = Path(context.upstream[0].outputs["synth"])
        out = synth.parent / "toy-count.txt"
        rows = sum(1 for _ in synth.open(encoding="utf-8"))
        out.write_text(f"{rows}\n")
        return StageOutput("toy", context.fingerprint, {"count": str(out)}, {"toy.rows": float(rows)})

    def log_count(context, output):
        context.stage.tags({"toy.logged": "yes"})

    toy = Stage("toy", ("data.synth",), stages.reads("data"), count_synthetic, log=log_count)
    stages.add_stage(toy, after="data")
    try:
        state = run(workspace[1], stop_after="toy")
        assert state.is_completed(), state.message
        summary = state.result()
        assert {s: i["cached"] for s, i in summary["stages"].items()} == {"data": True, "toy": False}
        again = run(workspace[1], stop_after="toy").result()
        assert again["stages"]["toy"]["cached"] is True
    finally:
        stages.remove_stage("toy")
    (child,) = client().search_runs(
        [summary["experiment_id"]],
        f"tags.mlflow.parentRunId = '{summary['run_id']}' and attributes.run_name = 'toy'",
    )
    assert child.data.metrics["toy/rows"] == 48.0  # the smoke profile's 40 + 4 + 4 synthetic sentences
    assert child.data.tags["toy.logged"] == "yes" and child.data.params["data.synth.train"] == "40"
