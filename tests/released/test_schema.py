"""Released schemas in: class_defs/*.json, prompt classes, mapping.json."""

from __future__ import annotations

import json

import pytest

from knowcoder.cli.main import main
from knowcoder.errors import OntologyError
from knowcoder.released.schema import SchemaImport, import_class_defs, load_ed_mapping, parse_class
from knowcoder.schema.ontology import Kind
from tests.released.conftest import RELEASED


def test_class_defs_import_keeps_names_parents_roles_and_ed_forms():
    ontology = import_class_defs([RELEASED / "class_defs"]).ontology()
    # undefined parents and argument types become placeholders of the right kind
    assert ontology["Dna"].parent == "ChemicalCompound"
    assert ontology["ChemicalCompound"].kind is Kind.ENTITY
    assert ontology["Container"].parent == "Location"
    assert ontology["Location"].kind is Kind.RELATION
    assert ontology["Conflict"].parent == "ParticipantIn"
    assert ontology.kind_of("Aptitude") is Kind.ENTITY
    # ED arg_names keep the release's order; roles are not inherited (Acquit lists its own)
    assert [r.name for r in ontology.roles("Life")] == ["place", "person", "instrument", "agent", "victim"]
    assert [r.name for r in ontology.roles("Acquit")] == ["adjudicator", "defendant"]
    assert ontology["Life"].spec.released_init == "arg_names"
    assert ontology["Phishing"].spec.released_init == "args"
    assert ontology.relation_signature("PersonalSocial") == (("Human",), ("Human", "Organization"))
    # ED names (Phishing) and EAE types for the same class merge into one
    assert [(r.name, r.types) for r in ontology.roles("Phishing")][6] == ("tool", ("ComputerFile", "Malware"))


def test_the_released_sources_disagree_on_the_parent_of_event(shipped):
    # given the SFT prompts (Event(Entity)) and the eval class_defs (Event(Occurrence))
    _, prompts = shipped
    schema = import_class_defs([RELEASED / "class_defs"])
    with pytest.raises(OntologyError) as caught:
        for cls in prompts.classes.values():
            schema.add(cls)
    assert str(caught.value) == (
        f"{RELEASED / 'example_data.jsonl'}:7: Event: parent differs from its definition in "
        f"{RELEASED / 'class_defs' / 'entity_class_defs.json'}: 'Occurrence' vs 'Entity'"
    )


def test_docstring_classes_import_description_and_examples(shipped):
    _, schema = shipped
    ontology = schema.ontology()
    assert ontology["Elevation"].description("en") == ""
    assert ontology["Occupation"].examples("en")[7] == ("Nikolaus", "Count Esterházy, Palatine of Hungary")
    assert ontology["TrackContribution"].examples("en") == ("as", "was")
    assert ontology["Variety"].examples("en")[0] == "‘Pearlicious XVIII’"


def test_a_class_that_fits_no_layout_is_a_one_line_error():
    with pytest.raises(OntologyError) as caught:
        parse_class("class Odd(Entity):\n\tx = 1", source="defs.json")
    assert str(caught.value) == (
        "defs.json: Odd: not an entity (pass), relation (head_entity) or event (trigger) class"
    )
    assert SchemaImport().add_class_code("class Entity:\n\tpass", source="x") is None


def test_ed_mapping(tmp_path):
    assert load_ed_mapping(RELEASED / "mapping" / "mapping.json") == {
        "Acquit": "Justice",
        "Attack": "Conflict",
        "Demonstrate": "Conflict",
        "Die": "Life",
    }
    bad = tmp_path / "mapping.json"
    bad.write_text('{"Attack": 3}')
    with pytest.raises(OntologyError, match=r"mapping\.json: Attack: expected a class name, got 3"):
        load_ed_mapping(bad)


def test_cli_check_and_evaluate_stored_outputs(capsys):
    data = str(RELEASED / "example_data.jsonl")
    assert main(["released", "check", data]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts["ed"] == {"records": 5, "prompts_identical": 5, "targets_identical": 4}
    assert counts["eae"] == {"records": 2, "prompts_identical": 2, "targets_identical": 2}
    assert counts["re"] == counts["ner"] == {"records": 1, "prompts_identical": 1, "targets_identical": 1}
    assert main(["released", "evaluate", data, "--outputs", "one-stage.output"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["ner.f1"] == scores["re.f1"] == scores["eae.f1"] == 1.0
    # ED has 2 gold triggers; "member" matches (TP), the release's "school" is not the "School"
    # its offsets cover (FP and FN): P = R = 1/2, F1 = 0.5
    assert (scores["ed.precision"], scores["ed.recall"], scores["ed.f1"]) == (0.5, 0.5, 0.5)
