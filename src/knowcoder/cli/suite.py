"""``knowcoder suite ...``: benchmark suites that reproduce the settings of KnowCoder's tables."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from knowcoder.artifacts import Layout
from knowcoder.cli.common import params_from, print_json
from knowcoder.errors import ConfigError


def register(commands: argparse._SubParsersAction) -> None:
    suite = commands.add_parser(
        "suite",
        help="benchmark suites: files to a score table beside the paper's",
        description="Named suites (zero-shot-ner, supervised-en, supervised-zh) bundle each "
        "benchmark's label set, class descriptions, accepted file formats and the paper's numbers.",
    )
    sub = suite.add_subparsers(dest="suite_command", metavar="SUBCOMMAND", required=True)

    listing = sub.add_parser("list", help="the bundled suites and their datasets")
    listing.set_defaults(handler=run_list)

    show = sub.add_parser("show", help="a suite's datasets: accepted files, formats, classes")
    show.add_argument("suite", help="a bundled suite name or a suite YAML file")
    show.set_defaults(handler=run_show)

    run = sub.add_parser(
        "run",
        help="import a suite's files from --data-dir, validate, score, write suite.md/suite.json",
        description="Each dataset's file is looked up under --data-dir by the names `suite show` "
        "lists (the first that exists wins); a dataset without a file is reported missing, or is "
        "an error with --require-all. Scores are strict micro F1 (--lenient: KnowCoder's ancestor "
        "matching). Either --model (generate) or --pred (score stored predictions: a JSONL keyed "
        "'<instance id>:<task>', or an earlier run's --out-dir).",
    )
    run.add_argument("suite", help="a bundled suite name or a suite YAML file")
    run.add_argument("--data-dir", required=True, help="folder holding the benchmark files")
    run.add_argument(
        "--model", default=None, help="model directory (merged or LoRA adapter) or MLflow URI (models:/...)"
    )
    run.add_argument(
        "--pred", default=None, help="predictions JSONL, or an earlier suite run's output folder"
    )
    run.add_argument("--out-dir", default=None, help="default: <paths.artifacts>/suites/<suite>")
    run.add_argument("--constrained", action="store_true", default=None, help="schema-constrained decoding")
    run.add_argument("--lenient", action="store_true", help="KnowCoder's lenient type matching")
    run.add_argument("--limit", type=int, default=None, help="first N instances per dataset (smoke test)")
    run.add_argument("--require-all", action="store_true", help="fail when a dataset's file is missing")
    run.set_defaults(handler=run_run)


def run_list(args: argparse.Namespace) -> int:
    from knowcoder.suites import bundled_suites, load_suite

    for name in bundled_suites():
        suite = load_suite(name)
        columns = ", ".join(suite.column_titles().values())
        print(f"{name:<16} {suite.title}")
        print(f"{'':<16} columns: {columns}{' + average' if suite.average else ''}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from knowcoder.suites import label_set, load_suite

    suite = load_suite(args.suite)
    datasets = {}
    for dataset in suite.datasets:
        ontology = suite.load_ontology(dataset)
        datasets[dataset.name] = {
            "lang": dataset.lang,
            "tasks": list(dataset.tasks),
            "files": [f.model_dump() for f in dataset.files],
            "ignore_labels": list(dataset.ignore_labels),
            "ontology": str(suite.ontology_path(dataset)),
            "classes": {task: label_set(ontology, task) for task in dataset.tasks},
        }
    print_json({"suite": suite.name, "title": suite.title, "split": suite.split, "datasets": datasets})
    return 0


def run_run(args: argparse.Namespace) -> int:
    from knowcoder.cli.evaluate import _model_dir
    from knowcoder.suites import (
        check_found,
        load_suite,
        model_predictions,
        run_suite,
        stored_predictions,
        write_suite_report,
    )

    params = params_from(args)
    suite = load_suite(args.suite)
    if bool(args.model) == bool(args.pred):
        raise ConfigError("pass either --model (generate) or --pred (stored predictions)", field="suite run")
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be a positive number, got {args.limit}", field="--limit")
    if args.model:
        predictions = model_predictions(_model_dir(args.model, params), params, constrained=args.constrained)
        source = args.model
    else:
        predictions = stored_predictions(args.pred)
        source = args.pred
    out_dir = Path(args.out_dir or Layout(params).suite_table(suite.name))
    run = run_suite(
        suite,
        args.data_dir,
        out_dir,
        predictions,
        params=params,
        source=source,
        lenient=args.lenient or params.evaluation.lenient,
        limit=args.limit,
    )
    check_found(
        run,
        args.data_dir,
        require_all=args.require_all,
        field="--require-all" if args.require_all else "--data-dir",
    )
    missing = [d for d in run.datasets if d.status == "missing"]
    summary = write_suite_report(run)
    for dataset in missing:
        print(
            f"note: {dataset.name}: no file found (expected one of {', '.join(dataset.expected)})",
            file=sys.stderr,
        )
    print(f"report: {out_dir / 'suite.md'}", file=sys.stderr)
    print_json(summary["scores"])
    return 0
