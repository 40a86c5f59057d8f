"""``knowcoder data ...``: import, export, synthesize, validate and prepare datasets."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from knowcoder.artifacts import Layout
from knowcoder.cli.common import ontology_from, params_from, print_json
from knowcoder.config import parse_override
from knowcoder.data.exporters import EXPORTERS, export_dataset
from knowcoder.data.importers import IMPORTERS, import_dataset
from knowcoder.data.jsonl import read_instances, write_instances
from knowcoder.errors import ConfigError
from knowcoder.stages.data import input_name, prepare_data, write_synthetic


def register(commands: argparse._SubParsersAction) -> None:
    data = commands.add_parser("data", help="import, export, synthesize and validate datasets")
    sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)

    imp = sub.add_parser(
        "import",
        help="convert a dataset (CoNLL, UIE, OneIE, DuIE, DuEE, UniversalNER, IEPile, InstructIE, "
        "DyGIE++, instruction JSON) to canonical JSONL",
        description="Labels map to ontology classes through the ontology's aliases; an unmapped label "
        "is an error naming it unless --drop-unmapped (or data.imports.drop_unmapped) is set. A file "
        "that plainly is another format is refused with the format it looks like.",
    )
    imp.add_argument("--format", required=True, choices=sorted(IMPORTERS))
    imp.add_argument("--input", required=True, help="the dataset file")
    imp.add_argument("--output", required=True, help="canonical JSONL to write (atomically)")
    imp.add_argument("--dataset", required=True, help="dataset name; also selects per-dataset aliases")
    imp.add_argument("--lang", required=True, help="language code of the text, e.g. en, zh")
    imp.add_argument("--ontology", default=None, help="ontology YAML (default: paths.ontology in params)")
    imp.add_argument("--split", default=None, help="set every instance's split, e.g. train or test")
    imp.add_argument(
        "--no-sniff",
        action="store_true",
        help="read the file as --format even when it looks like another format",
    )
    imp.add_argument(
        "--drop-unmapped",
        action="store_true",
        default=None,
        help="drop mentions whose label maps to no class",
    )
    imp.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="format option, e.g. scheme=BMES, token_column=1, tag_column=0, strip_segmentation=true, "
        "drop_unlocated=true (repeatable)",
    )
    imp.set_defaults(handler=run_import)

    exp = sub.add_parser("export", help="write canonical JSONL out as CoNLL (IOB2) or JSONL")
    exp.add_argument("--format", required=True, choices=sorted(EXPORTERS))
    exp.add_argument("--input", required=True, help="canonical JSONL")
    exp.add_argument("--output", required=True)
    exp.set_defaults(handler=run_export)

    synth = sub.add_parser("synth", help="write synthetic train/dev/test instances (counts from data.synth)")
    synth.add_argument("--output", default=None, help="default: <paths.artifacts>/data/synth.jsonl")
    synth.add_argument("--ontology", default=None, help="ontology YAML (default: paths.ontology in params)")
    synth.set_defaults(handler=run_synth)

    validate = sub.add_parser(
        "validate",
        help="run the Great Expectations suite over a canonical JSONL file",
        description="Writes valid.jsonl (only if the stage passes), rejects.jsonl, report.json and "
        "report.md. Fails when the reject share exceeds validation.max_reject_share "
        "or a split is below its minimum.",
    )
    validate.add_argument("--input", required=True)
    validate.add_argument("--out-dir", default=None, help="default: <paths.artifacts>/data/validated/<name>")
    validate.add_argument(
        "--ontology", default=None, help="ontology YAML (default: paths.ontology in params)"
    )
    validate.set_defaults(handler=run_validate)

    prepare = sub.add_parser(
        "prepare",
        help="the data stage: synthesize, validate every input, write a summary (the main job today)",
    )
    prepare.set_defaults(handler=run_prepare)


def _format_options(items: list[str]) -> dict[str, object]:
    options: dict[str, object] = {}
    for item in items:
        keys, value = parse_override(item)
        if len(keys) != 1:
            raise ConfigError(f"format option {item!r} must be KEY=VALUE", field="--option")
        options[keys[0]] = value
    return options


def run_import(args: argparse.Namespace) -> int:
    params = params_from(args)
    ontology = ontology_from(args, params)
    drop = params.data.imports.drop_unmapped if args.drop_unmapped is None else args.drop_unmapped
    instances, report = import_dataset(
        args.format,
        args.input,
        ontology=ontology,
        dataset=args.dataset,
        lang=args.lang,
        drop_unmapped=drop,
        split=args.split,
        sniff=not args.no_sniff,
        **_format_options(args.option),
    )
    progress = tqdm(
        instances, desc=f"import {Path(args.input).name}", unit=" rec", disable=None, file=sys.stderr
    )
    write_instances(args.output, progress)
    print_json(report.to_dict())
    return 0


def run_export(args: argparse.Namespace) -> int:
    count = export_dataset(args.format, args.output, read_instances(args.input))
    print(f"wrote {count} instances to {args.output}", file=sys.stderr)
    return 0


def run_synth(args: argparse.Namespace) -> int:
    params = params_from(args)
    output = Path(args.output or Layout(params).synth)
    count = write_synthetic(params, ontology_from(args, params), output)
    print(f"wrote {count} synthetic instances to {output}", file=sys.stderr)
    return 0


def run_validate(args: argparse.Namespace) -> int:
    from knowcoder.validation import validate_file  # Great Expectations loads only when needed

    params = params_from(args)
    out_dir = Path(args.out_dir or Layout(params).validated_dir(input_name(args.input)))
    result = validate_file(
        args.input,
        ontology_from(args, params),
        out_dir=out_dir,
        known_languages=params.validation.known_languages,
        min_split_sizes=params.validation.min_split_sizes,
        max_reject_share=params.validation.max_reject_share,
    )
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    print(
        f"{result.valid_records} of {result.total_records} records valid; report: {result.report_path}",
        file=sys.stderr,
    )
    return 0


def run_prepare(args: argparse.Namespace) -> int:
    prepared = prepare_data(params_from(args))
    for name, result in prepared.results.items():
        print(
            f"{name:>12}: {result.valid_records:>6} valid, {result.rejected_records} rejected",
            file=sys.stderr,
        )
    print(f"parallel pairs: {prepared.parallel_pairs}", file=sys.stderr)
    print(
        f"outputs: {prepared.out_dir}/ (summary.json, sample_prompts.md, validated/*/report.md)",
        file=sys.stderr,
    )
    return 0
