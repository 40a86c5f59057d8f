from __future__ import annotations

import ast
import random

import pytest

from knowcoder.corpus.sft import (
    CorpusReport,
    NegativeSampling,
    instruction_examples,
    negative_pool,
    sample_classes,
)
from knowcoder.data.synth import synthesize
from knowcoder.prompts import PromptBuilder, PromptOptions
from knowcoder.schema.ontology import load_ontology
from knowcoder.tasks import TASKS

from ..conftest import REPO


@pytest.fixture(scope="module")
def ontology():
    return load_ontology(REPO / "data/ontology.yaml")


@pytest.fixture(scope="module")
def instances(ontology):
    return list(synthesize(ontology, counts={"train": 1500, "dev": 0, "test": 0}, seed=3))


def build(ontology, instances, **kwargs):
    report = CorpusReport()
    builder = PromptBuilder(ontology, PromptOptions(class_order="given"))
    examples = list(instruction_examples(instances, ontology, builder, report=report, **kwargs))
    return examples, report


def test_negative_rates_match_the_reference_within_tolerance(ontology, instances):
    _, report = build(ontology, instances)
    # 20 % negatives per positive class and 5 % negative-only samples, over ~3,700 samples
    assert report.negative_classes / report.positive_classes == pytest.approx(0.2, abs=0.02)
    assert report.sampled_only_negative / report.with_positives == pytest.approx(0.05, abs=0.015)


def test_rates_follow_the_settings(ontology, instances):
    _, report = build(ontology, instances, sampling=NegativeSampling(ratio=1.0, only_negative_rate=0.0))
    assert report.sampled_only_negative == 0
    assert report.negative_classes / report.positive_classes == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize("keep", [0.0, 0.3])
def test_instances_without_positives_are_kept_at_the_set_rate(ontology, instances, keep):
    _, everything = build(ontology, instances)
    examples, report = build(ontology, instances, sampling=NegativeSampling(without_positives_rate=keep))
    assert everything.without_positives > 1000 and everything.skipped_without_positives == 0
    assert report.with_positives == everything.with_positives  # examples with gold are untouched
    assert report.without_positives + report.skipped_without_positives == everything.without_positives
    assert report.without_positives / everything.without_positives == pytest.approx(keep, abs=0.04)
    assert sum(e.positives == 0 and e.target == "results = []" for e in examples) >= report.without_positives


def class_names_in(prompt: str) -> set[str]:
    query = prompt.split("Input:\n", 1)[1].rsplit("\nOutput:\n", 1)[0]
    return {node.name for node in ast.parse(query).body if isinstance(node, ast.ClassDef)}


def called_names(target: str) -> set[str]:
    return {
        node.func.id
        for node in ast.walk(ast.parse(target))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }


def test_every_class_a_target_uses_is_defined_in_its_prompt(ontology, instances):
    examples, _ = build(ontology, instances[:400])
    assert {e.task for e in examples} == set(TASKS)
    for example in examples:
        assert called_names(example.target) <= class_names_in(example.prompt), example.id


def test_negative_only_samples_have_empty_targets_and_no_positive(ontology, instances):
    examples, _ = build(
        ontology, instances[:600], sampling=NegativeSampling(ratio=0.2, only_negative_rate=1.0)
    )
    by_id = {i.id: i for i in instances}
    for example in examples:
        assert example.target == "results = []"
        task = TASKS[example.task]
        instance = by_id[example.id.rsplit(":", 1)[0]]
        gold = {r.type for r in task.gold_records(instance, ontology)}
        offered = {n for n in class_names_in(example.prompt) if ontology.kind_of(n) == task.kind}
        assert not gold & offered, example.id


def test_negatives_exclude_relatives_of_positives(ontology):
    pool = negative_pool(ontology, TASKS["ner"], ["Company"])
    assert "Company" not in pool and "Organization" not in pool
    assert "Person" in pool
    pool = negative_pool(ontology, TASKS["ner"], ["Organization"])
    assert "Company" not in pool and "University" not in pool


def test_sampling_is_deterministic_per_example(ontology, instances):
    first, _ = build(ontology, instances[:200], seed=7)
    again, _ = build(ontology, list(reversed(instances[:200])), seed=7)
    assert sorted((e.id, e.prompt, e.target) for e in first) == sorted(
        (e.id, e.prompt, e.target) for e in again
    )
    other, _ = build(ontology, instances[:200], seed=8)
    assert [e.prompt for e in first] != [e.prompt for e in other]


def test_class_order_is_shuffled_across_examples(ontology):
    rng = random.Random(0)
    orders = {
        tuple(
            sample_classes(
                ontology, TASKS["ner"], ["Person", "Date", "City"], rng, NegativeSampling(0.0, 0.0)
            )[0]
        )
        for _ in range(30)
    }
    assert len(orders) == 6  # all 3! orders of three positives occur


def test_prompts_fit_max_length_by_dropping_negatives_first(ontology, instances):
    def length(text: str) -> int:
        return len(text)

    unlimited, _ = build(
        ontology, instances[:300], sampling=NegativeSampling(ratio=2.0, only_negative_rate=0.0)
    )
    limit = sorted(len(e.prompt + e.target) for e in unlimited)[len(unlimited) // 2]
    capped, report = build(
        ontology,
        instances[:300],
        sampling=NegativeSampling(ratio=2.0, only_negative_rate=0.0),
        max_length=limit,
        length_fn=length,
    )
    assert all(len(e.prompt + e.target) <= limit for e in capped)
    assert report.trimmed_negatives > 0
    assert len(capped) + report.too_long == len(unlimited)
    kept = {e.id: e for e in capped}
    for example in unlimited:  # what survives keeps its target: only negatives were dropped
        if example.id in kept:
            assert kept[example.id].target == example.target
