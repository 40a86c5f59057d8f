"""``knowcoder pipeline`` and ``knowcoder ci-evaluate``: the Prefect flows from the command line.

Without ``PREFECT_API_URL`` Prefect runs an ephemeral server for the duration of the command, and
MLflow logs to SQLite under ``mlruns/`` unless ``tracking.uri`` or ``MLFLOW_TRACKING_URI`` say
otherwise, so both commands work on a fresh machine with nothing started first.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from knowcoder.cli.common import print_json
from knowcoder.errors import ConfigError

STAGE_NAMES = ("data", "corpus", "pretrain", "sft", "align", "evaluate", "register")


def register(commands: argparse._SubParsersAction) -> None:
    pipeline = commands.add_parser(
        "pipeline",
        help="run the whole pipeline as a Prefect flow (data → training → evaluation → registry)",
        description="Runs the Prefect flow knowcoder-pipeline: data versioning and validation, corpora, "
        "pretraining, instruction tuning, cross-lingual alignment, evaluation, registration and promotion. "
        "Unchanged stages come from the cache; tracking goes to MLflow (a parent run, one nested run per "
        "stage).",
    )
    pipeline.add_argument("--start-at", choices=STAGE_NAMES, default=None, help="first stage to run")
    pipeline.add_argument("--stop-after", choices=STAGE_NAMES, default=None, help="last stage to run")
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
    state = pipeline_flow(
        params_path=args.params,
        profile=args.profile,
        overrides=overrides,
        start_at=args.start_at,
        stop_after=args.stop_after,
        skip_align=args.skip_align,
        version_data_changes=args.version_data,
        return_state=True,
    )
    summary = _result(state)
    print_json(summary)
    print(f"\nMLflow run:  {summary['mlflow_run']}", file=sys.stderr)
    print(f"MLflow UI:   {summary['mlflow_ui']}   (then open the run link above)", file=sys.stderr)
    if "registry" in summary:
        registry = summary["registry"]
        role = "champion" if registry["champion"] else "challenger"
        if summary["stages"]["register"]["cached"]:
            print(f"Unchanged:   {registry['uri']} (registered by an earlier run)", file=sys.stderr)
        else:
            print(f"Registered:  {registry['uri']} ({role}: {summary['promotion']})", file=sys.stderr)
    return 0


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
