"""The instruction importer: spans located by text, dropped or refused, in spaced and unspaced text."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowcoder.data.instance import Argument, Entity, Event, Instance, Relation, Span
from knowcoder.errors import DataFormatError

from .cases import FIXTURES, run, write


def test_instruction_locates_spans_by_text_once_per_list() -> None:
    instances, _ = run("instruction", "instruction.jsonl", "instr", "en")
    # "Alcoa hired Al and Ada Park; Ada Park left.": Alcoa 0-5, hired 6-11, Al 12-14 (not inside
    # Alcoa), Ada Park 19-27 then its second occurrence 29-37
    assert instances[0] == Instance(
        id="inst-1",
        dataset="instr",
        lang="en",
        text="Alcoa hired Al and Ada Park; Ada Park left.",
        entities=[
            Entity(start=0, end=5, type="Organization"),
            Entity(start=12, end=14, type="Person"),
            Entity(start=19, end=27, type="Person"),
            Entity(start=29, end=37, type="Person"),
        ],
        relations=[Relation(type="Employment", head=1, tail=0)],
        events=[
            Event(
                type="StartPosition",
                trigger=Span(start=6, end=11),
                arguments=[
                    Argument(start=0, end=5, role="employer", type="Organization"),
                    Argument(start=12, end=14, role="employee"),
                ],
            )
        ],
    )
    # given the answer as a JSON string with entities only: "Bob left Rome." Bob 0-3, Rome 9-13
    assert instances[1] == Instance(
        id="instr-en-000001",
        dataset="instr",
        lang="en",
        text="Bob left Rome.",
        entities=[Entity(start=0, end=3, type="Person"), Entity(start=9, end=13, type="Location")],
    )


def test_instruction_span_not_in_text_names_file_line_and_field() -> None:
    with pytest.raises(DataFormatError) as caught:
        run("instruction", "broken_span.instruction.jsonl", "d", "en")
    assert str(caught.value).startswith(
        f"{FIXTURES / 'broken_span.instruction.jsonl'}:2: answer.entities[1].text: "
        "cannot place 'Paris': it does not occur in the text"
    )


def test_instruction_unlocated_span_is_dropped_and_counted_when_asked() -> None:
    instances, report = run("instruction", "broken_span.instruction.jsonl", "d", "en", drop_unlocated=True)
    assert [i.entities for i in instances] == [[Entity(start=0, end=3, type="Person")]] * 2
    assert report.dropped_spans == 1


def test_instruction_mention_listed_more_often_than_it_occurs_is_an_error(tmp_path: Path) -> None:
    bob = '{"type": "PER", "text": "Bob"}'
    record = f'{{"text": "Bob left.", "answer": {{"entities": [{bob}, {bob}]}}}}\n'
    with pytest.raises(
        DataFormatError, match=r"i\.jsonl:1: answer\.entities\[1\]\.text: .*each of its 1 occurrence"
    ):
        run("instruction", write(tmp_path, "i.jsonl", record), "d", "en")


def test_instruction_answer_string_that_is_not_json_names_the_field() -> None:
    with pytest.raises(DataFormatError) as caught:
        run("instruction", "broken_answer.instruction.jsonl", "d", "en")
    assert str(caught.value).startswith(
        f"{FIXTURES / 'broken_answer.instruction.jsonl'}:1: answer: answer string is not valid JSON"
    )


def test_instruction_misspelled_answer_key_is_an_error(tmp_path: Path) -> None:
    record = '{"text": "Bob left.", "answer": {"entites": []}}\n'
    with pytest.raises(DataFormatError, match=r"i\.jsonl:1: answer\.entites: unknown key 'entites'"):
        run("instruction", write(tmp_path, "i.jsonl", record), "d", "en")


def test_instruction_zh_matches_inside_running_text(tmp_path: Path) -> None:
    # given Chinese, where words are not space-delimited, so no word-boundary preference applies
    record = '{"text": "李明在北京工作。", "answer": {"entities": [{"type": "LOC", "text": "北京"}]}}\n'
    (instance,), _ = run("instruction", write(tmp_path, "z.jsonl", record), "d", "zh")
    assert instance.entities == [Entity(start=3, end=5, type="Location")]
