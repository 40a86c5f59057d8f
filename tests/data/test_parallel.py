"""Parallel en-zh pairs: the bundled file is aligned, and a misaligned pair is refused by name."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError

from knowcoder.data.parallel import ParallelPair, read_pairs, write_pairs
from knowcoder.errors import DataFormatError
from knowcoder.schema.ontology import Ontology, load_ontology
from tests.data.checks import annotation_problems, tasks_covered

REPO = Path(__file__).resolve().parents[2]
PARALLEL = REPO / "data" / "raw" / "parallel" / "en_zh.jsonl"
HINT = "item i of the source must be the translation of item i of the target, with the same type"


@pytest.fixture(scope="module")
def ontology() -> Ontology:
    return load_ontology(REPO / "data" / "ontology.yaml")


@pytest.fixture(scope="module")
def pairs() -> list[ParallelPair]:
    return list(read_pairs(PARALLEL))


def _raw(pairs: list[ParallelPair], index: int) -> dict:
    return json.loads(pairs[index].to_json())


# ---- the bundled file ---------------------------------------------------------------------------
def test_bundled_pairs_have_ids_directions_and_splits(pairs):
    assert [p.id for p in pairs] == [f"parallel-{i:04d}" for i in range(30)]
    assert {(p.source.lang, p.target.lang) for p in pairs} == {("en", "zh")}
    assert [(p.source.id, p.target.id) for p in pairs[:2]] == [
        ("parallel-en-0000", "parallel-zh-0000"),
        ("parallel-en-0001", "parallel-zh-0001"),
    ]
    assert Counter(p.source.split for p in pairs) == {"train": 18, "dev": 6, "test": 6}
    assert all(p.source.split == p.target.split for p in pairs)


def test_bundled_pairs_have_exact_offsets_on_both_sides(pairs, ontology):
    problems = [
        problem
        for pair in pairs
        for side in (pair.source, pair.target)
        for problem in annotation_problems(side, ontology)
    ]
    assert problems == []


def test_bundled_pairs_cover_all_four_tasks_on_both_sides(pairs):
    assert tasks_covered([p.source for p in pairs]) == {"ner", "re", "ed", "eae"}
    assert tasks_covered([p.target for p in pairs]) == {"ner", "re", "ed", "eae"}


def test_aligned_entities_are_translations_in_source_order(pairs):
    first = pairs[0]
    assert first.source.text == "Ada Park works for Acme Corp in Lyon."
    assert first.target.text == "朴艾达在里昂的艾克米公司工作。"
    source = [(first.source.span_text(e), e.type) for e in first.source.entities]
    target = [(first.target.span_text(e), e.type) for e in first.target.entities]
    assert source == [("Ada Park", "Person"), ("Acme Corp", "Company"), ("Lyon", "City")]
    # the target keeps the source's order although the Chinese sentence names Lyon first
    assert target == [("朴艾达", "Person"), ("艾克米公司", "Company"), ("里昂", "City")]


# ---- alignment errors ---------------------------------------------------------------------------
def test_entity_type_mismatch_names_pair_and_index(pairs):
    raw = _raw(pairs, 3)
    raw["target"]["entities"][2]["type"] = "Person"
    with pytest.raises(ValidationError) as caught:
        ParallelPair.model_validate(raw)
    expected = (
        f"pair 'parallel-0003': entities.2: type is 'Date' in the source but 'Person' in the target; {HINT}"
    )
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda raw: raw["target"]["entities"].pop(),
            "pair 'parallel-0003': entities: 3 in the source but 2 in the target",
        ),
        (
            lambda raw: raw["target"]["relations"][0].update(head=1, tail=0),
            "pair 'parallel-0003': relations.0: (type, head, tail) is ('Membership', 0, 1) in the source "
            "but ('Membership', 1, 0) in the target",
        ),
        (
            lambda raw: raw["target"]["events"][0].update(type="StartPosition"),
            "pair 'parallel-0003': events.0: type is 'EndPosition' in the source "
            "but 'StartPosition' in the target",
        ),
        (
            lambda raw: raw["target"]["events"][0]["arguments"][1].update(role="employee"),
            "pair 'parallel-0003': events.0.arguments.1: (role, type) is ('employer', 'SportsTeam') in the "
            "source but ('employee', 'SportsTeam') in the target",
        ),
        (
            lambda raw: raw["target"]["events"][0]["arguments"].pop(),
            "pair 'parallel-0003': events.0.arguments: the count is 3 in the source but 2 in the target",
        ),
        (
            lambda raw: raw["target"].pop("relations"),
            "pair 'parallel-0003': relations: annotated on one side only (absent in the target)",
        ),
    ],
)
def test_each_kind_of_misalignment_is_refused_with_its_index(pairs, edit, expected):
    raw = _raw(pairs, 3)
    edit(raw)
    with pytest.raises(ValidationError, match="parallel-0003") as caught:
        ParallelPair.model_validate(raw)
    assert expected in str(caught.value)


# ---- reading and writing ------------------------------------------------------------------------
def test_read_pairs_reports_a_misaligned_line_with_file_line_and_field(pairs, tmp_path):
    bad = _raw(pairs, 3)
    bad["target"]["entities"][2]["type"] = "Person"
    path = tmp_path / "pairs.jsonl"
    path.write_text(
        pairs[0].to_json() + "\n\n" + json.dumps(bad, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    reader = read_pairs(path)
    assert next(reader).id == "parallel-0000"
    with pytest.raises(DataFormatError) as caught:
        next(reader)
    assert str(caught.value) == (
        f"{path}:3: entities.2: pair 'parallel-0003': "
        f"type is 'Date' in the source but 'Person' in the target; {HINT}"
    )
    assert (caught.value.line, caught.value.field) == (3, "entities.2")


def test_read_pairs_reports_bad_json_and_bad_fields(pairs, tmp_path):
    broken_json = tmp_path / "json.jsonl"
    broken_json.write_text('{"id": "x", "source": \n', encoding="utf-8")
    with pytest.raises(DataFormatError) as caught:
        list(read_pairs(broken_json))
    assert (caught.value.line, caught.value.field) == (1, "<json>")

    missing = _raw(pairs, 0)
    del missing["target"]["text"]
    no_text = tmp_path / "fields.jsonl"
    no_text.write_text(json.dumps(missing) + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError) as caught:
        list(read_pairs(no_text))
    assert str(caught.value) == f"{no_text}:1: target.text: Field required"


def test_write_then_read_round_trips(pairs, tmp_path):
    path = tmp_path / "out" / "pairs.jsonl"
    assert write_pairs(path, pairs[:5]) == 5
    assert list(read_pairs(path)) == pairs[:5]
    assert path.read_text(encoding="utf-8").count("\n") == 5
