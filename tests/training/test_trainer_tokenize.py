"""Tokenization for training: fixed line blocks, so the rows never depend on the process count."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from knowcoder.data.jsonl import write_jsonl
from knowcoder.errors import DataFormatError
from knowcoder.modeling.tiny import build_tiny_model, save_model_dir
from knowcoder.modeling.tokenizer import train_tokenizer
from knowcoder.training import trainer
from knowcoder.training.data import encode_example
from knowcoder.training.trainer import build_dataset, line_spans

TEXTS = [f"Person {i} was born in City {i % 7} in {1950 + i}." for i in range(60)]


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory) -> Path:
    tokenizer = train_tokenizer([*TEXTS, "results = []"], vocab_size=300, min_frequency=1)
    model = build_tiny_model(tokenizer, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)
    return save_model_dir(model, tokenizer, tmp_path_factory.mktemp("tok") / "model")


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(trainer, "SPAN_LINES", 7)  # 60 rows: 9 blocks, the last one short


def test_line_spans_cover_the_file_in_order(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_bytes(b"".join(f'{{"n": {i}}}\n'.encode() for i in range(10)))
    spans = line_spans(path, 4)
    assert [(first) for _, _, first in spans] == [1, 5, 9]
    assert spans[0][0] == 0 and spans[-1][1] == path.stat().st_size
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))


@pytest.mark.parametrize("stage", ["sft", "pretrain"])
def test_two_processes_give_the_rows_of_one(tmp_path, tokenizer_dir, small_blocks, stage):
    corpus = tmp_path / f"{stage}.jsonl"
    if stage == "sft":
        write_jsonl(corpus, ({"prompt": f"Input: {t}\n", "target": "results = []"} for t in TEXTS))
    else:
        write_jsonl(corpus, ({"text": t} for t in TEXTS))
    one = build_dataset(stage, corpus, tokenizer_dir, 64, tmp_path / "cache-1", workers=0)
    two = build_dataset(stage, corpus, tokenizer_dir, 64, tmp_path / "cache-2", workers=2)
    assert len(two.cache_files) > 1 if stage == "sft" else True  # the blocks ran in two processes
    assert one.to_list() == two.to_list() and len(one) > 0
    if stage == "sft":  # and they are exactly the sequential encoding, row for row
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        expected = [encode_example(f"Input: {t}\n", "results = []", tokenizer, max_length=64) for t in TEXTS]
        assert [row["input_ids"] for row in one] == [e["input_ids"] for e in expected if e is not None]


def test_a_broken_corpus_line_is_named(tmp_path, tokenizer_dir, small_blocks):
    corpus = tmp_path / "sft.jsonl"
    rows = [json.dumps({"prompt": "a", "target": "results = []"})] * 9 + ["{not json"]
    corpus.write_text("\n".join(rows) + "\n")
    with pytest.raises(DataFormatError) as error:
        build_dataset("sft", corpus, tokenizer_dir, 64, tmp_path / "cache")
    assert str(error.value).startswith(f"{corpus}:10: <json>: not valid JSON")
