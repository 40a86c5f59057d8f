"""``knowcoder pipeline`` and ``knowcoder ci-evaluate``: the Prefect flows from the command line.

Without ``PREFECT_API_URL`` Prefect runs an ephemeral server for the duration of the command, and
MLflow logs to SQLite under ``mlruns/`` unless ``tracking.uri`` or ``MLFLOW_TRACKING_URI`` say
otherwise, so both commands work on a fresh machine with nothing started first.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from knowcoder.artifacts import Layout
from knowcoder.cli.common import print_json
from knowcoder.errors import ConfigError


def register(commands: argparse._SubParsersAction) -> None:
    from knowcoder.stages.pipeline import stage_names

    pipeline = commands.add_parser(
        "pipeline",
        help="run the whole pipeline as a Prefect flow (data → training → evaluation → registry)",
        description="Runs the Prefect flow knowcoder-pipeline: data versioning and validation, corpora, "
        "pretraining, instruction tuning, cross-lingual alignment, evaluation, registration and promotion. "
        "Unchanged stages come from the cache; tracking goes to MLflow (a parent run, one nested run per "
        "stage).",
    )
    pipeline.add_argument("--start-at", choices=stage_names(), default=None, help="first stage to run")
    pipeline.add_argument("--stop-after", choices=stage_names(), default=None, help="last stage to run")
    pipeline.add_argument("--skip-align", action="store_true", help="no cross-lingual alignment stage")
    pipeline.add_argument(
        "--version-data",
        action="store_true",
        help="when a DVC-tracked input changed, record the new version (dvc add + push) instead of failing",
    )
    pipeline.add_argument("--no-cache", action="store_true", help="run every selected stage again")
    pipeline.set_defaults(handler=run_pipeline)

    ci = commands.add_parser(
        "ci-evaluate",
        help="evaluate a registered model on a named suite and fail on regression against the champion",
        description="Runs the Prefect flow knowcoder-evaluate. Exit code 0: no guarded metric fell more "
        "than registry.tolerance below the champion's; 1: a regression (the table says which).",
    )
    ci.add_argument(
        "--model", default=None, help="model URI or folder (default: models:/<registry.name>@challenger)"
    )
    ci.add_argument("--suite", default=None, help="evaluation suite (default: evaluation.suite)")
    ci.set_defaults(handler=run_ci_evaluate)


def _quiet_prefect() -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # the ephemeral server shares the machine with training: give it time to come up on a busy CPU
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def _flow_overrides(args: argparse.Namespace) -> list[str]:
    return list(args.overrides)


def run_pipeline(args: argparse.Namespace) -> int:
    _quiet_prefect()
    from flows.pipeline import pipeline_flow

    overrides = _flow_overrides(args)
    if args.no_cache:
        overrides.append("pipeline.cache=false")
    options = {
        "params_path": args.params,
        "profile": args.profile,
        "overrides": overrides,
        "start_at": args.start_at,
        "stop_after": args.stop_after,
        "skip_align": args.skip_align,
        "version_data_changes": args.version_data,
        "return_state": True,
    }
    if args.verbose:  # every library's own output, as the libraries print it
        summary = _result(pipeline_flow(**options))
        print_json(summary)
        _print_where(summary)
        return 0
    return _run_with_console(args, pipeline_flow, options)


def _run_with_console(args: argparse.Namespace, pipeline_flow: Any, options: dict[str, Any]) -> int:
    """The flow behind one progress display; library output to a log file; a summary table at the end."""
    import json
    import logging

    from knowcoder import console
    from knowcoder.cli.common import params_from

    params = params_from(args)
    log_file = console.log_path_for(params.paths.artifacts)
    stream = sys.stderr
    print(
        f"Starting the pipeline (Prefect, MLflow); library output goes to {console.shown_path(log_file)}",
        file=stream,
        flush=True,
    )
    try:
        with console.pipeline_console(log_file, stream):
            summary = _result(pipeline_flow(**options))
            json_file = log_file.with_suffix(".json")
            json_file.write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
            _log_to_run(summary, log_file)
    except BaseException:
        print(f"Log file: {console.shown_path(log_file)} (the details)", file=stream, flush=True)
        raise
    finally:
        # Prefect stops its temporary server as the process exits: that INFO line is for no one
        logging.getLogger("prefect").setLevel(logging.WARNING)
    report = Layout(params).evaluation(params.evaluation.suite)
    evaluated = "evaluate" in summary["stages"]
    scores = console.read_scores(report / "headline.json") if evaluated else {}
    table = console.summary_table(
        summary,
        scores=scores or summary.get("metrics", {}),
        tasks=params.evaluation.tasks,
        suite=params.evaluation.suite,
        report=report / "report.html" if evaluated else None,
        log_file=log_file,
        json_file=json_file,
    )
    print("\n" + table, file=stream, flush=True)
    if not sys.stdout.isatty():  # scripts read the summary from stdout; a terminal has the table
        print_json(summary)
    return 0


def _log_to_run(summary: dict[str, Any], log_file: Path) -> None:
    """The log file as an artifact of the pipeline's MLflow run (``logs/``)."""
    from knowcoder.tracking.mlflow_io import Tracker

    Tracker(summary["run_id"]).artifact(log_file, "logs")


def _print_where(summary: dict[str, Any]) -> None:
    print(f"\nMLflow run:  {summary['mlflow_run']}", file=sys.stderr)
    print(f"MLflow UI:   {summary['mlflow_ui']}   (then open the run link above)", file=sys.stderr)
    if "registry" in summary:
        registry = summary["registry"]
        role = "champion" if registry["champion"] else "challenger"
        if summary["stages"]["register"]["cached"]:
            print(f"Unchanged:   {registry['uri']} (registered by an earlier run)", file=sys.stderr)
        else:
            print(f"Registered:  {registry['uri']} ({role}: {summary['promotion']})", file=sys.stderr)


def run_ci_evaluate(args: argparse.Namespace) -> int:
    _quiet_prefect()
    from flows.evaluate import evaluate_flow

    from knowcoder.cli.common import params_from
    from knowcoder.tracking import mlflow_io
    from knowcoder.tracking.registry import resolve_version

    params = params_from(args)
    mlflow_io.configure(params.tracking)
    # a model the registry lacks: one line with the fix, before Prefect starts (and logs a traceback)
    resolve_version(args.model or f"models:/{params.registry.name}@challenger")

    state = evaluate_flow(
        model_uri=args.model,
        suite=args.suite,
        params_path=args.params,
        profile=args.profile,
        overrides=_flow_overrides(args),
        return_state=True,
    )
    result = _result(state)
    print(result.pop("table"), file=sys.stderr)
    print_json(result)
    return 0 if result["passed"] else 1


def _result(state: Any) -> dict[str, Any]:
    """The flow's return value; a failed flow becomes one line naming the failing step."""
    from knowcoder.errors import KnowCoderError

    if state.is_completed():
        return state.result()
    try:
        state.result()
    except KnowCoderError:
        raise
    except Exception as error:
        raise ConfigError(f"{type(error).__name__}: {error}", field=state.name) from error
    raise ConfigError(f"the flow ended in state {state.name}", field="flow")
