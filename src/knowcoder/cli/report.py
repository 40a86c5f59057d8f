"""``knowcoder report table``: the README's results table, rendered from an evaluation's headline.json."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from knowcoder.errors import ConfigError


def register(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser("report", help="documents rendered from evaluation results")
    sub = report.add_subparsers(dest="report_command", metavar="SUBCOMMAND", required=True)
    table = sub.add_parser(
        "table",
        help="the results table (task, F1 with 95%% interval, per language, n) from a headline.json",
        description="Render the results table of an evaluation's headline.json. Without --write or "
        "--check it is printed. --write puts it between the `<!-- results:begin -->` and "
        "`<!-- results:end -->` lines of --readme; --check exits 1 when the table there differs "
        "from what --write would put.",
    )
    table.add_argument("headline", help="headline.json of an evaluation, e.g. artifacts/evaluation/heldout/")
    table.add_argument(
        "--readme", default="README.md", help="document holding the markers (default: %(default)s)"
    )
    mode = table.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="replace the table in --readme")
    mode.add_argument("--check", action="store_true", help="exit 1 when --readme's table is not this one")
    table.set_defaults(handler=run_table)


def run_table(args: argparse.Namespace) -> int:
    from knowcoder.data.jsonl import atomic_open
    from knowcoder.evaluation.table import current_block, read_headline, render_table, replace_block

    headline = Path(args.headline)
    if headline.is_dir():
        headline = headline / "headline.json"
    rendered = render_table(read_headline(headline))
    if not (args.write or args.check):
        sys.stdout.write(rendered)
        return 0
    readme = Path(args.readme)
    if not readme.is_file():
        raise ConfigError(f"{readme} does not exist; name the document holding the markers", field="--readme")
    text = readme.read_text(encoding="utf-8")
    if args.check:
        if current_block(text, readme) != rendered:
            print(
                f"knowcoder: error: {readme}: the results table differs from {headline}; "
                f"run `knowcoder report table {args.headline} --readme {args.readme} --write`",
                file=sys.stderr,
            )
            return 1
        print(f"{readme}: the results table matches {headline}", file=sys.stderr)
        return 0
    updated = replace_block(text, rendered, readme)
    if updated != text:
        with atomic_open(readme) as handle:
            handle.write(updated)
    print(
        f"{readme}: results table {'written' if updated != text else 'unchanged'} from {headline}",
        file=sys.stderr,
    )
    return 0
