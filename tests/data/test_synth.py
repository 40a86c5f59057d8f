"""The synthetic generator: exact offsets, ontology-valid, deterministic, held-out names for dev/test."""

from __future__ import annotations

import re
import textwrap
from collections import Counter
from pathlib import Path

import pytest

import knowcoder.data
from knowcoder.data.instance import Instance
from knowcoder.data.synth import default_lexicon_path, load_lexicon, synthesize
from knowcoder.errors import ConfigError, DataFormatError, OntologyError
from knowcoder.schema.ontology import Ontology, load_ontology
from tests.data.checks import annotation_problems, tasks_covered

REPO = Path(__file__).resolve().parents[2]
COUNTS = {"train": 2000, "dev": 200, "test": 200}


@pytest.fixture(scope="module")
def ontology() -> Ontology:
    return load_ontology(REPO / "data" / "ontology.yaml")


@pytest.fixture(scope="module")
def generated(ontology) -> list[Instance]:
    return list(synthesize(ontology, counts=COUNTS, seed=0))


def _lexicon_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "lexicon.yaml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


# ---- shape --------------------------------------------------------------------------------------
def test_split_and_language_counts_are_as_asked(ontology):
    instances = list(synthesize(ontology, counts={"train": 50, "dev": 10, "test": 7}))
    assert Counter((x.split, x.lang) for x in instances) == {
        ("train", "en"): 25,
        ("train", "zh"): 25,
        ("dev", "en"): 5,
        ("dev", "zh"): 5,
        ("test", "en"): 4,
        ("test", "zh"): 3,
    }
    assert {x.dataset for x in instances} == {"synth"}


def test_ids_are_per_language_sequences_across_splits(ontology):
    instances = list(synthesize(ontology, counts={"train": 4, "dev": 2}, languages=("zh", "en")))
    assert [x.id for x in instances] == [
        "synth-zh-000000",
        "synth-en-000000",
        "synth-zh-000001",
        "synth-en-000001",
        "synth-zh-000002",
        "synth-en-000002",
    ]


def test_one_language_only(ontology):
    instances = list(synthesize(ontology, counts={"train": 6}, languages=("en",)))
    assert [x.id for x in instances] == [f"synth-en-{i:06d}" for i in range(6)]


def test_generated_ids_are_unique(generated):
    ids = [x.id for x in generated]
    assert len(set(ids)) == 2400
    assert all(re.fullmatch(r"synth-(en|zh)-\d{6}", i) for i in ids)


# ---- correctness --------------------------------------------------------------------------------
def test_every_instance_has_exact_offsets_and_obeys_the_ontology(generated, ontology):
    problems = [problem for x in generated for problem in annotation_problems(x, ontology)]
    assert problems == []


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_all_four_tasks_and_all_templates_are_used(generated, lang):
    instances = [x for x in generated if x.lang == lang]
    assert tasks_covered(instances) == {"ner", "re", "ed", "eae"}
    used = {x.meta["template"] for x in instances}
    assert used == {f"{lang}-{i:02d}" for i in range(29)}


def test_a_rendered_sentence_has_its_spans_where_the_names_are(generated):
    # spans are recorded while rendering, so each one reads back as the name that was written there
    for instance in generated[:200]:
        for entity in instance.entities:
            assert instance.span_text(entity) == entity.text
        for event in instance.events:
            assert instance.span_text(event.trigger) == event.trigger.text


def test_chinese_sentences_have_no_spaces_outside_names(generated):
    for instance in (x for x in generated if x.lang == "zh"):
        covered = {i for e in instance.entities for i in range(e.start, e.end)}
        assert [i for i, ch in enumerate(instance.text) if ch == " " and i not in covered] == []


def test_sentences_are_short(generated):
    assert max(len(x.text) for x in generated if x.lang == "en") <= 80
    assert max(len(x.text) for x in generated if x.lang == "zh") <= 40


# ---- determinism --------------------------------------------------------------------------------
def test_same_seed_gives_identical_output(ontology, generated):
    again = list(synthesize(ontology, counts=COUNTS, seed=0))
    assert [x.to_json() for x in again] == [x.to_json() for x in generated]


def test_different_seeds_give_different_sentences(ontology):
    first = [x.text for x in synthesize(ontology, counts={"train": 100}, seed=0)]
    second = [x.text for x in synthesize(ontology, counts={"train": 100}, seed=1)]
    assert sum(a != b for a, b in zip(first, second, strict=True)) > 80


def test_dev_and_test_do_not_depend_on_the_train_count(ontology):
    small = [
        x.text
        for x in synthesize(ontology, counts={"train": 10, "dev": 20, "test": 20})
        if x.split != "train"
    ]
    large = [
        x.text
        for x in synthesize(ontology, counts={"train": 300, "dev": 20, "test": 20})
        if x.split != "train"
    ]
    assert small == large


# ---- held-out names -----------------------------------------------------------------------------
def test_every_fifth_name_is_held_out():
    lexicon = load_lexicon()
    assert lexicon.held_out_names[("person", "en")][:3] == ("Lena Fischer", "Marcus Reed", "Amara Okafor")
    assert lexicon.held_out_names[("city", "zh")] == ("武汉", "西安", "长沙", "柏林", "纽约", "奥斯陆")
    assert "Lena Fischer" not in lexicon.train_names[("person", "en")]
    assert lexicon.shared_pools == frozenset()


def test_dev_and_test_name_nothing_seen_in_training(generated):
    train = {e.text for x in generated if x.split == "train" for e in x.entities}
    evaluation = {e.text for x in generated if x.split != "train" for e in x.entities}
    assert len(evaluation) > 100
    assert train & evaluation == set()


def test_small_pools_are_shared_rather_than_starved(tmp_path, ontology):
    path = _lexicon_file(
        tmp_path,
        """
        fillers:
          person: {type: Person, names: {en: [Ada Park, Tom Hale, Mei Lin]}}
          company:
            type: Company
            names: {en: [A Corp, B Corp, C Corp, D Corp, E Corp, F Corp, G Corp, H Corp, I Corp, J Corp]}
        templates:
          en:
            - text: "{person} met {person2} at {company}."
        """,
    )
    lexicon = load_lexicon(path)
    assert lexicon.shared_pools == {("person", "en")}
    assert lexicon.held_out_names[("company", "en")] == ("E Corp", "J Corp")
    instances = list(synthesize(ontology, counts={"train": 5, "test": 5}, languages=("en",), lexicon=lexicon))
    assert {x.entities[2].text for x in instances if x.split == "test"} <= {"E Corp", "J Corp"}
    assert all(x.entities[0].text != x.entities[1].text for x in instances)


# ---- errors -------------------------------------------------------------------------------------
def test_unknown_language_and_bad_counts_are_config_errors(ontology):
    with pytest.raises(ConfigError, match="no synthetic templates for language 'de'; available: en, zh"):
        synthesize(ontology, counts={"train": 1}, languages=("en", "de"))
    with pytest.raises(ConfigError, match=r"data\.synth\.dev: count must be a whole number >= 0, got -1"):
        synthesize(ontology, counts={"train": 1, "dev": -1})


def test_a_template_the_ontology_forbids_is_refused_by_name(tmp_path, ontology):
    path = _lexicon_file(
        tmp_path,
        """
        fillers:
          person: {type: Person, names: {en: [Ada Park, Tom Hale]}}
          city: {type: City, names: {en: [Paris, Lyon]}}
        templates:
          en:
            - text: "{person} was born in {city}."
              relations: [[BirthPlace, person, city]]
            - text: "{person} founded {city}."
              relations: [[Founder, person, city]]
        """,
    )
    with pytest.raises(OntologyError) as caught:
        synthesize(ontology, counts={"train": 1}, languages=("en",), lexicon=load_lexicon(path))
    assert "synth template en-01: Founder does not allow City (city); allowed: ('Organization',)" in str(
        caught.value
    )


def test_an_event_role_the_ontology_lacks_is_refused(tmp_path, ontology):
    path = _lexicon_file(
        tmp_path,
        """
        fillers:
          person: {type: Person, names: {en: [Ada Park, Tom Hale]}}
        templates:
          en:
            - text: "{person} [[left]]."
              events: [{type: Transport, trigger: left, arguments: {passenger: person}}]
        """,
    )
    with pytest.raises(OntologyError, match="synth template en-00: Transport has no role 'passenger'"):
        synthesize(ontology, counts={"train": 1}, languages=("en",), lexicon=load_lexicon(path))


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ('"{animal} ran."', "slot {animal} names unknown pool 'animal'"),
        ('"{person} met {person}."', "slot {person} appears twice"),
        (
            '{text: "{person} left.", events: [{type: EndPosition, trigger: left}]}',
            "trigger 'left' is not marked [[...]] in the text",
        ),
        (
            '{text: "{person} left.", relations: [[Employment, person, company]]}',
            "refers to slot 'company', which the text lacks",
        ),
    ],
)
def test_malformed_templates_are_reported_with_their_place(tmp_path, template, message):
    body = f"""
        fillers:
          person: {{type: Person, names: {{en: [Ada Park, Tom Hale]}}}}
        templates:
          en:
            - {template}
        """
    if not template.startswith("{"):
        body = body.replace(f"- {template}", f"- {{text: {template}}}")
    path = _lexicon_file(tmp_path, body)
    with pytest.raises(DataFormatError) as caught:
        load_lexicon(path)
    assert str(caught.value).startswith(f"{path}: templates.en-00: ")
    assert message in str(caught.value)


def test_space_padded_filler_names_are_refused(tmp_path):
    path = _lexicon_file(
        tmp_path,
        """
        fillers:
          person: {type: Person, names: {en: ["Ada Park ", Tom Hale]}}
        templates:
          en: []
        """,
    )
    with pytest.raises(
        DataFormatError, match=r"fillers\.person\.names\.en: name 'Ada Park ' is empty or space-padded"
    ):
        load_lexicon(path)


# ---- packaging and speed ------------------------------------------------------------------------
def test_bundled_lexicon_ships_inside_the_package():
    path = default_lexicon_path()
    assert path == Path(knowcoder.data.__file__).parent / "synth_lexicon.yaml"
    assert path.is_file()
