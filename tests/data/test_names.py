from __future__ import annotations

import random

import pytest

from knowcoder.data.names import GENERATORS, MONTHS, generated_name
from knowcoder.data.synth import synthesize
from knowcoder.errors import ConfigError
from knowcoder.schema.ontology import load_ontology

from ..conftest import REPO


@pytest.fixture(scope="module")
def ontology():
    return load_ontology(REPO / "data/ontology.yaml")


def test_generators_cover_every_open_class_of_the_lexicon_in_both_languages(ontology):
    from knowcoder.data.synth import load_lexicon

    for entity_type, lang in GENERATORS:
        assert entity_type in ontology and lang in ("en", "zh")
        name = generated_name(entity_type, lang, random.Random(1))
        assert name and name == name.strip()
    closed = {"Weapon", "Nationality"}  # common words: remembering them is fine
    lexicon_types = set(load_lexicon().types.values())
    assert {t for t, _ in GENERATORS} == lexicon_types - closed
    assert generated_name("Weapon", "en", random.Random(1)) is None


@pytest.mark.parametrize(
    ("entity_type", "lang", "pattern"),
    [
        ("Date", "en", rf"(({'|'.join(MONTHS)}) )?(19[5-9]\d|20[0-3]\d)"),
        ("Date", "zh", r"(19[5-9]\d|20[0-3]\d)年(([1-9]|1[0-2])月)?"),
        ("Money", "en", r"[$€£¥](\d{1,3}(,\d{3})+|\d+(\.\d)? (million|billion))"),
        ("Money", "zh", r"\d+(万|亿)(元|美元|欧元|英镑|日元)"),
    ],
)
def test_dates_and_money_keep_the_lexicon_formats(entity_type, lang, pattern):
    """Templates say "in {date}": a generated date must be a year or a month and year, like the lexicon's."""
    import re

    rng = random.Random(7)
    values = [generated_name(entity_type, lang, rng) for _ in range(300)]
    assert [v for v in values if not re.fullmatch(pattern, v)] == []
    assert len(set(values)) > 100


def test_generated_names_rarely_repeat():
    rng = random.Random(0)
    names = [generated_name("Person", "en", rng) for _ in range(2000)]
    assert len(set(names)) > 1950
    zh = [generated_name("Company", "zh", rng) for _ in range(2000)]
    assert len(set(zh)) > 1500
    cities = [generated_name("City", "en", rng) for _ in range(2000)]
    assert len(set(cities)) > 1500


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
