"""The synthetic ontology generator: sizes as asked, deterministic per seed, and a valid ontology."""

from __future__ import annotations

import yaml

from knowcoder.schema.ontology import Kind, parse_ontology
from knowcoder.schema.synthetic import synthetic_ontology, synthetic_ontology_yaml


def test_the_generator_gives_the_sizes_asked_under_unique_names():
    tree = synthetic_ontology(entities=50, relations=7, events=5, max_depth=3, seed=0)
    assert tree["name"] == "synthetic-50-7-5"
    assert tree["languages"] == ["en", "zh"]
    assert [len(tree[kind]) for kind in ("entities", "relations", "events")] == [50, 7, 5]
    names = [spec["name"] for kind in ("entities", "relations", "events") for spec in tree[kind]]
    assert len(set(names)) == len(names)
    for spec in tree["events"]:
        assert all(len(role["types"]) in (1, 2) for role in spec["roles"])


def test_the_generator_is_deterministic_and_its_constraints_resolve():
    first = synthetic_ontology(entities=200, relations=20, events=10, seed=3)
    assert synthetic_ontology(entities=200, relations=20, events=10, seed=3) == first
    assert synthetic_ontology(entities=200, relations=20, events=10, seed=4) != first
    ontology = parse_ontology(synthetic_ontology_yaml(entities=200, relations=20, events=10, seed=3))
    for name in ontology.names(Kind.RELATION):
        heads, tails = ontology.relation_signature(name)
        assert heads and tails and all(ontology.kind_of(h) == Kind.ENTITY for h in heads + tails)


def test_the_yaml_text_holds_the_same_mapping_in_order():
    sizes = {"entities": 40, "relations": 5, "events": 4, "max_depth": 4, "seed": 2}
    text = synthetic_ontology_yaml(**sizes)
    assert yaml.safe_load(text) == synthetic_ontology(**sizes)
    assert text.startswith("name: synthetic-40-5-4\nlanguages:\n- en\n- zh\nentities:\n")
    ontology = parse_ontology(text, source="synthetic.yaml")
    assert max(ontology.depth(name) for name in ontology.names(Kind.ENTITY)) <= 4
