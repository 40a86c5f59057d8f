"""`knowcoder corpus`, `knowcoder annotate` and `knowcoder train`."""

from __future__ import annotations

import json

import pytest

from knowcoder.stages.train import STAGES

from ..conftest import FIXTURES, REPO
from .conftest import help_text, invalid_choice, run, usage_error


@pytest.mark.parametrize("argv", [["corpus"], ["annotate"], ["train"]])
def test_every_subcommand_has_help(capsys, argv):
    help_text(capsys, *argv)


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


def test_corpus_without_the_data_stage_names_the_missing_input(capsys, tmp_path):
    code, out, err = run(capsys, "--set", f"paths.artifacts={tmp_path}", "corpus", "--stage", "sft")
    assert (code, out) == (1, "")
    assert err == (
        f"knowcoder: error: corpus.inputs: {tmp_path}/data/validated/sample-en/valid.jsonl does not exist; "
        "run `knowcoder data prepare` first (or fix the name)\n"
    )


@pytest.mark.parametrize("command", ["corpus", "train"])
def test_an_unknown_stage_is_refused_naming_the_stages(capsys, command):
    code, err = usage_error(capsys, command, "--stage", "nope")
    assert code == 2
    assert invalid_choice("--stage", "nope", STAGES).search(err)


def test_annotate_refuses_to_overwrite_earlier_shards(capsys, tmp_path):
    fixtures = FIXTURES / "annotate"
    argv = [
        "annotate",
        "--input",
        str(fixtures / "en.txt"),
        "--gazetteer",
        str(fixtures / "names.tsv"),
        "--out-dir",
        str(tmp_path / "shards"),
        "--lang",
        "en",
        "--dataset",
        "weak",
        "--ontology",
        str(REPO / "data/ontology.yaml"),
    ]
    assert run(capsys, *argv)[0] == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "shards").iterdir()}
    code, out, err = run(capsys, *argv)
    assert (code, out) == (1, "")
    assert err == (
        f"knowcoder: error: {tmp_path / 'shards'}: holds the output of an earlier run (shard-00000.jsonl); "
        "pass overwrite=True or use an empty one\n"
    )
    assert {p.name: p.read_bytes() for p in (tmp_path / "shards").iterdir()} == before
    assert run(capsys, *argv, "--overwrite")[0] == 0
