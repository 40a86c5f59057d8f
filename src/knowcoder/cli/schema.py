"""``knowcoder schema render`` and ``knowcoder prompt``: what the model reads."""

from __future__ import annotations

import argparse
import sys

from knowcoder.cli.common import ontology_from, params_from, split_names
from knowcoder.errors import KnowCoderError
from knowcoder.prompts import PromptBuilder, PromptOptions
from knowcoder.tasks import TASKS, get_task


def register(commands: argparse._SubParsersAction) -> None:
    schema = commands.add_parser("schema", help="render ontology classes as Python code")
    schema_commands = schema.add_subparsers(dest="schema_command", metavar="SUBCOMMAND", required=True)
    render = schema_commands.add_parser(
        "render", help="print the class definitions a prompt would hold for some types"
    )
    _add_type_arguments(render)
    render.set_defaults(handler=run_render)

    prompt = commands.add_parser("prompt", help="print the full prompt for a sentence")
    _add_type_arguments(prompt)
    prompt.add_argument("--text", required=True, help="the sentence to extract from")
    prompt.add_argument("--dataset", default=None, help="dataset name for the optional dataset hint")
    prompt.set_defaults(handler=run_prompt)


def _add_type_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, choices=sorted(TASKS), help="IE task")
    parser.add_argument(
        "--types", default=None, help="comma-separated class names (default: all of the task's kind)"
    )
    parser.add_argument("--ontology", default=None, help="ontology YAML (default: paths.ontology in params)")
    parser.add_argument("--lang", default=None, help="language of descriptions (default: prompt.lang)")
    parser.add_argument(
        "--style",
        choices=["knowcoder", "released", "released-template"],
        default=None,
        help="default: prompt.style",
    )


def _builder(args: argparse.Namespace) -> tuple[PromptBuilder, list[str]]:
    params = params_from(args)
    ontology = ontology_from(args, params)
    settings = params.prompt.model_dump()
    if args.lang:
        settings["lang"] = args.lang
    if args.style:
        settings["style"] = args.style
    builder = PromptBuilder(ontology, PromptOptions(**settings))
    task = get_task(args.task)
    names = split_names(args.types) or ontology.names(task.kind)
    for name in names:
        if name not in ontology:
            raise KnowCoderError(f"--types: unknown class {name!r} in {ontology.source}")
    return builder, names


def run_render(args: argparse.Namespace) -> int:
    builder, names = _builder(args)
    sys.stdout.write(builder.schema(args.task, names) + "\n")
    return 0


def run_prompt(args: argparse.Namespace) -> int:
    builder, names = _builder(args)
    sys.stdout.write(builder.prompt(args.text, args.task, names, dataset=args.dataset))
    return 0
