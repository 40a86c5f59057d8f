"""The DuIE 2.0 importer on lines cut from the real file.

Offsets are worked out by hand from the fixture text (tests/fixtures/importers/SOURCE.md says
where each line comes from).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from knowcoder.data.instance import Entity, Relation
from knowcoder.errors import DataFormatError

from .cases import run_real as run
from .cases import spans


def test_duie_multi_slot_object_gives_one_relation_per_slot() -> None:
    # given 王雪纯 (0-3) voices 晴雯 (13-15) in 红楼梦 (8-11), and hosts 正大综艺 (23-27)
    instances, report = run("duie", "duie.jsonl", "duie", "zh")
    first = instances[0]
    assert first.entities == [
        Entity(start=0, end=3, type="Person"),
        Entity(start=13, end=15, type="Person"),
        Entity(start=8, end=11, type="WorkOfArt"),
        Entity(start=23, end=27, type="WorkOfArt"),
    ]
    # then the @value slot and the inWork slot each give a relation from the subject
    assert first.relations == [
        Relation(type="VoiceActing", head=0, tail=1),
        Relation(type="VoiceActingIn", head=0, tail=2),
        Relation(type="PresentedBy", head=3, tail=0),
    ]
    assert report.records_read == report.instances_written == 3


def test_duie_swap_alias_makes_the_object_the_head_and_entities_are_reused() -> None:
    # given 孙安佐 (39-42) whose 父亲 is 孙鹏 (31-33) and 母亲 狄莺 (28-30)
    instances, _ = run("duie", "duie.jsonl", "duie", "zh")
    second = instances[1]
    assert spans(second) == [
        (39, 42, "Person", "孙安佐"),
        (31, 33, "Person", "孙鹏"),
        (28, 30, "Person", "狄莺"),
    ]
    # then 父亲/母亲 (swap: true) put the parent first; 丈夫/妻子 keep subject -> object
    assert second.relations == [
        Relation(type="ParentOf", head=1, tail=0),
        Relation(type="ParentOf", head=2, tail=0),
        Relation(type="Spouse", head=2, tail=1),
        Relation(type="Spouse", head=1, tail=2),
    ]


def test_duie_plain_string_objects_of_older_files_are_read() -> None:
    instances, _ = run("duie", "duie.jsonl", "duie", "zh")
    third = instances[2]
    assert spans(third) == [
        (0, 8, "Person", "查尔斯·阿兰基斯"),
        (42, 46, "Location", "圣地亚哥"),
        (27, 37, "Date", "1989年4月17日"),
    ]
    assert third.relations == [
        Relation(type="BirthPlace", head=0, tail=1),
        Relation(type="BirthDate", head=0, tail=2),
    ]


def test_duie_unlocatable_subject_names_field_and_flag(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(
        '{"text": "甲乙", "spo_list": [{"predicate": "妻子", "subject": "丙", "subject_type": "人物",'
        ' "object": {"@value": "乙"}, "object_type": {"@value": "人物"}}]}\n',
        encoding="utf-8",
    )
    with pytest.raises(DataFormatError) as caught:
        run("duie", path, "duie", "zh")
    assert str(caught.value) == (
        f"{path}:1: spo_list[0].subject: cannot place '丙': it does not occur in the text; "
        "fix the record or import with --option drop_unlocated=true"
    )
