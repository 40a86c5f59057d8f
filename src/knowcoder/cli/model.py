"""``knowcoder model import``: bring a model of another format in as a Hugging Face directory."""

from __future__ import annotations

import argparse
import sys

from knowcoder.cli.common import print_json


def register(commands: argparse._SubParsersAction) -> None:
    model = commands.add_parser("model", help="bring models in: convert GGUF files and pickled checkpoints")
    actions = model.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    imp = actions.add_parser(
        "import",
        help="convert a GGUF file or a Hugging Face directory into a safetensors model directory",
        description="Write SRC as a standard Hugging Face directory DST (config, safetensors weights, "
        "tokenizer, generation config, knowcoder-import.json), all or nothing. SRC is a GGUF file "
        "(dequantized to float) or a model directory (copied as safetensors; pickled *.bin weights "
        "need --allow-pickle). Use DST as `model.base` or `--model`.",
    )
    imp.add_argument("source", metavar="SRC", help="a .gguf file or a Hugging Face model directory")
    imp.add_argument("destination", metavar="DST", help="the model directory to write")
    imp.add_argument(
        "--dtype", default="float32", choices=["float32", "bfloat16"], help="weights dtype (default: float32)"
    )
    imp.add_argument("--force", action="store_true", help="replace DST if it exists (only on success)")
    imp.add_argument(
        "--allow-pickle",
        action="store_true",
        help="read pickled *.bin weights (unpickling can run code: only for checkpoints you trust)",
    )
    imp.set_defaults(handler=run_import)


def run_import(args: argparse.Namespace) -> int:
    from knowcoder.modeling.convert import import_model

    report = import_model(
        args.source, args.destination, dtype=args.dtype, overwrite=args.force, allow_pickle=args.allow_pickle
    )
    print(f"imported {report.source} -> {report.destination}", file=sys.stderr)
    print_json(report.to_dict())
    return 0
