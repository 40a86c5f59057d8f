"""Corpus builds in shards: the same bytes for any shard size, shards planned in output order."""

from __future__ import annotations

import json
import shutil

import pytest

from knowcoder.artifacts import Layout
from knowcoder.config import load_params
from knowcoder.corpus.build import JsonlLines, build_corpus_file, plan_corpus
from knowcoder.errors import ConfigError

from ..conftest import REPO

SAMPLE = REPO / "data/raw/sample/en.jsonl"  # 30 hand-written sentences, 20 of them train


def _params(artifacts, shard_size):
    return load_params(
        REPO / "params.yaml",
        profile="smoke",
        overrides=[
            f"paths.artifacts={artifacts}",
            "corpus.inputs=[sample-en]",
            f"data.shard_size={shard_size}",
            "data.workers=0",
        ],
    )


@pytest.fixture
def artifacts(tmp_path):
    """An artifacts folder whose validated sample-en input is the bundled English sample."""
    root = tmp_path / "artifacts"
    target = Layout(root).validated("sample-en")
    target.parent.mkdir(parents=True)
    shutil.copy(SAMPLE, target)
    return root


def test_shards_are_the_class_documents_then_each_range_in_order(artifacts, tmp_path):
    params = _params(artifacts, 12)
    shards = plan_corpus(params, "pretrain", tmp_path / "pretrain.jsonl")
    assert [s.name for s in shards] == ["classes", "input0-00000", "input0-00001", "input0-00002"]
    assert [s.lines.first_line for s in shards[1:]] == [1, 13, 25]
    assert {s.split for s in shards[1:]} == {params.corpus.split}
    assert len({s.key for s in shards}) == 1
    sft = plan_corpus(params, "sft", tmp_path / "sft.jsonl")
    assert [s.name for s in sft] == ["input0-00000", "input0-00001", "input0-00002"]


@pytest.mark.parametrize("stage", ["sft", "pretrain"])
def test_the_corpus_is_the_same_bytes_for_any_shard_size(artifacts, tmp_path, stage):
    one = build_corpus_file(_params(artifacts, 1), stage, tmp_path / "one" / f"{stage}.jsonl")
    whole = build_corpus_file(_params(artifacts, 1000), stage, tmp_path / "whole" / f"{stage}.jsonl")
    assert (tmp_path / "one" / f"{stage}.jsonl").read_bytes() == (
        tmp_path / "whole" / f"{stage}.jsonl"
    ).read_bytes()
    assert one.rows == whole.rows > 0
    assert one.rows_by_kind == whole.rows_by_kind
    assert sum(one.rows_by_kind.values()) == one.rows
    assert len(one.shards) == 30 + (stage == "pretrain")  # one range per line (and the class documents)
    assert (one.computed, whole.computed) == (len(one.shards), len(whole.shards))
    manifest = json.loads((tmp_path / "one" / f"{stage}.manifest.json").read_text())
    assert (manifest["stage"], manifest["shard_lines"], manifest["rows"]) == (stage, 1, one.rows)
    assert not (tmp_path / "one" / f"{stage}.parts").exists()  # parts go once the corpus is whole


def test_an_input_that_was_not_prepared_names_the_step(tmp_path):
    params = _params(tmp_path / "empty", 10)
    with pytest.raises(ConfigError) as caught:
        plan_corpus(params, "sft", tmp_path / "sft.jsonl")
    assert str(caught.value) == (
        f"corpus.inputs: {Layout(tmp_path / 'empty').validated('sample-en')} does not exist; "
        "run `knowcoder data prepare` first (or fix the name)"
    )


def test_jsonl_lines_reads_any_line_by_index(tmp_path):
    path = tmp_path / "lines.jsonl"
    path.write_text('{"a": 1}\n{"b": "é"}\n{"c": 3}', encoding="utf-8")
    lines = JsonlLines(path)
    try:
        assert len(lines) == 3
        assert [lines[2], lines[0], lines[-2]] == ['{"c": 3}', '{"a": 1}\n', '{"b": "é"}\n']
        with pytest.raises(IndexError):
            lines[3]
    finally:
        lines.close()
