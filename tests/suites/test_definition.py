"""The bundled suites: they load, their label sets are the benchmarks', their paper rows add up."""

from __future__ import annotations

from collections import Counter

import pytest

from knowcoder.data.importers import import_dataset
from knowcoder.errors import ConfigError
from knowcoder.schema.ontology import Kind
from knowcoder.suites import bundled_suites, label_set, load_suite
from knowcoder.suites.definition import AVERAGE

from ..conftest import FIXTURES


@pytest.mark.parametrize("name", sorted(bundled_suites()))
def test_every_bundled_suite_and_its_ontologies_load(name):
    suite = load_suite(name)
    assert suite.name == name
    for dataset in suite.datasets:
        ontology = suite.load_ontology(dataset)
        for task in dataset.tasks:
            assert label_set(ontology, task), f"{dataset.name} has no classes for {task}"


# label counts as the benchmarks define them (CrossNER without `misc`, which is not scored)
EXPECTED_NER_LABELS = {
    "mit_movie": 12,
    "mit_restaurant": 8,
    "crossner_ai": 13,
    "crossner_literature": 11,
    "crossner_music": 12,
    "crossner_politics": 8,
    "crossner_science": 16,
    "conll03": 4,
    "ace05": 7,
    "msra": 3,
    "weibo": 8,
    "duie": 26,  # DuIE's subject/object types
    "duee": 0,  # DuEE annotates events only
}


def test_label_sets_have_the_benchmarks_sizes():
    counts = {
        dataset.name: len(suite.load_ontology(dataset).names(Kind.ENTITY))
        for suite in map(load_suite, bundled_suites())
        for dataset in suite.datasets
    }
    assert counts == EXPECTED_NER_LABELS


def test_ace05_prompts_define_the_33_subtypes_not_their_parents():
    suite = load_suite("supervised-en")
    ace = next(d for d in suite.datasets if d.name == "ace05")
    ontology = suite.load_ontology(ace)
    ed = label_set(ontology, "ed")
    assert len(ed) == 33
    assert "Justice" not in ed and "ArrestJailDetain" in ed
    assert len(label_set(ontology, "re")) == 6 + 7  # relations, then the entity classes they use
    assert ontology.resolve_label("Justice:Arrest-Jail") == "ArrestJailDetain"
    assert ontology.resolve_role("StartOrganization", "Org") == "organization"


def test_raw_and_universalner_spellings_map_to_one_class():
    suite = load_suite("zero-shot-ner")
    ai = suite.load_ontology(next(d for d in suite.datasets if d.name == "crossner_ai"))
    assert ai.resolve_label("programlang") == ai.resolve_label("program language") == "ProgrammingLanguage"
    assert ai.resolve_label("organisation") == ai.resolve_label("organization") == "Organization"
    assert ai.resolve_label("misc") is None  # not scored zero-shot; the suite drops it


def test_paper_averages_are_the_mean_of_their_columns():
    # KnowCoder-7B: (50.0 + 48.2 + 60.3 + 61.1 + 70.0 + 72.2 + 59.1) / 7 = 60.13 -> 60.1
    suite = load_suite("zero-shot-ner")
    columns = suite.column_keys()
    for row in suite.paper:
        if AVERAGE in row.scores and all(c in row.scores for c in columns):
            mean = sum(row.scores[c] for c in columns) / len(columns)
            assert abs(mean - row.scores[AVERAGE]) < 0.051, row.model


def test_unknown_suite_names_the_bundled_ones():
    with pytest.raises(ConfigError, match="zero-shot-ner"):
        load_suite("zero-shot")


def test_a_paper_row_with_an_unknown_column_is_refused(tmp_path):
    (tmp_path / "onto.yaml").write_text("entities:\n  - {name: Person, aliases: {'*': [PER]}}\n")
    (tmp_path / "s.yaml").write_text(
        "name: s\ntitle: t\nreference: r\nsetting: x\n"
        "datasets:\n  - {name: d, column: D, lang: en, tasks: [ner], ontology: onto.yaml,"
        " files: [{path: d.txt, format: conll}]}\n"
        "paper:\n  - {model: M, scores: {d.re: 1.0}}\n"
    )
    with pytest.raises(ConfigError, match=r"unknown columns \['d.re'\]"):
        load_suite(tmp_path / "s.yaml")


def test_ace05_reads_the_dygiepp_type_dot_subtype_spellings():
    # Given two whole documents of DyGIE++'s collated ace-event fixture (SOURCE.md), whose labels
    # are Personnel.End-Position and ORG-AFF.Employment, as its preprocessing writes them
    suite = load_suite("supervised-en")
    ace = next(d for d in suite.datasets if d.name == "ace05")
    ontology = suite.load_ontology(ace)
    instances, report = import_dataset(
        "dygiepp",
        FIXTURES / "importers" / "dygiepp_ace_event.jsonl",
        ontology=ontology,
        dataset="ace05",
        lang="en",
    )
    instances = list(instances)
    # Then every label maps: 11 events, 14 relations, each role a declared role of its event
    events = Counter(e.type for i in instances for e in i.events or [])
    relations = Counter(r.type for i in instances for r in i.relations or [])
    assert report.dropped_total == 0
    assert events == {
        "EndPosition": 4,
        "StartPosition": 2,
        "Nominate": 1,
        "Meet": 1,
        "StartOrganization": 1,
        "Attack": 1,
        "Marry": 1,
    }
    assert relations == {"OrganizationAffiliation": 11, "PartWhole": 1, "Physical": 1, "PersonalSocial": 1}
    for instance in instances:
        for event in instance.events or []:
            declared = {role.name for role in ontology.roles(event.type)}
            assert {a.role for a in event.arguments} <= declared, event
