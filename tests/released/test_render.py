"""Released prompts, rendered again from instance + imported schema, byte for byte."""

from __future__ import annotations

import json

import pytest

from knowcoder.prompts import SYSTEM_PROMPT, PromptBuilder, PromptOptions
from knowcoder.released.schema import import_class_defs, load_ed_mapping
from knowcoder.tasks import get_task
from tests.released.conftest import RELEASED, load_released_module

SHIPPED_LINES = [json.loads(line) for line in (RELEASED / "example_data.jsonl").read_text().splitlines()]


def test_the_shipped_file_has_nine_records_of_four_tasks(shipped):
    examples, _ = shipped
    assert [e.task for e in examples] == ["ed", "ed", "eae", "ed", "ed", "re", "ner", "ed", "eae"]


@pytest.mark.parametrize("index", range(9))
def test_every_shipped_prompt_is_rendered_again_byte_for_byte(shipped, index):
    # given a released record, and the schema imported from the prompts of the file
    examples, schema = shipped
    example = examples[index]
    ontology = schema.ontology()
    builder = PromptBuilder(ontology, PromptOptions(style="released", system=False, descriptions=False))
    task = get_task(example.task)
    gold = task.gold_records(example.instance, ontology) or []
    # when its query and full prompt are rendered from its instance and its classes
    query = builder.query(example.instance.text, task, list(example.classes), given=gold)
    prompt = builder.prompt(example.instance.text, task, list(example.classes), given=gold)
    # then both are the release's bytes (the prompt as eval/src/inference.py's build_prompt wraps it)
    assert query == SHIPPED_LINES[index]["one-stage"]["zero-shot"]["prompt"]
    assert prompt == f"{SYSTEM_PROMPT}\nInput:\n{query}\nOutput:\n"


def test_shipped_targets_equal_the_released_outputs(shipped):
    examples, schema = shipped
    ontology = schema.ontology()
    builder = PromptBuilder(ontology, PromptOptions(style="released"))
    same = []
    for example in examples:
        task = get_task(example.task)
        target = builder.target(task.gold_records(example.instance, ontology) or [], task)
        same.append(target == example.output)
    # record 5 says its trigger is "school" but its pos [66, 72] covers "School": the offsets win
    assert same == [True, True, True, True, False, True, True, True, True]
    assert examples[4].notes == ("events[0].pos: pos [66, 72] covers 'School', not 'school'",)
    assert examples[4].output == 'results = [\n\tEducation("school")\n]'


def test_keyword_role_and_entity_named_event_render_verbatim(shipped):
    examples, schema = shipped
    ontology = schema.ontology()
    assert [r.name for r in ontology.roles("Marriage")] == [
        "spouse",
        "location_of_ceremony",
        "type_of_union",
        "to",
        "from",
    ]
    assert ontology.kind_of("Event").value == "entity"
    assert "\t\tfrom: List[ Entity ]\n\t):" in examples[8].prompt


# ---- the template format of eval/src/generate_prompt.py ---------------------------------
SELECTED = {
    "entity": ["Human", "Event", "Dna"],
    "relation": ["AgentArtifact", "PartWhole", "Container"],
    "ed": ["Attack", "Die", "Phishing", "Acquit"],
    "eae": ["Attack", "Phishing"],
}
SENTENCE = 'He said "no" to the \\ attack.'
ED_RESULT = 'results = [\n\tConflict("attack"),\n\tPhishing("x")\n]'


@pytest.fixture(scope="module")
def released_prompts(monkeypatch_module):
    generate = load_released_module("generate_prompt")
    monkeypatch_module.chdir(RELEASED)  # it opens ./template, mapping/ and class_defs/
    return generate.generate_prompt({k: list(v) for k, v in SELECTED.items()}, SENTENCE, ED_RESULT)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def template_builder():
    ontology = import_class_defs([RELEASED / "class_defs"]).ontology()
    mapping = load_ed_mapping(RELEASED / "mapping" / "mapping.json")
    return PromptBuilder(ontology, PromptOptions(style="released-template"), ed_mapping=mapping)


def test_template_ner_and_ed_equal_generate_prompt(released_prompts, template_builder):
    ner, _, ed, _ = released_prompts
    assert template_builder.query(SENTENCE, "ner", SELECTED["entity"]) == ner
    # ED goes through mapping.json: Attack -> Conflict, Die -> Life, Acquit -> Justice; the two
    # constructor forms (Life's arg_names form, Phishing's *args form) are both kept
    assert template_builder.query(SENTENCE, "ed", SELECTED["ed"]) == ed
    assert "class Phishing(Event):\n\tdef __init__(self, trigger: str, *args):" in ed


def test_template_re_equals_generate_prompt_up_to_its_set_ordered_import(released_prompts, template_builder):
    _, released, _, _ = released_prompts
    ours = template_builder.query(SENTENCE, "re", SELECTED["relation"])
    released_import, released_rest = released.split("\n", 1)
    our_import, our_rest = ours.split("\n", 1)
    assert our_rest == released_rest
    # the release orders this line by list(set(...)), which changes per process; we sort it
    names = released_import.removeprefix("from Entities import ").split(", ")
    assert our_import == "from Entities import " + ", ".join(sorted(names))
    assert our_import == (
        "from Entities import Facility, GeographicalSocialPolitical, Human, Organization, Vehicle, Weapon"
    )


def test_template_eae_equals_generate_prompt_in_its_class_order(released_prompts, template_builder):
    *_, released = released_prompts
    # the release keeps the EAE classes the ED result names, in a set's order; given that
    # order, the prompt is the same bytes, trailing space of the template's instruction included
    order = [n for n in ("Attack", "Phishing") if f"class {n}(" in released]
    order.sort(key=lambda n: released.index(f"class {n}("))
    assert template_builder.query(SENTENCE, "eae", order) == released
    assert "in the following sentence. \n" in released


def test_released_targets_map_ed_types_and_write_eae_keyword_roles(template_builder, shipped):
    from knowcoder.records import ArgumentRecord, EventRecord, TriggerRecord

    assert template_builder.target([TriggerRecord("Attack", "attack")], "ed") == (
        'results = [\n\tConflict("attack")\n]'
    )
    _, schema = shipped
    builder = PromptBuilder(schema.ontology(), PromptOptions(style="released"))
    event = EventRecord("Marriage", "wife", (ArgumentRecord("from", "Entity", "1794"),))
    # only roles with arguments, "role = [...]" with spaces, the keyword as the release writes it
    assert (
        builder.target([event], "eae")
        == 'results = [\n\tMarriage(trigger = "wife", from = [Entity("1794")])\n]'
    )
    # the project's own style writes from_=, which ast reads, and the parser maps back to "from"
    own = PromptBuilder(schema.ontology()).target([event], "eae")
    assert 'from_=[Entity("1794")]' in own
