"""Prefect flow ``knowcoder-evaluate``: score a registered model on a named suite, compare with the champion.

For CI: ``knowcoder ci-evaluate`` runs it and exits non-zero when a guarded metric regressed
beyond ``registry.tolerance`` against the champion. The champion's scores on the suite come
from its version tags (written at registration); when it has none for this suite it is scored
here too, on the same data. Results go to an MLflow run of their own (tagged with the resolved
version, the commit and the MD5 of every gold file) and, as tags, onto the evaluated version. A
model URI the registry does not know fails at once, in one line that says how to fix it.

With ``evaluation.benchmark`` set (``--set evaluation.benchmark.suite=supervised-zh --set
evaluation.benchmark.data_dir=$HOME/benchmarks``) the candidate also runs that benchmark suite
(``knowcoder suite``) on the user's files; its table goes onto the same MLflow run as metrics
``suite/<suite>/<dataset>/<task>/{f1,precision,recall}`` and the artifacts ``suite/<suite>/suite.md``
and ``suite.json``. The benchmark is reported, not gated: the verdict stays the champion comparison.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run

from knowcoder.artifacts import Layout
from knowcoder.config import Params, load_params
from knowcoder.errors import ConfigError
from knowcoder.tracking import mlflow_io
from knowcoder.tracking.mlflow_io import Tracker
from knowcoder.tracking.runs import git_revision
from knowcoder.versioning import file_md5

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@task(name="prepare-suite-data")
def prepare_suite(params: dict[str, Any], suite: str) -> list[str]:
    """The suite's validated inputs; runs the data stage when they are missing."""
    from knowcoder.stages.data import prepare_data
    from knowcoder.versioning import ensure_data

    config = Params.model_validate(params)
    layout = Layout(config)
    paths = [layout.validated(name) for name in config.evaluation.resolve_suite(suite).data]
    if not all(p.is_file() for p in paths):
        ensure_data([*config.paths.raw, config.paths.parallel])
        prepare_data(config)
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"suite {suite!r} needs {missing[0]}, which the data stage did not produce")
    return [str(p) for p in paths]


@task(name="fetch-model")
def fetch_model(params: dict[str, Any], model_uri: str) -> str:
    """The model's local folder: a registry or run URI is downloaded once, a folder is used as is."""
    if not mlflow_io.is_model_uri(model_uri):
        return model_uri
    return str(mlflow_io.local_model_dir(model_uri, tempfile.mkdtemp(prefix="knowcoder-eval-")))


@task(name="run-benchmark")
def run_benchmark(params: dict[str, Any], model_dir: str, source: str, out_dir: str) -> dict[str, Any]:
    """Run ``evaluation.benchmark`` with the model; write and return the suite summary."""
    from knowcoder.suites import check_found, load_suite, model_predictions, run_suite, write_suite_report

    config = Params.model_validate(params)
    spec = config.evaluation.benchmark
    if spec is None:
        raise ConfigError(
            "no benchmark to run: set evaluation.benchmark.suite and .data_dir", field="evaluation.benchmark"
        )
    data_dir = Path(spec.data_dir).expanduser()
    suite = load_suite(spec.suite)
    run = run_suite(
        suite,
        data_dir,
        out_dir,
        model_predictions(model_dir, config),
        params=config,
        source=source,
        lenient=config.evaluation.lenient,
        limit=spec.limit,
    )
    check_found(run, data_dir, require_all=spec.require_all, field="evaluation.benchmark")
    return write_suite_report(run)


@task(name="score-model")
def score_model(params: dict[str, Any], model_uri: str, suite: str, gold: list[str], out_dir: str) -> dict:
    """Download (if a URI) and evaluate one model on the suite; return its metrics."""
    from knowcoder.schema.ontology import load_ontology
    from knowcoder.stages.evaluate import evaluate_model

    config = Params.model_validate(params)
    spec = config.evaluation.resolve_suite(suite)
    evaluation = config.evaluation.model_copy(
        update={"split": spec.split, "tasks": spec.tasks or config.evaluation.tasks}
    )
    config = config.model_copy(update={"evaluation": evaluation})
    model = model_uri
    if mlflow_io.is_model_uri(model_uri):
        model = str(mlflow_io.local_model_dir(model_uri, tempfile.mkdtemp(prefix="knowcoder-eval-")))
    run = evaluate_model(model, gold, out_dir, params=config, ontology=load_ontology(config.paths.ontology))
    return {k: float(v) for k, v in run.result.to_dict().items() if isinstance(v, int | float)}


@flow(name="knowcoder-evaluate", log_prints=True)
def evaluate_flow(
    model_uri: str | None = None,
    suite: str | None = None,
    params_path: str = "params.yaml",
    profile: str | None = None,
    overrides: list[str] | None = None,
) -> dict[str, Any]:
    """Evaluate ``model_uri`` (default: the challenger) on a suite and gate it against the champion."""
    import mlflow

    from knowcoder.tracking.promotion import Decision, decide
    from knowcoder.tracking.registry import CHAMPION, alias_version, champion_metrics, resolve_version

    logger = get_run_logger()
    params = load_params(params_path, profile=profile, overrides=overrides or [])
    suite = suite or params.evaluation.suite
    params.evaluation.resolve_suite(suite)  # an unknown suite fails here, before any download
    benchmark = params.evaluation.benchmark
    if benchmark is not None:
        from knowcoder.suites import load_suite

        load_suite(benchmark.suite)  # so does an unknown benchmark suite
    model_uri = model_uri or f"models:/{params.registry.name}@challenger"
    experiment_id = mlflow_io.configure(params.tracking)
    client = mlflow.MlflowClient()
    resolved = resolve_version(model_uri)  # a missing model fails here, in one line, before any work
    tree = params.model_dump(mode="json")
    out_root = Layout(params).ci_evaluations / time.strftime("%Y%m%d-%H%M%S")

    gold = prepare_suite(tree, suite)
    model_dir = fetch_model(tree, model_uri)
    candidate = score_model(tree, model_dir, suite, gold, str(out_root / "candidate"))
    bench: dict[str, Any] | None = None
    if benchmark is not None:
        bench = run_benchmark(tree, model_dir, model_uri, str(out_root / "benchmark"))
    champion = alias_version(params.registry.name, CHAMPION)
    previous: dict[str, float] | None = None
    if champion is not None:
        previous = champion_metrics(champion, suite) or None
        if previous is None:
            champion_uri = f"models:/{params.registry.name}/{champion.version}"
            previous = score_model(tree, champion_uri, suite, gold, str(out_root / "champion"))
    decision = decide(candidate, previous, params.registry)
    version = resolved[1] if resolved is not None and resolved[0] == params.registry.name else None
    if champion is not None and version == str(champion.version):
        reason = f"the candidate is the champion (version {version}); a model is not compared with itself"
        decision = Decision(False, reason, decision.comparisons)
    passed = not decision.regressions
    commit, dirty = git_revision(Path(params_path).resolve().parent)
    data = {f"data.{path}": file_md5(Path(path)) for path in gold}
    if bench is not None and benchmark is not None:
        for name, info in bench["datasets"].items():
            if info["status"] == "scored":
                data[f"data.{name}"] = file_md5(Path(benchmark.data_dir).expanduser() / info["file"])

    run = client.create_run(
        experiment_id,
        run_name=f"ci-evaluate-{suite}",
        tags={
            "ci.model_uri": model_uri,
            "ci.suite": suite,
            "ci.passed": str(passed).lower(),
            "ci.champion_version": str(champion.version) if champion is not None else "",
            "ci.model_version": version or "",
            "ci.reason": decision.reason,
            "ci.benchmark": bench["suite"] if bench is not None else "",
            "git.commit": commit,
            "git.dirty": str(dirty).lower(),
            "params.hash": params.digest(),
            "prefect.flow_run_id": str(flow_run.get_id() or ""),
            **mlflow_io.source_tags(commit, "knowcoder ci-evaluate (flows/evaluate.py)"),
            **data,
        },
    )
    tracker = Tracker(run.info.run_id)
    tracker.metrics(candidate)
    tracker.text(decision.markdown(), "comparison.md")
    tracker.artifact(out_root / "candidate", "evaluation")
    if bench is not None:
        from knowcoder.suites import suite_metrics

        tracker.metrics(suite_metrics(bench))
        for name in ("suite.md", "suite.json"):
            tracker.artifact(out_root / "benchmark" / name, f"suite/{bench['suite']}")
    client.set_terminated(run.info.run_id, "FINISHED")
    if version is not None:
        client.set_model_version_tag(params.registry.name, version, f"ci.{suite}.passed", str(passed).lower())
    url = mlflow_io.run_url(params.tracking, experiment_id, run.info.run_id)
    create_markdown_artifact(
        markdown=f"## CI evaluation of `{model_uri}` on `{suite}`: {'passed' if passed else 'REGRESSED'}\n\n"
        + decision.markdown()
        + (
            ""
            if bench is None
            else f"\nBenchmark `{bench['suite']}` (reported, not gated): "
            + ", ".join(f"{k} {'-' if v is None else v}" for k, v in bench["scores"].items())
            + "\n"
        )
        + f"\nMLflow run: {url}\n",
        key="knowcoder-ci-evaluation",
    )
    logger.info("CI evaluation %s: %s", "passed" if passed else "failed", decision.reason)
    return {
        "passed": passed,
        "model_uri": model_uri,
        "model_version": version,
        "suite": suite,
        "reason": decision.reason,
        "regressions": [c.metric for c in decision.regressions],
        "table": decision.markdown(),
        "metrics": {k: v for k, v in candidate.items() if k.count(".") == 1 and k.endswith(".f1")},
        "mlflow_run": url,
        "benchmark": None
        if bench is None
        else {
            "suite": bench["suite"],
            "scores": bench["scores"],
            "report": str(out_root / "benchmark" / "suite.md"),
        },
    }


if __name__ == "__main__":
    print(evaluate_flow())
