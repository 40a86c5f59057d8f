from __future__ import annotations

import ast

import pytest

from knowcoder.schema.render import SchemaOptions, render_schema

TASK_TYPES = {
    "ner": ["Company", "Person"],
    "re": ["Employment", "Person", "Company"],
    "ed": ["StartPosition"],
    "eae": ["StartPosition"],
}


def class_names(code: str) -> list[str]:
    return [
        node.name for node in ast.parse(code.replace("\t", "    ")).body if isinstance(node, ast.ClassDef)
    ]


@pytest.mark.parametrize("task", sorted(TASK_TYPES))
@pytest.mark.parametrize("style", ["knowcoder", "released", "released-template"])
def test_rendered_schema_is_valid_python(mini_ontology, task, style):
    code = render_schema(mini_ontology, TASK_TYPES[task], task, SchemaOptions(style=style))
    ast.parse(code.replace("\t", "    ") if style != "knowcoder" else code)


def test_ner_includes_ancestors_after_base_class(mini_ontology):
    code = render_schema(mini_ontology, ["Company"], "ner")
    assert class_names(code) == ["Entity", "Organization", "Company"]


def test_re_defines_entities_then_relations(mini_ontology):
    code = render_schema(mini_ontology, ["Employment", "Person", "Organization"], "re")
    assert class_names(code) == ["Entity", "Person", "Organization", "Relation", "Employment"]
    assert "def __init__(self, head_entity: Person, tail_entity: Organization):" in code


def test_eae_role_keywords_with_list_types(mini_ontology):
    code = render_schema(mini_ontology, ["StartPosition", "Person", "Organization", "Location"], "eae")
    init = next(
        node
        for cls in ast.parse(code).body
        if isinstance(cls, ast.ClassDef) and cls.name == "StartPosition"
        for node in cls.body
        if isinstance(node, ast.FunctionDef)
    )
    params = [(arg.arg, ast.unparse(arg.annotation) if arg.annotation else None) for arg in init.args.args]
    assert params == [
        ("self", None),
        ("trigger", "str"),
        ("employee", "list[Person]"),
        ("employer", "list[Organization]"),
        ("place", "list[Location]"),
    ]
    assert "trigger: str,  # Examples: joined, hired" in code


def test_ed_lists_argument_names_in_docstring(mini_ontology):
    code = render_schema(mini_ontology, ["StartPosition"], "ed")
    tree = ast.parse(code)
    docs = {node.name: ast.get_docstring(node) for node in tree.body if isinstance(node, ast.ClassDef)}
    assert docs["StartPosition"] == (
        "Description: Someone starts a job.\nExamples: joined, hired\nArguments: employee, employer, place"
    )


def test_order_does_not_depend_on_input_order(mini_ontology):
    first = render_schema(mini_ontology, ["Location", "Company", "Person"], "ner")
    second = render_schema(mini_ontology, ["Person", "Location", "Company"], "ner")
    assert first == second
    assert class_names(first) == ["Entity", "Person", "Organization", "Location", "Company"]


def test_description_language_switch_falls_back_to_english(mini_ontology):
    zh = render_schema(mini_ontology, ["Person", "Company"], "ner", SchemaOptions(lang="zh"))
    assert "Description: 一个人。" in zh
    assert "Examples: 李明" in zh
    assert "Description: A business." in zh  # Company has no Chinese description


def test_descriptions_can_be_left_out(mini_ontology):
    code = render_schema(mini_ontology, ["Person"], "ner", SchemaOptions(descriptions=False))
    assert '"""\n    Description' not in code
    assert "class Person(Entity):\n    pass" in code
    assert '"""' not in code  # base classes lose their docstrings too


def test_released_ner_matches_the_released_template_exactly(mini_ontology):
    code = render_schema(
        mini_ontology, ["Person", "Company"], "ner", SchemaOptions(style="released-template")
    )
    assert code == (
        "class Entity:\n\tdef __init__(self, name: str):\n\t\tself.name = name\n"
        "\nclass Person(Entity):\n\tpass\n"
        "\nclass Company(Organization):\n\tpass"
    )


def test_released_re_imports_argument_types(mini_ontology):
    code = render_schema(mini_ontology, ["Employment"], "re", SchemaOptions(style="released-template"))
    assert code.splitlines()[0] == "from Entities import Organization, Person"
    assert class_names(code) == ["Entity", "Relation", "Employment"]


def test_released_ed_has_arg_names(mini_ontology):
    code = render_schema(mini_ontology, ["StartPosition"], "ed", SchemaOptions(style="released-template"))
    assert code.endswith(
        "class StartPosition(Personnel):\n\tdef __init__(self, trigger: str, arg_names, *args):\n"
        "\t\targ_names = ['employee', 'employer', 'place']\n"
        "\t\tsuper().__init__(trigger, arg_names, *args)"
    )


def test_docstring_text_cannot_break_out(mini_ontology):
    from knowcoder.schema.ontology import parse_ontology

    ontology = parse_ontology('entities:\n  - name: Quote\n    description: {en: \'ends """ here \\ and\'}\n')
    code = render_schema(ontology, ["Quote"], "ner")
    tree = ast.parse(code)
    assert class_names(code) == ["Entity", "Quote"]
    assert ast.get_docstring(tree.body[1]) == 'Description: ends """ here \\ and'


def test_unknown_style_and_task_are_rejected(mini_ontology):
    with pytest.raises(ValueError, match="unknown schema style 'fancy'"):
        SchemaOptions(style="fancy")
    with pytest.raises(ValueError, match="unknown task 'ner2'"):
        render_schema(mini_ontology, ["Person"], "ner2")


def test_given_order_keeps_input_order_with_ancestors_first(mini_ontology):
    options = SchemaOptions(order="given")
    code = render_schema(mini_ontology, ["Location", "Company", "Person"], "ner", options)
    assert class_names(code) == ["Entity", "Location", "Organization", "Company", "Person"]
    other = render_schema(mini_ontology, ["Person", "Company", "Location"], "ner", options)
    assert class_names(other) == ["Entity", "Person", "Organization", "Company", "Location"]
    with pytest.raises(ValueError, match="unknown class order 'random'"):
        SchemaOptions(order="random")
