"""Property: parsing the rendered target of any valid instance gives back its records."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from knowcoder.data.instance import Instance
from knowcoder.parser import parse_results
from knowcoder.prompts import PromptBuilder, PromptOptions
from knowcoder.tasks import get_task

ENTITY_TYPES = ["Person", "Organization", "Company", "Location"]
ROLES = {"StartPosition": ["employee", "employer", "place"], "Personnel": ["employee"]}  # as in mini_ontology
ALPHABET = st.characters(
    codec="utf-8",
    categories=["L", "N", "P", "S", "Zs", "Cc"],
    include_characters="\"\\'\n\t中文，。",
)


@st.composite
def instances(draw) -> Instance:
    text = draw(st.text(alphabet=ALPHABET, min_size=1, max_size=60))

    def span():
        start = draw(st.integers(0, len(text) - 1))
        end = draw(st.integers(start + 1, min(len(text), start + 12)))
        return start, end

    def usable(start: int, end: int) -> bool:
        piece = text[start:end]
        return bool(piece.strip()) and piece == piece.strip()

    spans = [s for s in (span() for _ in range(draw(st.integers(0, 5)))) if usable(*s)]
    entities = [{"start": s, "end": e, "type": draw(st.sampled_from(ENTITY_TYPES))} for s, e in spans]
    relations = []
    if len(entities) >= 2:
        for _ in range(draw(st.integers(0, 3))):
            head, tail = draw(st.permutations(range(len(entities))))[:2]
            relations.append({"type": "Employment", "head": head, "tail": tail})
    events = []
    for _ in range(draw(st.integers(0, 2))):
        start, end = span()
        if not usable(start, end):
            continue
        event_type = draw(st.sampled_from(sorted(ROLES)))
        arguments = []
        for index in (
            draw(st.lists(st.integers(0, max(len(entities) - 1, 0)), max_size=3)) if entities else []
        ):
            entity = entities[index]
            role = draw(st.sampled_from(ROLES[event_type]))
            arguments.append({"role": role, "start": entity["start"], "end": entity["end"]})
        events.append({"type": event_type, "trigger": {"start": start, "end": end}, "arguments": arguments})
    return Instance.model_validate(
        {
            "id": "p-1",
            "dataset": "prop",
            "lang": "en",
            "text": text,
            "entities": entities,
            "relations": relations,
            "events": events,
        }
    )


@pytest.mark.parametrize("style", ["knowcoder", "released", "released-template"])
@pytest.mark.parametrize("task_name", ["ner", "re", "ed", "eae"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(instance=instances())
def test_parse_of_render_is_identity(mini_ontology, task_name, style, instance):
    builder = PromptBuilder(mini_ontology, PromptOptions(style=style))
    task = get_task(task_name)
    gold = task.gold_records(instance, mini_ontology)
    target = builder.target(gold, task)
    allowed = builder.allowed(task, task.positive_types(instance) or ["Person"], instance.text)
    result = parse_results(target, task, allowed)
    assert result.records == gold
    assert result.report.parseable
    assert result.report.kept == len(gold)
