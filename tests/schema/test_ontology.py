from __future__ import annotations

import textwrap

import pytest

from knowcoder.errors import OntologyError
from knowcoder.schema.ontology import Kind, load_ontology, parse_ontology


def test_hierarchy_queries(mini_ontology):
    assert mini_ontology.names(Kind.ENTITY) == ["Person", "Organization", "Company", "Location"]
    assert mini_ontology.ancestors("Company") == ["Organization"]
    assert mini_ontology.is_a("Company", "Organization")
    assert mini_ontology.is_a("Company", "Entity")
    assert not mini_ontology.is_a("Organization", "Company")
    assert mini_ontology.descendants("Organization") == ["Company"]
    assert mini_ontology.kind_of("Employment") is Kind.RELATION
    assert mini_ontology.kind_of("Event") is Kind.EVENT
    assert mini_ontology.kind_of("Nope") is None


def test_with_types_adds_ancestors_parents_first(mini_ontology):
    assert mini_ontology.with_types(["Company", "StartPosition"]) == [
        "Organization",
        "Personnel",
        "Company",
        "StartPosition",
    ]


def test_roles_are_inherited_and_relation_signature_read(mini_ontology):
    roles = [role.name for role in mini_ontology.roles("StartPosition")]
    assert roles == ["employee", "employer", "place"]
    assert mini_ontology.relation_signature("Employment") == (("Person",), ("Organization",))


@pytest.mark.parametrize(
    ("label", "dataset", "expected"),
    [
        ("PER", None, "Person"),
        ("per", "anything", "Person"),
        ("人物", None, "Person"),
        ("  Person ", None, "Person"),
        ("LOC", "conll03", "Location"),
        ("MISC", None, None),
    ],
)
def test_aliases_in_any_language_map_to_one_class(mini_ontology, label, dataset, expected):
    assert mini_ontology.resolve_label(label, dataset) == expected


def _error(text: str) -> OntologyError:
    with pytest.raises(OntologyError) as caught:
        parse_ontology(textwrap.dedent(text), source="onto.yaml")
    return caught.value


def test_unknown_parent_names_type_file_and_line():
    error = _error(
        """
        entities:
          - name: Person
          - name: Company
            parent: Organisation
        """
    )
    assert str(error) == "onto.yaml:4: entities[Company]: unknown parent 'Organisation'"


def test_cycle_is_reported():
    error = _error(
        """
        entities:
          - {name: A, parent: B}
          - {name: B, parent: A}
        """
    )
    assert "inheritance cycle: A -> B -> A" in str(error)
    assert str(error).startswith("onto.yaml:3: entities[A]:")


def test_duplicate_class_across_kinds():
    error = _error(
        """
        entities:
          - name: Meeting
        events:
          - name: Meeting
        """
    )
    assert str(error) == (
        "onto.yaml:5: events[Meeting]: duplicate class 'Meeting' (first defined at line 3 under entities)"
    )


def test_alias_mapping_to_two_classes():
    error = _error(
        """
        entities:
          - {name: Person, aliases: {"*": [PER]}}
          - {name: Place, aliases: {"*": [per]}}
        """
    )
    assert "alias 'per' for every dataset maps to both 'Person' and 'Place'" in str(error)
    assert "entities[Place].aliases" in str(error)


def test_same_alias_in_different_datasets_is_fine():
    ontology = parse_ontology(
        textwrap.dedent(
            """
            entities:
              - {name: Person, aliases: {a: [X]}}
              - {name: Place, aliases: {b: [X]}}
            """
        )
    )
    assert ontology.resolve_label("X", "a") == "Person"
    assert ontology.resolve_label("X", "b") == "Place"
    assert ontology.resolve_label("X") is None


@pytest.mark.parametrize("name", ["not-valid", "class", "2Fast", "Entity"])
def test_invalid_class_names(name):
    error = _error(f"entities:\n  - name: '{name}'\n")
    assert f"entities[{name}]" in str(error)
    assert str(error).startswith("onto.yaml:2:")


def test_invalid_role_name_and_unknown_role_type():
    assert "role name 'from-date' is not a valid Python identifier" in str(
        _error("events:\n  - name: Move\n    roles: [{name: from-date}]\n")
    )
    assert "roles.origin names unknown entity type 'Place'" in str(
        _error("events:\n  - name: Move\n    roles: [{name: origin, types: [Place]}]\n")
    )


def test_relation_with_unknown_head_type():
    error = _error("relations:\n  - {name: Owns, head: [Persn]}\n")
    assert str(error) == "onto.yaml:2: relations[Owns]: head names unknown entity type 'Persn'"


def test_misspelled_key_and_bad_yaml():
    assert "entities[Person].descripton: unknown key" in str(
        _error("entities:\n  - name: Person\n    descripton: {en: x}\n")
    )
    error = _error("entities:\n  - name: [unclosed\n")
    assert str(error).startswith("onto.yaml:")
    assert "invalid YAML" in str(error)


def test_parent_of_another_kind_is_rejected():
    error = _error("entities:\n  - {name: Person}\nrelations:\n  - {name: Knows, parent: Person}\n")
    assert "parent 'Person' is of kind 'entity', but 'Knows' is of kind 'relation'" in str(error)


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(OntologyError) as caught:
        load_ontology(tmp_path / "nope.yaml")
    assert str(caught.value).startswith(f"{tmp_path / 'nope.yaml'}: cannot read ontology")


def test_released_names_keyword_roles_and_an_entity_named_event():
    # given the names released KnowCoder's schemas use: a role ``from``, an entity class ``Event``
    ontology = parse_ontology(
        "entities:\n  - {name: Event, parent: Occurrence}\n  - {name: Occurrence}\n"
        "events:\n  - {name: Marriage, roles: [{name: spouse}, {name: from}]}\n"
    )
    # then both load, and the event class's ancestry stops at the event base class
    assert [role.name for role in ontology.roles("Marriage")] == ["spouse", "from"]
    assert ontology.kind_of("Event") is Kind.ENTITY
    assert ontology.ancestors("Marriage") == []
    assert ontology.ancestors("Event") == ["Occurrence"]
    assert ontology.is_a("Marriage", "Event")


def test_a_class_named_like_its_own_base_class_is_rejected():
    error = _error("events:\n  - name: Event\n")
    assert str(error) == "onto.yaml:2: events[Event]: 'Event' is the base class of events; pick another name"


def test_roles_without_inheritance():
    text = (
        "inherit_roles: false\nevents:\n  - {name: Justice, roles: [{name: prosecutor}]}\n"
        "  - {name: Acquit, parent: Justice, roles: [{name: defendant}]}\n"
    )
    assert [role.name for role in parse_ontology(text).roles("Acquit")] == ["defendant"]
    assert [role.name for role in parse_ontology(text.split("\n", 1)[1]).roles("Acquit")] == [
        "prosecutor",
        "defendant",
    ]
