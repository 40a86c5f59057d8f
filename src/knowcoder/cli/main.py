"""The ``knowcoder`` command: one entry point, a subcommand per stage and tool."""

from __future__ import annotations

import argparse
import errno
import os
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from knowcoder import __version__
from knowcoder.cli import (
    data,
    deploy,
    evaluate,
    model,
    pipeline,
    released,
    report,
    schema,
    suite,
    tools,
    train,
)
from knowcoder.errors import KnowCoderError, describe

COMMAND_GROUPS = (schema, data, model, train, evaluate, report, suite, released, pipeline, deploy, tools)


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
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="show the full traceback of an unexpected library error; for `pipeline`, every library's "
        "own output (log dicts, progress bars, Prefect's log) in place of the progress display",
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
    except Exception as error:  # a library's error: one line, the traceback only on request
        if args.verbose:
            raise
        if isinstance(error, OSError) and error.errno in DISK_ERRNOS:
            where = f"{error.filename}: " if error.filename else ""
            print(
                f"knowcoder: error: cannot write: {where}{error.strerror}; make room or make it writable, "
                "or point paths.artifacts at another folder (--set paths.artifacts=DIR), then run again",
                file=sys.stderr,
            )
            return 1
        log = write_error_log(error)
        also = f", also written to {log}" if log else ""
        print(
            f"knowcoder: error: {describe(error, 400)} (run with --verbose for the traceback{also})",
            file=sys.stderr,
        )
        return 1


#: a disk that is full, read-only or not ours: the user's to fix, not a bug
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}


def write_error_log(error: BaseException, keep: int = 20) -> Path | None:
    """Write ``error``'s traceback to ``$KNOWCODER_LOG_DIR`` (default ~/.cache/knowcoder/logs).

    Returns the file, or None when it could not be written (a full disk must not hide the error).
    Only the newest ``keep`` logs are kept.
    """
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = Path(os.environ.get("KNOWCODER_LOG_DIR") or cache / "knowcoder" / "logs")
    path = folder / f"error-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lines = traceback.format_exception(type(error), error, error.__traceback__)
        path.write_text(f"knowcoder {' '.join(sys.argv[1:])}\n\n" + "".join(lines), encoding="utf-8")
        for old in sorted(folder.glob("error-*.log"))[:-keep]:
            old.unlink(missing_ok=True)
    except OSError:
        return None
    return path


if __name__ == "__main__":
    sys.exit(main())
