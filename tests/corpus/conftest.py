"""The bundled ontology and the gazetteer of tests/fixtures/annotate/, shared by the gazetteer and
annotation tests, with the helpers both use."""

from __future__ import annotations

import pytest

from knowcoder.corpus.annotate import annotate
from knowcoder.corpus.gazetteer import Gazetteer
from knowcoder.schema.ontology import load_ontology

from ..conftest import FIXTURES, REPO

HERE = FIXTURES / "annotate"


@pytest.fixture(scope="module")
def ontology():
    return load_ontology(REPO / "data/ontology.yaml")


@pytest.fixture(scope="module")
def gazetteer(ontology):
    return Gazetteer.load(HERE / "names.tsv", ontology, relations=HERE / "relations.tsv")


def spans(instance):
    return [(e.start, e.end, e.type, instance.span_text(e)) for e in instance.entities]


def only(records, gazetteer, lang="en", **options):
    (instance,) = annotate(records, gazetteer, lang=lang, dataset="t", **options)
    return instance


def small(ontology, *rows, **options):
    gazetteer = Gazetteer(ontology, **options)
    for row in rows:
        gazetteer.add(*row)
    return gazetteer.build()
