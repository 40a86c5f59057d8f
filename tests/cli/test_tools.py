"""`knowcoder parse` and `knowcoder params`."""

from __future__ import annotations

import io
import json

import pytest

from knowcoder.config import load_params

from .conftest import ONTOLOGY, PARAMS, help_text, run


@pytest.mark.parametrize("argv", [["parse"], ["params"]])
def test_every_subcommand_has_help(capsys, argv):
    help_text(capsys, *argv)


def test_parse_reads_stdin_and_reports(capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO('results = [Person("Ada Park"), Robot("x"), Person("Bo'))
    code, out, _ = run(
        capsys,
        "parse",
        "--task",
        "ner",
        "--types",
        "Person",
        "--text",
        "Ada Park met Bo",
        "--ontology",
        ONTOLOGY,
    )
    assert code == 0
    payload = json.loads(out)
    assert payload["records"] == [{"type": "Person", "text": "Ada Park"}]
    assert payload["report"]["unknown_types"] == {"Robot": 1}
    assert payload["report"]["truncated"] == 1


def test_parse_reads_a_file_and_without_types_keeps_every_class(capsys, tmp_path):
    output = tmp_path / "output.py"
    output.write_text('results = [Person("Ada Park"), Robot("Bo")]', encoding="utf-8")
    code, out, _ = run(capsys, "parse", "--task", "ner", "--file", str(output), "--text", "Ada Park met Bo")
    assert code == 0
    assert json.loads(out)["records"] == [
        {"type": "Person", "text": "Ada Park"},
        {"type": "Robot", "text": "Bo"},
    ]


def test_parse_of_a_missing_file_is_one_line(capsys, tmp_path):
    code, out, err = run(capsys, "parse", "--task", "ner", "--file", str(tmp_path / "gone.py"))
    assert (code, out) == (1, "")
    assert err == f"knowcoder: error: {tmp_path / 'gone.py'}: no such file\n"


def test_params_prints_the_resolved_parameters_and_their_digest(capsys):
    expected = load_params(PARAMS, overrides=["data.synth.train=7"])
    code, out, _ = run(capsys, "--set", "data.synth.train=7", "params")
    assert code == 0
    assert json.loads(out) == expected.model_dump(mode="json")
    assert json.loads(out)["data"]["synth"]["train"] == 7
    code, out, _ = run(capsys, "--set", "data.synth.train=7", "params", "--hash")
    assert (code, out) == (0, expected.digest() + "\n")
