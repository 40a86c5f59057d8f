from __future__ import annotations

import hashlib
import json

import pytest

from knowcoder.config import load_params
from knowcoder.stages.data import input_name, prepare_data
from knowcoder.validation import ValidationFailed

from ..conftest import REPO


def params_for(tmp_path, *extra: str):
    return load_params(
        REPO / "params.yaml",
        overrides=[
            f"paths.ontology={REPO / 'data/ontology.yaml'}",
            f"paths.raw=[{REPO / 'data/raw/sample/en.jsonl'}, {REPO / 'data/raw/sample/zh.jsonl'}]",
            f"paths.parallel={REPO / 'data/raw/parallel/en_zh.jsonl'}",
            f"paths.artifacts={tmp_path / 'artifacts'}",
            "data.synth.train=40",
            "data.synth.dev=4",
            "data.synth.test=4",
            *extra,
        ],
    )


def test_input_names():
    assert input_name("data/raw/sample/en.jsonl") == "sample-en"
    assert input_name("en.jsonl") == "en"


def test_prepare_validates_everything_and_summarizes(tmp_path):
    prepared = prepare_data(params_for(tmp_path))
    assert prepared.passed
    assert sorted(prepared.results) == ["sample-en", "sample-zh", "synth"]
    summary = json.loads((prepared.out_dir / "summary.json").read_text())
    assert summary["passed"] is True
    assert summary["parallel_pairs"] == 30
    synth = summary["inputs"]["synth"]
    assert (synth["records"], synth["valid"], synth["splits"]) == (48, 48, {"train": 40, "dev": 4, "test": 4})
    assert synth["languages"] == {"en": 24, "zh": 24}
    for name in prepared.results:
        assert (prepared.out_dir / "validated" / name / "valid.jsonl").is_file()
    prompts = (prepared.out_dir / "sample_prompts.md").read_text()
    assert [line for line in prompts.splitlines() if line.startswith("## ")] == [
        "## ner",
        "## re",
        "## ed",
        "## eae",
    ]


def test_a_bad_input_fails_the_stage_but_every_report_is_written(tmp_path):
    bad = tmp_path / "bad" / "broken.jsonl"
    bad.parent.mkdir()
    good = (REPO / "data/raw/sample/en.jsonl").read_text().splitlines()[:5]
    bad.write_text(
        "\n".join([*good, '{"id": "x", "dataset": "d", "lang": "en", "text": ""}', "not json"]) + "\n"
    )
    before = hashlib.sha256(bad.read_bytes()).hexdigest()
    params = params_for(tmp_path, f"paths.raw=[{REPO / 'data/raw/sample/en.jsonl'}, {bad}]")

    with pytest.raises(ValidationFailed) as caught:
        prepare_data(params)

    assert "broken.jsonl" in str(caught.value) and "2 of 7 records rejected" in str(caught.value)
    out = tmp_path / "artifacts" / "data"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["passed"] is False
    assert summary["inputs"]["bad-broken"]["rejected"] == 2
    assert not (out / "validated" / "bad-broken" / "valid.jsonl").exists()
    assert (out / "validated" / "bad-broken" / "report.md").is_file()
    assert (out / "validated" / "synth" / "valid.jsonl").is_file()  # the other inputs were still checked
    assert not (out / "sample_prompts.md").exists()
    assert hashlib.sha256(bad.read_bytes()).hexdigest() == before
