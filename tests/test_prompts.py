from __future__ import annotations

import ast

import pytest

from knowcoder.prompts import SYSTEM_PROMPT, PromptBuilder, PromptOptions, render_results, wrap_prompt
from knowcoder.records import EntityRecord, EventRecord, TriggerRecord
from knowcoder.tasks import get_task


def test_wrapper_layout_matches_released_code():
    assert wrap_prompt("Q") == f"{SYSTEM_PROMPT}\nInput:\nQ\nOutput:\n"
    assert wrap_prompt("Q", None) == "Input:\nQ\nOutput:\n"


def test_released_template_ner_prompt_exact(mini_ontology):
    # the bytes of eval/src/template/NER (released KnowCoder) rendered by Jinja, then wrapped
    builder = PromptBuilder(mini_ontology, PromptOptions(style="released-template"))
    prompt = builder.prompt("Ada Park joined Acme Corp.", "ner", ["Person", "Company"])
    assert prompt == (
        f"{SYSTEM_PROMPT}\nInput:\n"
        "class Entity:\n\tdef __init__(self, name: str):\n\t\tself.name = name\n"
        "\nclass Person(Entity):\n\tpass\n"
        "\nclass Company(Organization):\n\tpass\n"
        '\n"""\nThis is an object-oriented programming task: Some Entity Classes are defined above. '
        "Please instantiate all the corresponding Entity Objects in the following sentence.\n"
        '"""\nsentence = "Ada Park joined Acme Corp."\nOutput:\n'
    )


def test_released_results_one_object_per_tabbed_line():
    records = [EntityRecord("Person", "Ada"), EntityRecord("Company", "Acme")]
    assert render_results(records, "ner", style="released") == (
        'results = [\n\tPerson("Ada"),\n\tCompany("Acme")\n]'
    )
    assert render_results([], "ner", style="released") == "results = []"


@pytest.mark.parametrize("task", ["ner", "re", "ed", "eae"])
def test_query_is_python_and_every_target_class_is_defined(mini_ontology, hire_instance, task):
    builder = PromptBuilder(mini_ontology)
    prompt, target = builder.example(hire_instance, task)
    query = prompt.split("Input:\n", 1)[1].rsplit("\nOutput:\n", 1)[0]
    tree = ast.parse(query)
    defined = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    used = {
        node.func.id
        for node in ast.walk(ast.parse(target))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert used and used <= defined
    sentence = next(n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "sentence")
    assert sentence.value.value == hire_instance.text


def test_targets_for_each_task(mini_ontology, hire_instance):
    builder = PromptBuilder(mini_ontology)
    assert builder.example(hire_instance, "ner")[1] == (
        'results = [Person("Ada Park"), Company("Acme Corp"), Location("Paris")]'
    )
    assert builder.example(hire_instance, "re")[1] == (
        'results = [Employment(Person("Ada Park"), Company("Acme Corp"))]'
    )
    assert builder.example(hire_instance, "ed")[1] == 'results = [StartPosition("joined")]'
    assert builder.example(hire_instance, "eae")[1] == (
        'results = [StartPosition(trigger="joined", employee=[Person("Ada Park")], '
        'employer=[Company("Acme Corp")], place=[Location("Paris")])]'
    )


def test_eae_instruction_names_given_triggers(mini_ontology, hire_instance):
    prompt, _ = PromptBuilder(mini_ontology).example(hire_instance, "eae")
    assert 'sentence. "joined" is the trigger of event type "StartPosition".\n"""' in prompt


def test_empty_annotation_gives_empty_results(mini_ontology, hire_instance):
    empty = hire_instance.model_copy(update={"events": []})
    assert PromptBuilder(mini_ontology).example(empty, "ed", ["StartPosition"])[1] == "results = []"


def test_unannotated_task_is_an_error(mini_ontology, hire_instance):
    ner_only = hire_instance.model_copy(update={"relations": None})
    with pytest.raises(ValueError, match="no re annotation"):
        PromptBuilder(mini_ontology).example(ner_only, "re")


def test_dataset_hint(mini_ontology):
    builder = PromptBuilder(mini_ontology, PromptOptions(dataset_hint=True))
    query = builder.query("x", "ner", ["Person"], dataset="CrossNER_AI")
    assert "For DATASET CrossNER_AI, this is an object-oriented programming task" in query


@pytest.mark.parametrize(
    "text",
    [
        'He said "hi"',
        "back\\slash",
        "two\nlines",
        "tab\there",
        "中文句子，没有空格。",
        "\x00\x1b\u2028",
        "'''",
    ],
)
def test_sentences_are_escaped_and_read_back_exactly(mini_ontology, text):
    query = PromptBuilder(mini_ontology).query(text, "ner", ["Person"])
    tree = ast.parse(query)
    assert tree.body[-1].value.value == text
    ner = get_task("ner")
    assert (
        ast.parse(render_results([EntityRecord("Person", text)], ner)).body[0].value.elts[0].args[0].value
        == text
    )


def test_schema_cache_returns_same_text_and_is_bounded(mini_ontology):
    builder = PromptBuilder(mini_ontology, cache_size=2)
    first = builder.schema("ner", ["Person"])
    builder.schema("ner", ["Company"])
    builder.schema("ner", ["Location"])
    assert builder.schema("ner", ["Person"]) == first
    assert len(builder._cache) == 2


def test_allowed_covers_prompt_classes(mini_ontology):
    allowed = PromptBuilder(mini_ontology).allowed("eae", ["StartPosition"], "s")
    assert allowed.types == frozenset({"Personnel", "StartPosition"})
    assert allowed.entity_types == frozenset({"Entity", "Person", "Organization", "Location"})
    assert allowed.roles["StartPosition"] == frozenset({"employee", "employer", "place"})
    assert allowed.roles["Personnel"] == frozenset({"employee"})


def test_record_dicts():
    event = EventRecord("Attack", "fired", ())
    assert event.to_dict() == {"type": "Attack", "trigger": "fired", "arguments": []}
    assert TriggerRecord("Attack", "fired").to_dict() == {"type": "Attack", "trigger": "fired"}
