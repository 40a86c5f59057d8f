"""The UIE and OneIE importers (token offsets, entity ids, roles): exact instances and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowcoder.data.instance import Argument, Entity, Event, Instance, Relation, Span
from knowcoder.errors import DataFormatError

from .cases import FIXTURES, run, write

# ---- UIE -----------------------------------------------------------------------------------------


def test_uie_locates_tokens_in_text_and_adds_relation_entities() -> None:
    instances, report = run("uie", "uie.jsonl", "uie_ds", "en")
    # "Ada Park joined Acme Corp in Paris.": Ada Park 0-8, joined 9-15, Acme Corp 16-25, Paris 29-34
    assert instances[0] == Instance(
        id="uie_ds-en-000000",
        dataset="uie_ds",
        lang="en",
        text="Ada Park joined Acme Corp in Paris.",
        entities=[
            Entity(start=0, end=8, type="Person"),
            Entity(start=16, end=25, type="Organization"),
            Entity(start=29, end=34, type="Location"),  # added for the "located in" tail
        ],
        relations=[Relation(type="Employment", head=0, tail=1), Relation(type="Located", head=1, tail=2)],
        events=[
            Event(
                type="StartPosition",
                trigger=Span(start=9, end=15),
                arguments=[
                    Argument(start=0, end=8, role="employee"),  # "Employee" takes the declared spelling
                    Argument(start=16, end=25, role="employer"),
                    Argument(start=29, end=34, role="place"),  # undeclared: kept as given
                ],
            )
        ],
    )
    # given no text: tokens join with spaces; absent relation/event lists stay None; own id kept
    assert instances[1] == Instance(
        id="custom-7",
        dataset="uie_ds",
        lang="en",
        text="Bob left .",
        entities=[Entity(start=0, end=3, type="Person")],
    )
    assert report.records_read == 2


def test_uie_offset_outside_the_tokens_names_file_line_and_field() -> None:
    with pytest.raises(DataFormatError) as caught:
        run("uie", "broken_offset.uie.jsonl", "d", "en")
    assert str(caught.value).startswith(
        f"{FIXTURES / 'broken_offset.uie.jsonl'}:2: entity[0].offset: token range [7, 8) is empty or outside"
    )


def test_uie_span_text_that_disagrees_with_offsets_is_an_error(tmp_path: Path) -> None:
    record = '{"tokens": ["Bob", "left"], "entity": [{"type": "PER", "offset": [1], "text": "Bob"}]}\n'
    with pytest.raises(
        DataFormatError, match=r"t\.jsonl:1: entity\[0\]\.text: says 'Bob' but its offsets cover 'left'"
    ):
        run("uie", write(tmp_path, "t.jsonl", record), "d", "en")


def test_uie_tokens_missing_from_text_are_an_error(tmp_path: Path) -> None:
    record = '{"text": "Bob left.", "tokens": ["Bob", "went"]}\n'
    with pytest.raises(DataFormatError, match=r"t\.jsonl:1: tokens\[1\]: token 'went' does not follow"):
        run("uie", write(tmp_path, "t.jsonl", record), "d", "en")


def test_uie_non_consecutive_offsets_are_an_error(tmp_path: Path) -> None:
    record = '{"tokens": ["a", "b", "c"], "entity": [{"type": "PER", "offset": [0, 2]}]}\n'
    with pytest.raises(DataFormatError, match=r"t\.jsonl:1: entity\[0\]\.offset: expected consecutive token"):
        run("uie", write(tmp_path, "t.jsonl", record), "d", "en")


# ---- OneIE ---------------------------------------------------------------------------------------


def test_oneie_maps_entity_ids_roles_and_arg_order() -> None:
    instances, _ = run("oneie", "oneie.jsonl", "ace05", "en")
    first, second = instances
    assert first == Instance(
        id="AFP_ENG_1-0",
        dataset="ace05",
        lang="en",
        text="Ada Park joined Acme Corp in Paris.",
        entities=[
            Entity(start=0, end=8, type="Person"),
            Entity(start=16, end=25, type="Organization"),
            Entity(start=29, end=34, type="Location"),
        ],
        # arguments are listed tail first; Arg-1 still becomes the head
        relations=[Relation(type="Employment", head=0, tail=1)],
        events=[
            Event(
                type="StartPosition",
                trigger=Span(start=9, end=15),
                arguments=[
                    Argument(start=0, end=8, role="employee", type="Person"),
                    Argument(start=16, end=25, role="Entity", type="Organization"),
                    Argument(start=29, end=34, role="Place", type="Location"),
                ],
            )
        ],
        meta={"doc_id": "AFP_ENG_1"},
    )
    # no "sentence": "Acme moved to Rome" joined with spaces; Acme 0-4, moved 5-10, Rome 14-18
    assert second.text == "Acme moved to Rome"
    assert second.relations == []
    assert second.events == [
        Event(
            type="Transport",
            trigger=Span(start=5, end=10),
            arguments=[
                Argument(start=0, end=4, role="artifact", type="Organization"),
                Argument(start=14, end=18, role="destination", type="Location"),
            ],
        )
    ]


def test_oneie_unknown_entity_id_names_file_line_and_field() -> None:
    with pytest.raises(DataFormatError) as caught:
        run("oneie", "broken_entity_id.oneie.jsonl", "d", "en")
    assert str(caught.value).startswith(
        f"{FIXTURES / 'broken_entity_id.oneie.jsonl'}:1: relation_mentions[0].arguments[1].entity_id: "
        "unknown entity id 'E9'"
    )


def test_oneie_dropped_entity_orphans_its_relation_but_not_its_event_argument(tmp_path: Path) -> None:
    # given an entity labelled MISC in a relation and as an event argument
    record = (
        '{"sent_id": "s1", "tokens": ["Ada", "joined", "Acme"], "entity_mentions": ['
        '{"id": "a", "entity_type": "PER", "start": 0, "end": 1},'
        '{"id": "b", "entity_type": "MISC", "start": 2, "end": 3}],'
        '"relation_mentions": [{"relation_type": "ORG-AFF", "arguments": ['
        '{"entity_id": "a", "role": "Arg-1"}, {"entity_id": "b", "role": "Arg-2"}]}],'
        '"event_mentions": [{"event_type": "Personnel:Start-Position", "trigger": {"start": 1, "end": 2},'
        '"arguments": [{"entity_id": "b", "role": "employer"}]}]}\n'
    )
    (instance,), report = run("oneie", write(tmp_path, "o.jsonl", record), "d", "en", drop_unmapped=True)
    # then "Ada joined Acme" keeps Ada 0-3; the relation goes; the argument keeps span 11-15 without a class
    assert instance.entities == [Entity(start=0, end=3, type="Person")]
    assert instance.relations == []
    assert instance.events == [
        Event(
            type="StartPosition",
            trigger=Span(start=4, end=10),
            arguments=[Argument(start=11, end=15, role="employer")],
        )
    ]
    assert (report.dropped, report.dropped_orphans) == ({"MISC": 1}, 1)
