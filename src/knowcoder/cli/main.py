"""The ``knowcoder`` command: one entry point, a subcommand per stage and tool."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from knowcoder import __version__
from knowcoder.cli import data, deploy, evaluate, pipeline, schema, tools, train
from knowcoder.errors import KnowCoderError

COMMAND_GROUPS = (schema, data, train, evaluate, pipeline, deploy, tools)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="knowcoder",
        description="Code-style information extraction (KnowCoder / KnowCoder-X): "
        "schema, data, validation, training, evaluation.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--params", default="params.yaml", help="parameter file (default: %(default)s)")
    parser.add_argument(
        "--profile", default=None, help="profile in the parameter file (default: its `profile`)"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one parameter, e.g. --set data.synth.train=500 (repeatable)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in COMMAND_GROUPS:
        group.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except KnowCoderError as error:
        print(f"knowcoder: error: {error}", file=sys.stderr)
        return 1
    except FileNotFoundError as error:
        print(f"knowcoder: error: {error.filename}: no such file", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("knowcoder: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
