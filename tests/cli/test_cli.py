from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from knowcoder.cli.main import main

from ..conftest import FIXTURES, REPO

ONTOLOGY = str(FIXTURES / "mini_ontology.yaml")
PARAMS = str(REPO / "params.yaml")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["--params", PARAMS, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_console_script_is_installed():
    exe = Path(sys.executable).parent / "knowcoder"  # installed beside the interpreter running the tests
    assert exe.is_file()
    done = subprocess.run([exe, "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    for command in ("schema", "prompt", "data", "corpus", "train", "parse", "params"):
        assert command in done.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["schema", "render"],
        ["prompt"],
        ["data", "import"],
        ["data", "export"],
        ["data", "synth"],
        ["data", "validate"],
        ["data", "prepare"],
        ["corpus"],
        ["annotate"],
        ["train"],
        ["parse"],
        ["params"],
    ],
)
def test_every_subcommand_has_help(capsys, argv):
    with pytest.raises(SystemExit) as caught:
        main([*argv, "--help"])
    assert caught.value.code == 0
    assert "usage: knowcoder" in capsys.readouterr().out


def test_schema_render_prints_python(capsys):
    code, out, _ = run(
        capsys, "schema", "render", "--task", "ner", "--types", "Company", "--ontology", ONTOLOGY
    )
    assert code == 0
    assert "class Company(Organization):" in out and "class Organization(Entity):" in out


def test_schema_render_unknown_type_is_one_line_error(capsys):
    code, out, err = run(
        capsys, "schema", "render", "--task", "ner", "--types", "Robot", "--ontology", ONTOLOGY
    )
    assert code == 1 and out == ""
    assert err.strip().count("\n") == 0
    assert "--types: unknown class 'Robot'" in err


def test_prompt_in_released_style(capsys):
    code, out, _ = run(
        capsys,
        "prompt",
        "--task",
        "ner",
        "--types",
        "Person",
        "--text",
        "Ada Park",
        "--style",
        "released",
        "--ontology",
        ONTOLOGY,
    )
    assert code == 0
    assert out.endswith('sentence = "Ada Park"\n\nOutput:\n')  # the shipped queries end in a newline
    assert "\tpass" in out


def test_parse_reads_stdin_and_reports(capsys, monkeypatch):
    import io

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


def test_bad_override_exits_non_zero_with_one_line(capsys):
    code, _, err = run(capsys, "--set", "parser.max_chars=0", "params")
    assert code == 1
    assert err == "knowcoder: error: " + PARAMS + ": parser.max_chars: Input should be greater than 0\n"


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


def test_train_without_a_corpus_is_one_line(capsys, tmp_path):
    code, _, err = run(capsys, "--set", f"paths.artifacts={tmp_path}", "train", "--stage", "sft")
    assert code == 1
    assert (
        err == f"knowcoder: error: --stage: {tmp_path}/corpus/sft.jsonl does not exist; "
        "run `knowcoder corpus --stage sft` first\n"
    )


def test_annotate_writes_shards_and_a_coverage_report(capsys, tmp_path):
    fixtures = FIXTURES / "annotate"
    code, out, _ = run(
        capsys,
        "annotate",
        "--input",
        str(fixtures / "en.txt"),
        "--gazetteer",
        str(fixtures / "names.tsv"),
        "--relations",
        str(fixtures / "relations.tsv"),
        "--out-dir",
        str(tmp_path / "shards"),
        "--lang",
        "en",
        "--dataset",
        "weak",
        "--ontology",
        str(REPO / "data/ontology.yaml"),
    )
    assert code == 0
    report = json.loads(out)
    written = sorted(p.name for p in (tmp_path / "shards").iterdir())
    assert "coverage.json" in written and any(name.startswith("shard-") for name in written)
    lines = sum(len(p.read_text().splitlines()) for p in (tmp_path / "shards").glob("shard-*.jsonl"))
    assert lines == report["instances"] > 0
