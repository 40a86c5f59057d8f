from __future__ import annotations

import random

import pytest

from knowcoder.data.names import GENERATORS, generated_name
from knowcoder.data.synth import synthesize
from knowcoder.errors import ConfigError
from knowcoder.schema.ontology import load_ontology

from ..conftest import REPO


@pytest.fixture(scope="module")
def ontology():
    return load_ontology(REPO / "data/ontology.yaml")


def test_generators_cover_people_and_organizations_in_both_languages(ontology):
    for entity_type, lang in GENERATORS:
        assert entity_type in ontology and lang in ("en", "zh")
        name = generated_name(entity_type, lang, random.Random(1))
        assert name and name == name.strip()
    assert generated_name("City", "en", random.Random(1)) is None


def test_generated_names_rarely_repeat():
    rng = random.Random(0)
    names = [generated_name("Person", "en", rng) for _ in range(2000)]
    assert len(set(names)) > 1950
    zh = [generated_name("Company", "zh", rng) for _ in range(2000)]
    assert len(set(zh)) > 1500


def test_share_of_generated_names_and_validity(ontology):
    counts = {"train": 400, "dev": 0, "test": 0}
    plain = list(synthesize(ontology, counts=counts, seed=5))
    mixed = list(synthesize(ontology, counts=counts, seed=5, generated_names=0.5))
    lexicon_names = {e.text for i in plain for e in i.entities}
    person_or_org = [e for i in mixed for e in i.entities if e.type in {t for t, _ in GENERATORS}]
    fresh = [e for e in person_or_org if e.text not in lexicon_names]
    assert 0.35 < len(fresh) / len(person_or_org) < 0.65
    for instance in mixed:
        for entity in instance.entities:
            assert instance.text[entity.start : entity.end] == entity.text
        texts = [e.text for e in instance.entities]
        assert len(texts) == len(set(texts))  # two slots never read the same name
    assert mixed == list(synthesize(ontology, counts=counts, seed=5, generated_names=0.5))


def test_share_must_be_a_fraction(ontology):
    with pytest.raises(ConfigError, match=r"data\.synth\.generated_names: must be between 0 and 1"):
        synthesize(ontology, counts={"train": 1}, generated_names=1.5)
