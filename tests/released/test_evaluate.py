"""Scoring released outputs on released records, called directly (the CLI prints the same numbers)."""

from __future__ import annotations

import json

import pytest

from knowcoder.errors import DataFormatError
from knowcoder.released.evaluate import (
    load_released,
    output_field,
    outputs_from_field,
    released_prompt,
    score_released,
)
from tests.released.conftest import RELEASED

DATA = RELEASED / "example_data.jsonl"


@pytest.fixture(scope="module")
def released():
    return load_released(DATA)


def test_load_released_reads_every_record_and_the_schema_its_prompts_define(released):
    examples, ontology, builder = released
    assert len(examples) == 9
    assert builder.ontology is ontology
    for example in examples:
        assert set(example.classes) <= set(ontology.types)


def test_the_model_input_wraps_the_released_query(released):
    examples, _, builder = released
    for example in examples:
        prompt = released_prompt(builder, example)
        assert example.prompt in prompt
        assert prompt != example.prompt  # the system text and Input:/Output: wrapper


def test_the_released_outputs_score_as_the_release_reads_them(released):
    examples, _, builder = released
    outputs = outputs_from_field(DATA, "one-stage.output")
    assert outputs == [e.output for e in examples]
    metrics = score_released(examples, outputs, builder).to_dict()
    assert metrics["ner.f1"] == metrics["re.f1"] == metrics["eae.f1"] == 1.0
    # ED: "member" is a TP; the release's "school" is not the "School" its offsets cover: 1 FP, 1 FN
    ed = {stat: metrics[f"ed.classification.{stat}"] for stat in ("tp", "fp", "fn")}
    assert ed == {"tp": 1, "fp": 1, "fn": 1}
    assert metrics["ed.f1"] == 0.5


def test_empty_outputs_miss_every_gold_record(released):
    examples, _, builder = released
    metrics = score_released(examples, [""] * len(examples), builder).to_dict()
    assert metrics["ner.f1"] == metrics["re.f1"] == metrics["ed.f1"] == metrics["eae.f1"] == 0.0
    assert metrics["ed.classification.fp"] == 0
    assert metrics["ed.classification.fn"] == 2
    with pytest.raises(ValueError, match=r"zip\(\) argument 2 is shorter than argument 1"):
        score_released(examples, ["" for _ in examples[1:]], builder)  # one output per record


def test_output_field_reads_a_key_or_a_dotted_path():
    record = {"pred": "a", "one-stage": {"output": "b"}, "x.y": "c"}
    assert output_field(record, "pred") == "a"
    assert output_field(record, "one-stage.output") == "b"
    assert output_field(record, "x.y") == "c"  # a key with a dot wins over the path
    assert output_field(record, "one-stage.missing") is None
    assert output_field(record, "pred.deeper") is None


def test_an_output_that_is_not_a_string_names_its_line_and_field(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text(json.dumps({"pred": "ok"}) + "\n" + json.dumps({"pred": ["no"]}) + "\n")
    with pytest.raises(DataFormatError) as caught:
        outputs_from_field(path, "pred")
    assert str(caught.value) == f"{path}:2: pred: expected the output as a string, got ['no']"
