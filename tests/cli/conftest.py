"""What the command tests share: the parameter file, the small ontology and a runner of `knowcoder`."""

from __future__ import annotations

import re
from collections.abc import Sequence

# Prefect binds its console log handler to sys.stderr when prefect.main is first imported. Imported
# inside a test that uses capsys, it would keep writing to that test's capture stream after it is
# closed, and every later flow in the session would fail logging; imported here, it binds to the
# session's stream.
import prefect.main  # noqa: F401
import pytest

from knowcoder.cli.main import main

from ..conftest import FIXTURES, REPO

ONTOLOGY = str(FIXTURES / "mini_ontology.yaml")
PARAMS = str(REPO / "params.yaml")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``knowcoder --params params.yaml ARGV``: the exit code, stdout and stderr."""
    code = main(["--params", PARAMS, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """``knowcoder ARGV`` refused by argparse: its exit code and stderr."""
    with pytest.raises(SystemExit) as caught:
        main(["--params", PARAMS, *argv])
    return int(caught.value.code or 0), capsys.readouterr().err


def help_text(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """``knowcoder ARGV --help``: must exit 0; its stdout."""
    with pytest.raises(SystemExit) as caught:
        main([*argv, "--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    assert "usage: knowcoder" in out
    return out


def invalid_choice(option: str, value: str, choices: Sequence[str]) -> re.Pattern[str]:
    """argparse's line for a value outside ``choices``, naming every choice in order.

    Python versions differ only in quoting the choices, so both spellings match.
    """
    listed = ", ".join(f"'?{re.escape(choice)}'?" for choice in choices)
    given = f"invalid choice: '{re.escape(value)}'"
    return re.compile(rf"error: argument {re.escape(option)}: {given} \(choose from {listed}\)\n$")
