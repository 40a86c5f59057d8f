"""The ontology at library scale (a small generated one here), and outputs unchanged by its caches."""

from __future__ import annotations

import json
import random

from knowcoder.corpus.sft import NegativeSampling, _NegativePool, example_rng, negative_pool, sample_classes
from knowcoder.prompts import PromptBuilder, PromptOptions
from knowcoder.schema.ontology import Kind, parse_ontology
from knowcoder.schema.synthetic import synthetic_ontology_yaml
from knowcoder.tasks import TASKS

from .render_cases import OUTPUTS, bundled_digests


def test_rendering_and_sampling_on_the_bundled_ontology_are_unchanged():
    # Given the digests of every case, written by the code before lookups were cached
    expected = json.loads(OUTPUTS.read_text(encoding="utf-8"))
    # When the current code renders and samples the same cases
    actual = bundled_digests()
    # Then no output differs
    assert sorted(actual) == sorted(expected)
    assert [key for key in expected if actual[key] != expected[key]] == []


def _walk_ancestors(ontology, name):
    """The definition of ``ancestors``, walked without any cache."""
    chain, current = [], ontology.types[name].parent
    while current in ontology.types:
        chain.append(current)
        current = ontology.types[current].parent
    return chain


def test_a_generated_ontology_loads_with_deep_trees_and_cached_lookups():
    # Given a generated ontology of 600 entity, 60 relation and 40 event classes, 8 levels at most
    text = synthetic_ontology_yaml(entities=600, relations=60, events=40, max_depth=8, seed=1)
    # When it is loaded and validated
    ontology = parse_ontology(text, source="synthetic.yaml")
    # Then it holds every class, trees are deep, and the cached closures equal a fresh walk
    assert [len(ontology.names(kind)) for kind in Kind] == [600, 60, 40]
    depths = [ontology.depth(name) for name in ontology.names(Kind.ENTITY)]
    assert max(depths) == 8 and min(depths) == 0
    for name in ontology.types:
        assert ontology.ancestors(name) == _walk_ancestors(ontology, name)
        assert ontology.depth(name) == len(_walk_ancestors(ontology, name))
    # an entity's descendants all have it as an ancestor, and nothing else does
    root = ontology.names(Kind.ENTITY)[0]
    below = {n for n in ontology.types if root in _walk_ancestors(ontology, n)}
    assert set(ontology.descendants(root)) == below


def test_negative_sampling_at_scale_draws_what_the_full_pool_gives():
    # Given a generated ontology and positives anywhere in the entity tree
    ontology = parse_ontology(synthetic_ontology_yaml(entities=800, relations=10, events=10, seed=2))
    entities = ontology.names(Kind.ENTITY)
    rng = random.Random(5)
    for k in range(30):
        positives = rng.sample(entities, 3)
        related = set(positives)
        for name in positives:
            related |= set(ontology.ancestors(name)) | set(ontology.descendants(name))
        # When the lazy pool is indexed and sampled, as sample_classes does
        lazy = _NegativePool(ontology, TASKS["ner"], positives)
        full = [name for name in entities if name not in related]
        # Then it is the list of unrelated classes, and a seeded draw picks the same classes
        assert list(lazy) == full == negative_pool(ontology, TASKS["ner"], positives)
        assert random.Random(k).sample(lazy, 5) == random.Random(k).sample(full, 5)
        chosen, negatives, _ = sample_classes(
            ontology, TASKS["ner"], positives, example_rng(0, str(k)), NegativeSampling(ratio=2.0)
        )
        assert set(negatives) <= set(full) and set(negatives) <= set(chosen)


def test_prompts_render_every_class_of_a_cold_type_set():
    ontology = parse_ontology(synthetic_ontology_yaml(entities=400, relations=40, events=20, seed=5))
    builder = PromptBuilder(ontology, PromptOptions(class_order="given"))
    names = ontology.names(Kind.ENTITY)
    types = names[-5:]
    code = builder.schema("ner", types)
    closed = {a for n in types for a in ontology.ancestors(n)} | set(types)
    defined = {
        line[len("class ") :].split("(")[0].rstrip(":")
        for line in code.splitlines()
        if line.startswith("class ")
    }
    assert defined == closed | {"Entity"}
