"""`knowcoder`: the entry point, its global options and how it reports errors."""

from __future__ import annotations

import argparse
import errno
import subprocess
import sys
from pathlib import Path

import pytest

from knowcoder import __version__
from knowcoder.cli import main as cli_main
from knowcoder.cli import tools
from knowcoder.cli.main import build_parser, main

from .conftest import PARAMS, help_text, run


def _commands() -> list[str]:
    parser = build_parser()
    (commands,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(commands.choices)


def test_console_script_is_installed():
    exe = Path(sys.executable).parent / "knowcoder"  # installed beside the interpreter running the tests
    assert exe.is_file()
    done = subprocess.run([exe, "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    for command in ("schema", "prompt", "data", "corpus", "train", "parse", "params"):
        assert command in done.stdout


def test_every_command_group_registers_its_commands():
    assert _commands() == [
        "schema",
        "prompt",
        "data",
        "model",
        "corpus",
        "annotate",
        "train",
        "evaluate",
        "extract",
        "report",
        "suite",
        "released",
        "pipeline",
        "ci-evaluate",
        "deploy",
        "serve",
        "parse",
        "params",
    ]


@pytest.mark.parametrize("command", _commands())
def test_every_command_has_help(capsys, command):
    assert f"usage: knowcoder {command}" in help_text(capsys, command)


def test_version(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out == f"knowcoder {__version__}\n"


def test_a_command_is_required(capsys):
    with pytest.raises(SystemExit) as caught:
        main([])
    assert caught.value.code == 2
    assert capsys.readouterr().err.endswith("error: the following arguments are required: COMMAND\n")


def test_bad_override_exits_non_zero_with_one_line(capsys):
    code, _, err = run(capsys, "--set", "parser.max_chars=0", "params")
    assert code == 1
    assert err == "knowcoder: error: " + PARAMS + ": parser.max_chars: Input should be greater than 0\n"


def test_an_unknown_profile_is_one_line(capsys):
    code, out, err = run(capsys, "--profile", "nope", "params")
    assert (code, out) == (1, "")
    assert err.startswith(f"knowcoder: error: {PARAMS}") and "nope" in err and err.count("\n") == 1


def test_a_missing_parameter_file_is_one_line(capsys, tmp_path):
    code = main(["--params", str(tmp_path / "gone.yaml"), "params"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"knowcoder: error: {tmp_path / 'gone.yaml'}") and err.count("\n") == 1


def _with_handler(monkeypatch, error: BaseException) -> None:
    """`knowcoder params` whose handler raises ``error``, as a library inside a stage would."""

    def failing(args: argparse.Namespace) -> int:
        raise error

    monkeypatch.setattr(tools, "run_params", failing)  # read when main() builds its parser


def test_a_library_error_is_one_line_and_its_traceback_goes_to_a_log(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("KNOWCODER_LOG_DIR", str(tmp_path / "logs"))
    _with_handler(monkeypatch, ValueError("bad value in a library"))
    code, out, err = run(capsys, "params")
    (log,) = (tmp_path / "logs").iterdir()
    assert (code, out) == (1, "")
    assert err == (
        "knowcoder: error: ValueError: bad value in a library (run with --verbose for the traceback, "
        f"also written to {log})\n"
    )
    logged = log.read_text()
    assert "Traceback (most recent call last)" in logged and "ValueError: bad value in a library" in logged
    with pytest.raises(ValueError, match="bad value in a library"):
        main(["--params", PARAMS, "--verbose", "params"])


def test_a_full_disk_is_one_line_with_the_way_out(capsys, monkeypatch):
    _with_handler(monkeypatch, OSError(errno.ENOSPC, "No space left on device", "/data/out.jsonl"))
    code, _, err = run(capsys, "params")
    assert code == 1
    assert err == (
        "knowcoder: error: cannot write: /data/out.jsonl: No space left on device; make room or make it "
        "writable, or point paths.artifacts at another folder (--set paths.artifacts=DIR), then run again\n"
    )


def test_an_interrupt_exits_130(capsys, monkeypatch):
    _with_handler(monkeypatch, KeyboardInterrupt())
    assert run(capsys, "params")[::2] == (130, "knowcoder: interrupted\n")


def test_the_error_log_keeps_only_the_newest(tmp_path, monkeypatch):
    monkeypatch.setenv("KNOWCODER_LOG_DIR", str(tmp_path))
    for index in range(3):
        (tmp_path / f"error-2020010{index}-000000-1.log").write_text("old")
    path = cli_main.write_error_log(RuntimeError("x"), keep=2)
    assert path is not None and path.parent == tmp_path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["error-20200102-000000-1.log", path.name]
