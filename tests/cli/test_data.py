"""`knowcoder data import|export|synth|validate|prepare`."""

from __future__ import annotations

import json

import pytest

from knowcoder.data.exporters import EXPORTERS

from ..conftest import FIXTURES, REPO
from .conftest import help_text, invalid_choice, run, usage_error


@pytest.mark.parametrize(
    "argv",
    [
        ["data", "import"],
        ["data", "export"],
        ["data", "synth"],
        ["data", "validate"],
        ["data", "prepare"],
    ],
)
def test_every_subcommand_has_help(capsys, argv):
    help_text(capsys, *argv)


def test_missing_input_file_is_one_line(capsys, tmp_path):
    code, _, err = run(
        capsys,
        "data",
        "export",
        "--format",
        "jsonl",
        "--input",
        str(tmp_path / "nope.jsonl"),
        "--output",
        str(tmp_path / "o.jsonl"),
    )
    assert code == 1
    assert err == f"knowcoder: error: {tmp_path / 'nope.jsonl'}: no such file\n"


def test_import_failure_writes_nothing(capsys, tmp_path):
    output = tmp_path / "out.jsonl"
    code, _, err = run(
        capsys,
        "data",
        "import",
        "--format",
        "conll",
        "--input",
        str(FIXTURES / "importers" / "broken_columns.conll"),
        "--output",
        str(output),
        "--dataset",
        "conll03",
        "--lang",
        "en",
        "--ontology",
        str(FIXTURES / "importers" / "ontology.yaml"),
    )
    assert code == 1
    assert "broken_columns.conll:5: columns:" in err
    assert not output.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind either


def test_import_then_export_round_trip(capsys, tmp_path):
    canonical = tmp_path / "en.jsonl"
    code, out, _ = run(
        capsys,
        "data",
        "import",
        "--format",
        "conll",
        "--input",
        str(FIXTURES / "importers" / "en.conll"),
        "--output",
        str(canonical),
        "--dataset",
        "conll03",
        "--lang",
        "en",
        "--ontology",
        str(FIXTURES / "importers" / "ontology.yaml"),
    )
    assert code == 0
    assert json.loads(out)["instances_written"] == len(canonical.read_text().splitlines())
    conll = tmp_path / "en.conll"
    assert (
        run(capsys, "data", "export", "--format", "conll", "--input", str(canonical), "--output", str(conll))[
            0
        ]
        == 0
    )
    assert conll.read_text().splitlines()[0] == "Ada B-Person"


def test_synth_writes_the_requested_counts(capsys, tmp_path):
    output = tmp_path / "synth.jsonl"
    code, _, err = run(
        capsys,
        "--set",
        "data.synth.train=6",
        "--set",
        "data.synth.dev=0",
        "--set",
        "data.synth.test=2",
        "data",
        "synth",
        "--output",
        str(output),
        "--ontology",
        str(REPO / "data/ontology.yaml"),
    )
    assert code == 0
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [row["split"] for row in rows] == ["train"] * 6 + ["test"] * 2
    assert f"wrote 8 synthetic instances to {output}" in err


def test_validate_failure_is_one_line_and_writes_reports(capsys, tmp_path):
    code, _, err = run(
        capsys,
        "data",
        "validate",
        "--input",
        str(FIXTURES / "validation" / "mixed.jsonl"),
        "--out-dir",
        str(tmp_path / "v"),
        "--ontology",
        str(FIXTURES / "validation" / "ontology.yaml"),
    )
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("knowcoder: error: ")
    assert "mixed.jsonl: validation failed" in err
    assert sorted(p.name for p in (tmp_path / "v").iterdir()) == ["rejects.jsonl", "report.json", "report.md"]


def test_validate_passes_with_a_lenient_threshold(capsys, tmp_path):
    code, _, err = run(
        capsys,
        "--set",
        "validation.max_reject_share=1.0",
        "--set",
        "validation.min_split_sizes={}",
        "data",
        "validate",
        "--input",
        str(FIXTURES / "validation" / "mixed.jsonl"),
        "--out-dir",
        str(tmp_path / "v"),
        "--ontology",
        str(FIXTURES / "validation" / "ontology.yaml"),
    )
    assert code == 0
    valid = (tmp_path / "v" / "valid.jsonl").read_text().splitlines()
    assert f"{len(valid)} of " in err and "records valid" in err


def test_a_format_option_must_be_one_key(capsys, tmp_path):
    code, _, err = run(
        capsys,
        "data",
        "import",
        "--format",
        "conll",
        "--input",
        str(FIXTURES / "importers" / "en.conll"),
        "--output",
        str(tmp_path / "en.jsonl"),
        "--dataset",
        "conll03",
        "--lang",
        "en",
        "--ontology",
        str(FIXTURES / "importers" / "ontology.yaml"),
        "--option",
        "scheme.name=BIO",
    )
    assert code == 1
    assert err == "knowcoder: error: --option: format option 'scheme.name=BIO' must be KEY=VALUE\n"
    assert list(tmp_path.iterdir()) == []


def test_export_refuses_an_unknown_format_naming_the_formats(capsys, tmp_path):
    code, err = usage_error(capsys, "data", "export", "--format", "xml", "--input", "a", "--output", "b")
    assert code == 2
    assert invalid_choice("--format", "xml", sorted(EXPORTERS)).search(err)


def test_synth_writes_into_the_artifacts_folder_by_default(capsys, tmp_path):
    code, _, err = run(
        capsys,
        "--set",
        f"paths.artifacts={tmp_path}",
        "--set",
        "data.synth.train=2",
        "--set",
        "data.synth.dev=1",
        "--set",
        "data.synth.test=1",
        "data",
        "synth",
    )
    output = tmp_path / "data" / "synth.jsonl"
    assert code == 0
    assert err == f"wrote 4 synthetic instances to {output}\n"
    assert [json.loads(line)["split"] for line in output.read_text().splitlines()] == [
        "train",
        "train",
        "dev",
        "test",
    ]
