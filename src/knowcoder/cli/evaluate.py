"""``knowcoder evaluate`` and ``knowcoder extract``: scoring and extraction."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from knowcoder.artifacts import Layout
from knowcoder.cli.common import ontology_from, params_from, print_json, split_names
from knowcoder.errors import ConfigError
from knowcoder.tasks import TASKS


def register(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser(
        "evaluate",
        help="score predictions against gold data, or generate with a model and score",
        description="Either --pred P.jsonl --gold G.jsonl (score existing predictions) or --model PATH "
        "--data D.jsonl (generate, then score). Writes metrics.json, per_type.csv, report.md, "
        "report.html and plots into --out-dir. Scores are strict micro P/R/F1 on (type, span text) "
        "multisets; --lenient also accepts a predicted entity type whose ancestor is the gold type.",
    )
    evaluate.add_argument(
        "--pred", default=None, help="predictions JSONL (id '<instance id>:<task>', records or output)"
    )
    evaluate.add_argument(
        "--gold", action="append", default=[], help="canonical JSONL with the gold annotations"
    )
    evaluate.add_argument(
        "--model",
        default=None,
        help="model directory (merged checkpoint or LoRA adapter) or MLflow URI (models:/NAME@ALIAS)",
    )
    evaluate.add_argument(
        "--data", action="append", default=[], help="canonical JSONL to generate for and score"
    )
    evaluate.add_argument(
        "--suite",
        default=None,
        help="with --model and no --data: the evaluation suite to generate for and score, as the "
        "pipeline does (default: evaluation.suite); otherwise the report folder's name",
    )
    evaluate.add_argument(
        "--out-dir",
        default=None,
        help="default: <paths.artifacts>/evaluation/<suite>, the pipeline's folder for the same suite "
        "(without --suite: named after the first --data or --pred file)",
    )
    evaluate.add_argument("--tasks", default=None, help="comma-separated tasks (default: evaluation.tasks)")
    evaluate.add_argument(
        "--split", default=None, help="only instances of this split (default: evaluation.split)"
    )
    evaluate.add_argument("--all-splits", action="store_true", help="score every instance whatever its split")
    evaluate.add_argument(
        "--constrained", action="store_true", default=None, help="schema-constrained decoding"
    )
    evaluate.add_argument(
        "--lenient", action="store_true", default=None, help="KnowCoder's lenient type matching"
    )
    evaluate.add_argument(
        "--ontology", default=None, help="ontology YAML (default: paths.ontology in params)"
    )
    evaluate.set_defaults(handler=run_evaluate)

    extract = commands.add_parser("extract", help="extract records from one sentence and print them as JSON")
    extract.add_argument(
        "--model",
        default=None,
        help="model directory (merged checkpoint or LoRA adapter) or MLflow URI (models:/NAME@ALIAS); "
        "default: model.base in params",
    )
    extract.add_argument("--task", required=True, choices=sorted(TASKS))
    extract.add_argument("--types", required=True, help="comma-separated classes the prompt defines")
    extract.add_argument("--text", required=True)
    extract.add_argument("--constrained", action="store_true", help="schema-constrained decoding")
    extract.add_argument("--ontology", default=None, help="ontology YAML (default: paths.ontology in params)")
    extract.set_defaults(handler=run_extract)


def _model_dir(value: str, params: Any) -> str:
    """A model folder, or the folder inside a logged model (``models:/name@alias``, ``runs:/...``)."""
    from knowcoder.tracking import mlflow_io

    if not mlflow_io.is_model_uri(value):
        return value
    mlflow_io.configure(params.tracking)
    return str(mlflow_io.local_model_dir(value, tempfile.mkdtemp(prefix="knowcoder-model-")))


def _headline(metrics: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in sorted(metrics.items()) if k.count(".") == 1 or k.startswith("parse.")}


def run_evaluate(args: argparse.Namespace) -> int:
    from knowcoder.stages.data import input_name
    from knowcoder.stages.evaluate import evaluate_model, evaluate_predictions

    params = params_from(args)
    ontology = ontology_from(args, params)
    tasks = split_names(args.tasks) or params.evaluation.tasks
    for task in tasks:
        if task not in TASKS:
            raise ConfigError(f"unknown task {task!r}; choose from {', '.join(TASKS)}", field="--tasks")
    split = None if args.all_splits else (args.split or params.evaluation.split)
    lenient = params.evaluation.lenient if args.lenient is None else args.lenient
    layout = Layout(params)
    if args.model and not args.data and not args.pred:  # a named suite, as the pipeline scores it
        name = args.suite or params.evaluation.suite
        suite = params.evaluation.resolve_suite(name)
        tasks = split_names(args.tasks) or suite.tasks or params.evaluation.tasks
        split = None if args.all_splits else (args.split or suite.split)
        args.data = [str(layout.validated(data)) for data in suite.data]
    else:
        name = args.suite or input_name((args.data or [args.pred or "evaluation"])[0])
    out_dir = Path(args.out_dir or layout.evaluation(name))
    if args.pred and args.gold and not args.model:
        run = evaluate_predictions(
            args.pred,
            args.gold,
            out_dir,
            ontology=ontology,
            tasks=tasks,
            split=split,
            lenient=lenient,
            worst=params.evaluation.worst_examples,
        )
    elif args.model and args.data and not args.pred:
        update = {"tasks": tasks, "split": split, "lenient": lenient}
        evaluation = params.evaluation.model_copy(update=update)
        run = evaluate_model(
            _model_dir(args.model, params),
            args.data,
            out_dir,
            params=params.model_copy(update={"evaluation": evaluation}),
            ontology=ontology,
            constrained=args.constrained,
        )
    else:
        raise ConfigError(
            "use either --pred with --gold, or --model with --data, or --model alone (a suite: --suite)",
            field="evaluate",
        )
    print(f"report: {run.out_dir / 'report.md'}", file=sys.stderr)
    print_json(_headline(run.result.to_dict()))
    return 0


def run_extract(args: argparse.Namespace) -> int:
    from knowcoder.inference.extract import ExtractionRequest
    from knowcoder.prompts import PromptBuilder, PromptOptions
    from knowcoder.stages.evaluate import load_extractor

    params = params_from(args)
    ontology = ontology_from(args, params)
    types = tuple(split_names(args.types))
    for name in types:
        if name not in ontology:
            raise ConfigError(f"unknown class {name!r} in {ontology.source}", field="--types")
    model = args.model or params.model.base
    if not model:
        raise ConfigError("name the model: pass --model, or set model.base in params", field="--model")
    builder = PromptBuilder(ontology, PromptOptions(**params.prompt.model_dump()))
    extractor = load_extractor(_model_dir(model, params), builder, params, constrained=args.constrained)
    prediction = extractor.extract([ExtractionRequest("cli", args.task, args.text, types)])[0]
    print_json(
        {
            "records": prediction.record_dicts(),  # each with its confidence
            "output": prediction.output,
            "report": prediction.report.to_dict(),
        }
    )
    return 0
