"""Released outputs read into the same records as the released readers (convert/*.py) give."""

from __future__ import annotations

import pytest

from knowcoder.parser import parse_results, rewrite_keyword_arguments
from knowcoder.records import EntityRecord, EventRecord, RelationRecord, TriggerRecord
from tests.released.conftest import load_released_module

readers = load_released_module("readers")

EXTRA_OUTPUTS = {  # released layouts the shipped file lacks: a keyword role, several objects
    "eae": 'results = [\n\tMarriage(trigger = "wife", spouse = [Entity("Lucien Bonaparte")], '
    'from = [Entity("1794")]),\n\tEducation(trigger = "student", student = [Entity("George Habash")])\n]',
    "ner": 'results = [\n\tOrganization("Teska Carson"),\n\tEvent("Expressions of Interest")\n]',
    "ed": 'results = [\n\tConflict("attack"),\n\tLife("died")\n]',
}


def released_view(task: str, output: str) -> list:
    """What the released reader of ``task`` yields, in a comparable shape."""
    if task == "ner":
        return [(type_, word) for word, type_ in readers.extract_ner(output).values()]
    if task == "re":
        return [(rel, ht, hw, tt, tw) for ((hw, ht), (tw, tt)), rel in readers.extract_re(output)]
    if task == "ed":
        return [(type_, found["trigger"][0]) for type_, found in readers.extract_ee(output)]
    return [(type_, found["trigger"][0], found["args"]) for type_, found in readers.extract_eae(output)]


def our_view(task: str, output: str) -> list:
    records = parse_results(output, task).records
    if task == "ner":
        return [(r.type, r.text) for r in records if isinstance(r, EntityRecord)]
    if task == "re":
        return [
            (r.type, r.head.type, r.head.text, r.tail.type, r.tail.text)
            for r in records
            if isinstance(r, RelationRecord)
        ]
    if task == "ed":
        return [(r.type, r.trigger) for r in records if isinstance(r, TriggerRecord)]
    out = []
    for r in records:
        assert isinstance(r, EventRecord)
        roles: dict[str, list[str]] = {}
        for argument in r.arguments:
            roles.setdefault(argument.role, []).append(argument.text)
        out.append((r.type, r.trigger, roles))
    return out


def test_every_shipped_output_parses_as_the_released_reader_reads_it(shipped):
    examples, _ = shipped
    for example in examples:
        assert example.output is not None
        assert our_view(example.task, example.output) == released_view(example.task, example.output)


def test_shipped_outputs_exact_records(shipped):
    examples, _ = shipped
    assert our_view("eae", examples[8].output) == [
        ("Marriage", "wife", {"spouse": ["Lucien Bonaparte", "Christine Boyer"]})
    ]
    assert our_view("re", examples[5].output)[0] == (
        "Creator",
        "Entity",
        "No. 1 Croydon",
        "Entity",
        "Richard Seifert & Partners",
    )


@pytest.mark.parametrize("task", sorted(EXTRA_OUTPUTS))
def test_keyword_roles_and_tabbed_lines_read_like_the_released_readers(task):
    output = EXTRA_OUTPUTS[task]
    assert our_view(task, output) == released_view(task, output)


def test_keyword_role_reads_back_as_the_role_from():
    result = parse_results(EXTRA_OUTPUTS["eae"], "eae")
    assert result.report.parseable
    assert result.records[0].arguments[0].role == "from"
    assert result.records[0].arguments[0].text == "1794"


def test_keyword_rewrite_leaves_strings_and_comparisons_alone():
    code = 'X(trigger = "a, from = b", from = [E("in = c")], to=[], x == 1, (in = 2)'
    assert rewrite_keyword_arguments(code) == (
        'X(trigger = "a, from = b", from_ = [E("in = c")], to=[], x == 1, (in_ = 2)'
    )
