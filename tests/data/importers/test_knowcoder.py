"""The importer of released KnowCoder records, on the released example data (tests/fixtures/released)."""

from __future__ import annotations

import json

import pytest

from knowcoder.data.importers import import_dataset
from knowcoder.errors import ConfigError, DataFormatError
from knowcoder.released.data import examples_with_schema

from ...released.conftest import RELEASED

DATA = RELEASED / "example_data.jsonl"


@pytest.fixture(scope="module")
def ontology():
    """The classes the released prompts define."""
    return examples_with_schema(DATA)[1].ontology()


def test_knowcoder_import_format(ontology, tmp_path):
    instances, report = import_dataset(
        "knowcoder", RELEASED / "example_data.jsonl", ontology=ontology, dataset="kc", lang="en"
    )
    assert [i.id for i in instances][:2] == ["kc-en-000000", "kc-en-000001"]
    assert report.instances_written == 9
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"sentence": "Ada", "entities": [{"type": "person", "name": "Bo", "pos": [0, 2]}]})
    )
    with pytest.raises(DataFormatError) as caught:
        list(import_dataset("knowcoder", bad, ontology=ontology, dataset="kc", lang="en")[0])
    assert str(caught.value) == f"{bad}:1: entities[0].pos: pos [0, 2] covers 'Ad', not 'Bo'"


def test_ids_are_the_records_own_when_given(ontology, tmp_path):
    path = tmp_path / "ids.jsonl"
    rows = [{"id": "a-7", "sentence": "Bo", "entities": []}, {"sentence": "Al", "entities": []}]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    instances, report = import_dataset("knowcoder", path, ontology=ontology, dataset="kc", lang="en")
    assert [(i.id, i.text, i.entities) for i in instances] == [("a-7", "Bo", []), ("kc-en-000001", "Al", [])]
    assert (report.records_read, report.instances_written) == (2, 2)


def test_the_setting_option_must_name_a_setting(ontology):
    with pytest.raises(ConfigError, match=r"^options\.setting: expected a prompt setting name, got ''$"):
        import_dataset("knowcoder", DATA, ontology=ontology, dataset="kc", lang="en", setting="")
