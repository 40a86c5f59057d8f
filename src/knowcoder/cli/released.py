"""``knowcoder released``: released KnowCoder schemas, data and checkpoints."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from knowcoder.cli.common import params_from, print_json
from knowcoder.errors import ConfigError

if TYPE_CHECKING:
    from knowcoder.prompts import PromptBuilder
    from knowcoder.records import Record
    from knowcoder.released.data import ReleasedExample


def register(commands: argparse._SubParsersAction) -> None:
    released = commands.add_parser(
        "released",
        help="released KnowCoder: import its schemas, check its prompts, score its checkpoints",
        description="Tools for ICT-GoKnow/KnowCoder's released files: class_defs/*.json, mapping.json, "
        "and SFT/eval records (sentence, entities/relations/events, one-stage prompts and outputs).",
    )
    sub = released.add_subparsers(dest="released_command", metavar="ACTION", required=True)

    schema = sub.add_parser("import-schema", help="released class definitions -> ontology YAML")
    schema.add_argument("--class-defs", action="append", default=[], help="class_defs folder or JSON file")
    schema.add_argument("--prompts", default=None, help="released records whose prompts define classes")
    schema.add_argument("--out", required=True, help="ontology YAML to write")
    schema.set_defaults(handler=run_import_schema)

    check = sub.add_parser("check", help="render a released file's prompts and targets again and compare")
    check.add_argument("data", help="released records (JSONL or JSON array)")
    check.add_argument("--setting", default="zero-shot", help="prompt field one-stage.<setting>.prompt")
    check.set_defaults(handler=run_check)

    evaluate = sub.add_parser(
        "evaluate",
        help="score a released checkpoint (or stored outputs) on released records",
        description="Imports the schema from the records' prompts (and --class-defs), renders every "
        "released prompt again, then either generates with --model or reads the outputs stored in "
        "--outputs (e.g. one-stage.output), parses them and prints strict micro P/R/F1 per task.",
    )
    evaluate.add_argument("data", help="released records (JSONL or JSON array)")
    evaluate.add_argument("--class-defs", action="append", default=[], help="class_defs folder or JSON file")
    evaluate.add_argument("--mapping", default=None, help="the release's ED mapping.json (fine -> coarse)")
    evaluate.add_argument("--setting", default="zero-shot", help="prompt field one-stage.<setting>.prompt")
    evaluate.add_argument("--model", default=None, help="checkpoint directory to generate with")
    evaluate.add_argument(
        "--outputs", default=None, help="field holding stored outputs, e.g. one-stage.output"
    )
    evaluate.add_argument("--lenient", action="store_true", help="KnowCoder's lenient type matching")
    evaluate.set_defaults(handler=run_evaluate)


def run_import_schema(args: argparse.Namespace) -> int:
    from knowcoder.released.data import examples_with_schema
    from knowcoder.released.schema import SchemaImport, import_class_defs

    schema = import_class_defs(args.class_defs) if args.class_defs else SchemaImport()
    if args.prompts:
        for cls in examples_with_schema(args.prompts)[1].classes.values():
            schema.add(cls)
    if not schema.classes:
        raise ConfigError("nothing to import; give --class-defs and/or --prompts", field="import-schema")
    ontology = schema.ontology(source=args.out)  # validates before anything is written
    Path(args.out).write_text(schema.to_yaml(), encoding="utf-8")
    print_json({"out": args.out, "classes": len(ontology.types)})
    return 0


def run_check(args: argparse.Namespace) -> int:
    from knowcoder.released.evaluate import load_released

    examples, ontology, builder = load_released(args.data, setting=args.setting)
    from knowcoder.tasks import get_task

    counts: dict[str, dict[str, int]] = {}
    for example in examples:
        task = get_task(example.task)
        row = counts.setdefault(task.name, {"records": 0, "prompts_identical": 0, "targets_identical": 0})
        row["records"] += 1
        gold = task.gold_records(example.instance, ontology) or []
        query = builder.query(example.instance.text, task, list(example.classes), given=gold)
        row["prompts_identical"] += int(query == example.prompt)
        row["targets_identical"] += int(builder.target(gold, task) == example.output)
    print_json(counts)
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from knowcoder.released.evaluate import load_released, outputs_from_field, released_prompt, score_released

    if bool(args.model) == bool(args.outputs):
        raise ConfigError("give either --model or --outputs", field="released evaluate")
    examples, _, builder = load_released(
        args.data, class_defs=args.class_defs, mapping=args.mapping, setting=args.setting
    )
    if args.outputs:
        outputs = outputs_from_field(args.data, args.outputs)
    else:
        from knowcoder.inference.extract import ExtractionRequest, Extractor

        params = params_from(args)
        extractor = Extractor.load(
            args.model,
            builder,
            trust_remote_code=params.model.trust_remote_code,
            dtype=params.model.dtype,
            max_new_tokens=640,  # the release's 512 + 128
        )
        requests = [
            ExtractionRequest(
                f"{e.instance.id}:{e.task}",
                e.task,
                e.instance.text,
                e.classes,
                given=tuple(builder_gold(builder, e)),
            )
            for e in examples
        ]
        outputs = [p.output for p in extractor.extract(requests)]
        print(f"first prompt:\n{released_prompt(builder, examples[0])}", file=sys.stderr)
    result = score_released(examples, outputs, builder, lenient=args.lenient)
    metrics = result.to_dict()
    print_json(
        {k: round(v, 4) for k, v in sorted(metrics.items()) if k.count(".") == 1 or k.startswith("parse.")}
    )
    return 0


def builder_gold(builder: PromptBuilder, example: ReleasedExample) -> list[Record]:
    """EAE asks about the gold events (the prompt names their triggers); other tasks need none."""
    from knowcoder.tasks import get_task

    task = get_task(example.task)
    return (task.gold_records(example.instance, builder.ontology) or []) if task.given_by else []
