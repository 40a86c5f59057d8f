"""The bundled ontology and sample data load, have exact offsets and obey the ontology."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from knowcoder.data.instance import Instance
from knowcoder.data.jsonl import read_instances
from knowcoder.schema.ontology import Kind, Ontology, load_ontology
from tests.data.checks import annotation_problems, tasks_covered

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "raw" / "sample"


@pytest.fixture(scope="module")
def ontology() -> Ontology:
    return load_ontology(REPO / "data" / "ontology.yaml")


@pytest.fixture(scope="module")
def sample() -> dict[str, list[Instance]]:
    return {lang: list(read_instances(SAMPLE / f"{lang}.jsonl")) for lang in ("en", "zh")}


# ---- ontology -----------------------------------------------------------------------------------
def test_ontology_has_the_expected_classes(ontology):
    assert len(ontology.names(Kind.ENTITY)) == 24
    assert ontology.names(Kind.RELATION) == [
        "Affiliation",
        "Employment",
        "Membership",
        "EducatedAt",
        "Founder",
        "HeadquarteredIn",
        "LocatedIn",
        "BirthPlace",
        "CapitalOf",
    ]
    assert ontology.names(Kind.EVENT) == [
        "Personnel",
        "StartPosition",
        "EndPosition",
        "Conflict",
        "Attack",
        "Transport",
        "Acquisition",
    ]
    assert ontology.languages == ("en", "zh")


def test_ontology_hierarchy_is_several_levels_deep(ontology):
    assert ontology.ancestors("River") == ["BodyOfWater", "NaturalFeature", "Location"]
    assert ontology.ancestors("University") == ["EducationalInstitution", "Organization"]
    assert ontology.ancestors("City") == ["AdministrativeRegion", "Location"]
    assert ontology.descendants("Organization") == [
        "Company",
        "EducationalInstitution",
        "University",
        "GovernmentAgency",
        "SportsTeam",
    ]
    assert ontology.ancestors("StartPosition") == ["Personnel"]
    assert ontology.ancestors("Attack") == ["Conflict"]
    assert ontology.ancestors("Membership") == ["Affiliation"]


def test_relation_signatures_and_event_roles(ontology):
    assert ontology.relation_signature("CapitalOf") == (("City",), ("Country", "Province"))
    # Membership declares no head/tail of its own and inherits Affiliation's, whose tails
    # include GPEs because ACE05's ORG-AFF (its ace05 alias) has them
    assert ontology.relation_signature("Membership") == (
        ("Person", "Organization", "AdministrativeRegion"),
        ("Organization", "AdministrativeRegion"),
    )
    assert [role.name for role in ontology.roles("StartPosition")] == [
        "employee",
        "employer",
        "place",
        "time",
    ]
    assert [role.name for role in ontology.roles("Attack")] == [
        "place",
        "time",
        "attacker",
        "target",
        "instrument",
    ]


def test_every_class_is_described_in_english_and_chinese(ontology):
    missing = [
        name
        for name, typedef in ontology.types.items()
        if not (typedef.spec.description.get("en") and typedef.spec.description.get("zh"))
        or not (typedef.spec.examples.get("en") and typedef.spec.examples.get("zh"))
    ]
    assert missing == []


@pytest.mark.parametrize(
    ("label", "dataset", "expected"),
    [
        ("PER", "conll03", "Person"),
        ("MISC", "conll03", "Miscellaneous"),
        ("NR", "msra", "Person"),
        ("NS", "msra", "Location"),
        ("NT", "msra", "Organization"),
        ("人物", None, "Person"),
        ("人名", "msra", "Person"),
        ("사람", None, "Person"),
        ("GPE", "ontonotes", "AdministrativeRegion"),
        ("CORP", "multiconer22", "Company"),
        ("Personnel:Start-Position", "ace05", "StartPosition"),
        ("毕业院校", "duie", "EducatedAt"),
        ("company", None, "Company"),
    ],
)
def test_labels_of_several_languages_and_datasets_resolve(ontology, label, expected, dataset):
    assert ontology.resolve_label(label, dataset) == expected


def test_dataset_specific_labels_do_not_leak_into_other_datasets(ontology):
    assert ontology.resolve_label("NR") is None
    assert ontology.resolve_label("CORP", "conll03") is None


# ---- sample instances ---------------------------------------------------------------------------
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_sample_ids_languages_and_splits(sample, lang):
    instances = sample[lang]
    assert [x.id for x in instances] == [f"sample-{lang}-{i:04d}" for i in range(30)]
    assert {x.dataset for x in instances} == {"sample"}
    assert {x.lang for x in instances} == {lang}
    assert Counter(x.split for x in instances) == {"train": 18, "dev": 6, "test": 6}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_sample_offsets_and_types_agree_with_text_and_ontology(sample, ontology, lang):
    problems = [problem for x in sample[lang] for problem in annotation_problems(x, ontology)]
    assert problems == []


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_every_split_covers_all_four_tasks(sample, lang, split):
    assert tasks_covered([x for x in sample[lang] if x.split == split]) == {"ner", "re", "ed", "eae"}


def test_sample_uses_every_concrete_relation_and_event_class(sample, ontology):
    instances = sample["en"] + sample["zh"]
    relations = {r.type for x in instances for r in x.relations or ()}
    events = {e.type for x in instances for e in x.events or ()}
    assert relations == set(ontology.names(Kind.RELATION)) - {"Affiliation"}
    assert events == set(ontology.names(Kind.EVENT)) - {"Personnel"}


def test_known_sentence_has_exact_offsets(sample):
    ada = sample["en"][7]
    assert ada.text == "Ada Park joined Acme Corp in Paris."
    assert [(ada.span_text(e), e.type) for e in ada.entities] == [
        ("Ada Park", "Person"),
        ("Acme Corp", "Company"),
        ("Paris", "City"),
    ]
    (event,) = ada.events
    assert (event.type, ada.span_text(event.trigger)) == ("StartPosition", "joined")
    assert [(a.role, ada.span_text(a)) for a in event.arguments] == [
        ("employee", "Ada Park"),
        ("employer", "Acme Corp"),
        ("place", "Paris"),
    ]


def test_sample_includes_quotes_and_chinese_without_spaces(sample):
    assert sum('"' in x.text for x in sample["en"]) == 3
    assert any("《" in x.text for x in sample["zh"]) and any("“" in x.text for x in sample["zh"])
    # the only space in the Chinese sample is inside a product name ("Mate 60")
    spaced = [x.id for x in sample["zh"] if " " in x.text]
    assert spaced == ["sample-zh-0015"]


def test_repeated_surface_strings_point_at_the_intended_mention(sample):
    # "中国" occurs twice and both mentions are annotated; "长江" only as the second occurrence
    china = sample["zh"][4]
    assert [(e.start, e.end) for e in china.entities if china.span_text(e) == "中国"] == [(3, 5), (12, 14)]
    bridge = sample["zh"][26]
    assert [(bridge.span_text(e), e.start) for e in bridge.entities] == [("南京长江大桥", 0), ("长江", 9)]


# ---- the checker itself -------------------------------------------------------------------------
def test_checker_reports_bad_offsets_and_broken_constraints(ontology):
    broken = Instance.model_validate(
        {
            "id": "bad-1",
            "dataset": "t",
            "lang": "en",
            "text": "Ada Park joined Acme Corp.",
            "entities": [
                {"start": 0, "end": 9, "type": "Person"},
                {"start": 16, "end": 25, "text": "Acme Corp", "type": "Company"},
            ],
            "relations": [{"type": "BirthPlace", "head": 0, "tail": 1}],
            "events": [
                {
                    "type": "StartPosition",
                    "trigger": {"start": 9, "end": 15, "text": "joins"},
                    "arguments": [{"role": "boss", "start": 16, "end": 25, "type": "Company"}],
                }
            ],
        }
    )
    assert annotation_problems(broken, ontology) == [
        "bad-1 entities.0: span 'Ada Park ' is space-padded",
    ]
    fixed_span = broken.model_copy(
        update={"entities": [broken.entities[0].model_copy(update={"end": 8}), broken.entities[1]]}
    )
    assert annotation_problems(fixed_span, ontology) == [
        "bad-1 relations.0: BirthPlace(Person, Company) breaks the head/tail constraint",
        "bad-1 events.0.trigger: text 'joins' but the sentence has 'joined'",
        "bad-1 events.0: StartPosition has no role 'boss'",
    ]
