"""Importers for the datasets KnowCoder trains and evaluates on, on fixtures cut from real files.

Offsets are worked out by hand from the fixture text (tests/fixtures/importers/SOURCE.md says
where each line comes from); DuEE's are the dataset's own ``*_start_index`` values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from knowcoder.data.importers import ImportReport, import_dataset
from knowcoder.data.instance import Argument, Entity, Event, Instance, Relation, Span
from knowcoder.errors import DataFormatError
from knowcoder.schema.ontology import Ontology, load_ontology

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "importers"
ONTOLOGY: Ontology = load_ontology(FIXTURES / "real_ontology.yaml")


def run(
    fmt: str, name: str | Path, dataset: str, lang: str, **options: Any
) -> tuple[list[Instance], ImportReport]:
    path = name if isinstance(name, Path) else FIXTURES / name
    instances, report = import_dataset(fmt, path, ontology=ONTOLOGY, dataset=dataset, lang=lang, **options)
    return list(instances), report


def spans(instance: Instance) -> list[tuple[int, int, str, str]]:
    return [(e.start, e.end, e.type, instance.span_text(e)) for e in instance.entities or []]


# ---- DuIE 2.0 ---------------------------------------------------------------------------------


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


# ---- DuEE 1.0 ---------------------------------------------------------------------------------


def test_duee_offsets_are_the_datasets_own_and_one_span_fills_two_roles() -> None:
    instances, _ = run("duee", "duee.jsonl", "duee", "zh")
    first = instances[0]
    assert first.id == "6d5b61216556ea335377a60923cf3ea5"
    assert first.entities is None
    site = (14, 30)  # 青岛地铁1号线胜利桥站施工围挡处: 坍塌主体 of one event, 地点 of the next
    assert first.events == [
        Event(
            type="Collapse",
            trigger=Span(start=32, end=34),
            arguments=[
                Argument(start=0, end=4, role="time"),
                Argument(start=site[0], end=site[1], role="collapsed"),
                Argument(start=37, end=39, role="deaths"),
            ],
        ),
        Event(
            type="Die",
            trigger=Span(start=43, end=45),
            arguments=[
                Argument(start=0, end=4, role="time"),
                Argument(start=39, end=43, role="victim"),
                Argument(start=site[0], end=site[1], role="place"),
            ],
        ),
        Event(
            type="Collapse",
            trigger=Span(start=82, end=84),
            arguments=[
                Argument(start=52, end=57, role="time"),
                Argument(start=67, end=82, role="collapsed"),
                Argument(start=85, end=87, role="deaths"),
            ],
        ),
        Event(
            type="Die",
            trigger=Span(start=93, end=95),
            arguments=[
                Argument(start=52, end=57, role="time"),
                Argument(start=87, end=91, role="victim"),
                Argument(start=67, end=82, role="place"),
            ],
        ),
    ]
    assert first.text[32:34] == "塌陷" and first.text[14:30] == "青岛地铁1号线胜利桥站施工围挡处"


def test_duee_start_index_that_misses_its_text_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text(
        '{"text": "雀巢裁员4000人", "event_list": [{"event_type": "组织关系-裁员", "trigger": "裁员",'
        ' "trigger_start_index": 3, "arguments": []}]}\n',
        encoding="utf-8",
    )
    with pytest.raises(DataFormatError) as caught:
        run("duee", path, "duee", "zh")
    assert str(caught.value) == (
        f"{path}:1: event_list[0].trigger_start_index: trigger_start_index 3 does not point at "
        "'裁员' (the text there is '员4')"
    )


# ---- UniversalNER / Pile-NER --------------------------------------------------------------------


def test_universalner_array_merges_one_question_records_per_sentence() -> None:
    instances, report = run("universalner", "universalner.json", "mit_restaurant", "en")
    assert report.records_read == 16 and report.instances_written == 2
    assert [i.id for i in instances] == ["mit-restaurant_0", "mit-restaurant_8"]
    assert spans(instances[0]) == [
        (2, 11, "Rating", "four star"),
        (23, 29, "Location", "with a"),
        (30, 33, "Amenity", "bar"),
    ]
    assert spans(instances[1]) == [(4, 9, "Cuisine", "asian"), (18, 24, "Location", "around")]


def test_universalner_reads_json_lines_too(tmp_path: Path) -> None:
    path = tmp_path / "pile.jsonl"
    path.write_text(
        '{"id": "p1", "conversations": [{"from": "human", "value": "Text: Ada met Bob."},'
        ' {"from": "gpt", "value": "I\'ve read this text."},'
        ' {"from": "human", "value": "What describes Amenity in the text?"},'
        ' {"from": "gpt", "value": "[\\"Bob\\", \\"Ada\\"]"}]}\n',
        encoding="utf-8",
    )
    (instance,), _ = run("universalner", path, "pile", "en")
    assert spans(instance) == [(0, 3, "Amenity", "Ada"), (8, 11, "Amenity", "Bob")]


# ---- IEPile -----------------------------------------------------------------------------------


def test_iepile_merges_records_of_one_input_and_reads_each_task() -> None:
    instances, report = run("iepile", "iepile.jsonl", "iepile", "zh", drop_unmapped=True)
    assert report.records_read == 8 and report.instances_written == 5
    # NER: 广州松日队 11-16 and 青岛海牛队 5-10, in the answer's order
    assert spans(instances[1]) == [
        (11, 16, "Organization", "广州松日队"),
        (5, 10, "Organization", "青岛海牛队"),
    ]
    # SPO over three records: 楚留香新传 主演 张智尧; 张智尧 饰演 楚留香 (classes from the schema)
    assert spans(instances[2]) == [
        (50, 55, "WorkOfArt", "楚留香新传"),
        (45, 48, "Person", "张智尧"),
        (15, 18, "Person", "楚留香"),
    ]
    assert instances[2].relations == [
        Relation(type="Starring", head=0, tail=1),
        Relation(type="Portrays", head=1, tail=2),
    ]
    # EE: "NAN" is no argument
    assert instances[3].events == [
        Event(
            type="Layoff",
            trigger=Span(start=15, end=17),
            arguments=[Argument(start=10, end=13, role="time"), Argument(start=17, end=22, role="headcount")],
        )
    ]
    # RE gives no classes: arguments get the base class Entity
    assert spans(instances[4]) == [(21, 25, "Entity", "喜剧之王"), (26, 29, "Entity", "周星驰")]
    assert report.dropped["票房"] == 1


# ---- InstructIE -------------------------------------------------------------------------------


def test_instructie_places_triples_and_keeps_the_domain() -> None:
    (instance,), _ = run("instructie", "instructie.jsonl", "instructie", "en")
    assert spans(instance) == [
        (0, 7, "AstronomicalObject", "NGC1313"),
        (118, 136, "Date", "September 27, 1826"),
        (102, 114, "Person", "James Dunlop"),
        (44, 53, "AstronomicalObject", "Reticulum"),
    ]
    assert instance.relations == [
        Relation(type="DiscoveryTime", head=0, tail=1),
        Relation(type="DiscoveredBy", head=0, tail=2),
        Relation(type="LocatedIn", head=0, tail=3),
    ]
    assert instance.meta == {"cate": "Astronomy"}


# ---- DyGIE++ ----------------------------------------------------------------------------------


def test_dygiepp_document_indices_and_inclusive_ends_become_sentence_offsets() -> None:
    instances, report = run("dygiepp", "dygiepp_ace.jsonl", "ace05_event", "en")
    assert report.records_read == 1 and report.instances_written == 6
    fifth = instances[5]
    assert fifth.id == "CNN_IP_20030329.1600.01-3-5"
    assert fifth.text == "In trucks and on foot they came to the town of Safwan ."
    # document tokens 114 (trucks), 118 (they), 121-124 (the town of Safwan), 124 (Safwan)
    assert spans(fifth) == [
        (3, 9, "Vehicle", "trucks"),
        (22, 26, "Person", "they"),
        (35, 53, "Location", "the town of Safwan"),
        (47, 53, "Location", "Safwan"),
    ]
    # trigger token 119 (came); role 'artifact' is an ace05_event alias of 'traveler'
    assert fifth.events == [
        Event(
            type="Transport",
            trigger=Span(start=27, end=31),
            arguments=[
                Argument(start=3, end=9, role="vehicle", type="Vehicle"),
                Argument(start=22, end=26, role="traveler", type="Person"),
                Argument(start=35, end=53, role="destination", type="Location"),
            ],
        )
    ]
    assert instances[1].events == [Event(type="Attack", trigger=Span(start=56, end=59), arguments=[])]


def test_dygiepp_scierc_relations_point_at_ner_spans() -> None:
    instances, _ = run("dygiepp", "dygiepp_scierc.jsonl", "scierc", "en")
    first = instances[0]
    assert spans(first) == [
        (24, 30, "Method", "method"),
        (44, 70, "OtherScientificTerm", "intrinsic object structure"),
        (75, 97, "Task", "robust visual tracking"),
    ]
    assert first.relations == [
        Relation(type="UsedFor", head=0, tail=1),
        Relation(type="UsedFor", head=1, tail=2),
    ]
    # PART-OF of sentence 4 maps to PartOf only because the scierc scope says so
    assert instances[4].relations == [Relation(type="PartOf", head=0, tail=1)]


# ---- CoNLL variants ---------------------------------------------------------------------------


def test_conll_bmes_resume_single_and_multi_character_entities() -> None:
    instances, _ = run("conll", "resume.bmes", "resume", "zh", scheme="BMES")
    assert spans(instances[0]) == [(0, 2, "Person", "高勇"), (5, 9, "Nationality", "中国国籍")]
    assert spans(instances[1]) == [
        (0, 2, "Person", "罗军"),
        (5, 6, "Nationality", "汉"),
        (7, 9, "Title", "党员"),
        (10, 14, "EducationLevel", "大专学历"),
    ]


def test_conll_tag_first_file_reads_with_column_choice() -> None:
    (instance,), _ = run("conll", "mit_movie.bio", "mit_movie", "en", token_column=1, tag_column=0)
    assert instance.text.startswith("steve mcqueen provided a thrilling motorcycle chase")
    assert spans(instance) == [
        (0, 13, "Person", "steve mcqueen"),
        (25, 59, "Plot", "thrilling motorcycle chase in this"),
        (60, 75, "Opinion", "greatest of all"),
        (76, 101, "Plot", "ww 2 prison escape movies"),
    ]


def test_conll_same_token_and_tag_column_is_refused() -> None:
    with pytest.raises(DataFormatError, match=r"mit_movie\.bio:1: columns: token_column and tag_column both"):
        run("conll", "mit_movie.bio", "mit_movie", "en", token_column=0, tag_column=0)


def test_conll_weibo_segmentation_digits_are_stripped_on_request() -> None:
    # the first and sixth sentences of weiboNER_2nd_conll.test (SOURCE.md)
    (first, second), _ = run("conll", "weibo.conll", "weibo", "zh", strip_segmentation=True)
    assert first.text == "一节课的时间真心感动了李开复感动"
    assert spans(first) == [(11, 14, "Person", "李开复")]
    assert second.text == "星期天的早晨七点学车，驾校太给力。我的头发都没有洗"
    assert spans(second) == [(11, 13, "Organization", "驾校")]


def test_conll_weibo_without_the_option_is_refused_by_the_language_check() -> None:
    # 一0 节1 ... keep their digits; the text is still mostly Chinese, so lang zh passes,
    # but the digits stay: the option is what removes them
    (instance, _second), _ = run("conll", "weibo.conll", "weibo", "zh")
    assert instance.text == "一0节1课2的0时0间1真0心1感0动1了0李0开1复2感0动1"
