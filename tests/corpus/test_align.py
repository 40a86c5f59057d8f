from __future__ import annotations

import ast

import pytest

from knowcoder.corpus.align import alignment_examples, mix_with_instructions
from knowcoder.corpus.sft import InstructionExample
from knowcoder.data.parallel import read_pairs
from knowcoder.prompts import PromptBuilder, PromptOptions
from knowcoder.schema.ontology import load_ontology

from ..conftest import REPO

PAIRS = REPO / "data/raw/parallel/en_zh.jsonl"


@pytest.fixture(scope="module")
def builder():
    return PromptBuilder(load_ontology(REPO / "data/ontology.yaml"), PromptOptions(system=False))


def assignments(prompt: str) -> dict[str, object]:
    query = prompt.split("Input:\n", 1)[1].rsplit("\nOutput:\n", 1)[0]
    out = {}
    for node in ast.parse(query).body:
        if isinstance(node, ast.Assign):
            out[node.targets[0].id] = node.value
    return out


def test_alignment_examples_pair_the_right_sentences(builder):
    pairs = list(read_pairs(PAIRS))
    examples = list(alignment_examples(pairs, builder, tasks=["ner"]))
    assert len(examples) == 2 * len(pairs)
    for pair, forward, backward in zip(pairs, examples[::2], examples[1::2], strict=True):
        for example, source, target in (
            (forward, pair.source, pair.target),
            (backward, pair.target, pair.source),
        ):
            values = assignments(example.prompt)
            assert values["source_sentence"].value == source.text
            assert values["sentence"].value == target.text
            expected_target = builder.target([r for r in _records(target, builder)], "ner")
            assert example.target == expected_target
            assert example.lang == target.lang and example.kind == "alignment"
            assert example.id == f"{pair.id}:{source.lang}-{target.lang}:ner"


def _records(instance, builder):
    from knowcoder.tasks import TASKS

    return TASKS["ner"].gold_records(instance, builder.ontology)


def test_one_direction_only(builder):
    pairs = list(read_pairs(PAIRS))[:3]
    examples = list(alignment_examples(pairs, builder, tasks=["ner"], both_directions=False))
    assert [e.lang for e in examples] == [p.target.lang for p in pairs]


def _example(i: int, kind: str) -> InstructionExample:
    return InstructionExample(f"{kind}{i}", "ner", "en", "d", "p", "t", 1, 0, kind=kind)


def test_mixing_ratio_and_determinism():
    alignment = [_example(i, "alignment") for i in range(10)]
    instructions = [_example(i, "instruction") for i in range(100)]
    mixed = list(mix_with_instructions(alignment, instructions, ratio=0.5, seed=1))
    assert sum(e.kind == "alignment" for e in mixed) == 10
    assert sum(e.kind == "instruction" for e in mixed) == 5
    assert mixed == list(mix_with_instructions(alignment, instructions, ratio=0.5, seed=1))
    doubled = list(mix_with_instructions(alignment, instructions[:3], ratio=2, seed=1))
    assert sum(e.kind == "instruction" for e in doubled) == 20  # cycles through the 3 it has
    with pytest.raises(ValueError, match="mix ratio must be >= 0"):
        list(mix_with_instructions(alignment, instructions, ratio=-1))
