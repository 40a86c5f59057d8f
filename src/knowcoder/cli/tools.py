"""``knowcoder parse`` and ``knowcoder params``: tools around the model's output and the settings."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from knowcoder.cli.common import ontology_from, params_from, print_json, split_names
from knowcoder.parser import parse_results
from knowcoder.prompts import PromptBuilder
from knowcoder.tasks import TASKS, Allowed, get_task


def register(commands: argparse._SubParsersAction) -> None:
    parse = commands.add_parser(
        "parse",
        help="read model output code into records (never runs it)",
        description="Parse `results = [...]` code with `ast` only and print records plus a report as JSON. "
        "With --types, classes outside those (and their ancestors) are dropped; with --text, spans "
        "that are not in the sentence are dropped.",
    )
    parse.add_argument("--task", required=True, choices=sorted(TASKS))
    parse.add_argument("--file", default="-", help="file with the model output (default: stdin)")
    parse.add_argument("--text", default=None, help="the sentence; spans not in it are dropped")
    parse.add_argument("--types", default=None, help="comma-separated classes the prompt defined")
    parse.add_argument("--ontology", default=None, help="ontology YAML (default: paths.ontology in params)")
    parse.set_defaults(handler=run_parse)

    params = commands.add_parser("params", help="print the resolved parameters")
    params.add_argument("--hash", action="store_true", help="print only the parameter digest")
    params.set_defaults(handler=run_params)


def run_parse(args: argparse.Namespace) -> int:
    params = params_from(args)
    code = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    task = get_task(args.task)
    types = split_names(args.types)
    if types:
        builder = PromptBuilder(ontology_from(args, params))
        allowed = builder.allowed(task, types, args.text)
    else:
        allowed = Allowed(sentence=args.text)
    result = parse_results(
        code, task, allowed, max_chars=params.parser.max_chars, max_depth=params.parser.max_depth
    )
    print_json({"records": [r.to_dict() for r in result.records], "report": result.report.to_dict()})
    return 0


def run_params(args: argparse.Namespace) -> int:
    params = params_from(args)
    if args.hash:
        print(params.digest())
    else:
        print_json(params.model_dump(mode="json"))
    return 0
