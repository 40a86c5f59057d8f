"""The CoNLL importer: tag schemes, columns and segmentation, with exact offsets and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowcoder.data.importers import import_dataset
from knowcoder.data.instance import Entity, Instance
from knowcoder.errors import ConfigError, DataFormatError

from .cases import FIXTURES, ONTOLOGY, entities, run, run_real, spans, write


def test_conll_en_gives_exact_offsets_and_default_ids() -> None:
    # given a CoNLL-2003 file with two documents, the tag in the last of four columns
    # when it is imported
    instances, report = run("conll", "en.conll", "conll03", "en")
    # then tokens join with one space and offsets are those worked out by hand
    assert instances == [
        Instance(
            id="conll03-en-000000",
            dataset="conll03",
            lang="en",
            text="Ada Park joined Acme Corp in Paris .",
            entities=[
                Entity(start=0, end=8, type="Person"),
                Entity(start=16, end=25, type="Organization"),
                Entity(start=29, end=34, type="Location"),
            ],
        ),
        Instance(
            id="conll03-en-000001",
            dataset="conll03",
            lang="en",
            text="Peter Blackburn",
            entities=[Entity(start=0, end=15, type="Person")],
        ),
        Instance(
            id="conll03-en-000002",
            dataset="conll03",
            lang="en",
            text="Acme hired Bob .",
            entities=[Entity(start=0, end=4, type="Organization"), Entity(start=11, end=14, type="Person")],
        ),
    ]
    assert instances[0].relations is None and instances[0].events is None
    assert (report.records_read, report.instances_written, report.dropped_total) == (3, 3, 0)


def test_conll_zh_joins_characters_without_spaces_and_uses_dataset_aliases() -> None:
    # given an MSRA-style file whose labels NR/NS/NT are aliases for dataset "msra" only
    instances, _ = run("conll", "zh.conll", "msra", "zh")
    assert instances == [
        Instance(
            id="msra-zh-000000",
            dataset="msra",
            lang="zh",
            text="李明在北京工作。",
            entities=[Entity(start=0, end=2, type="Person"), Entity(start=3, end=5, type="Location")],
        ),
        Instance(
            id="msra-zh-000001",
            dataset="msra",
            lang="zh",
            text="阿里巴巴成立",
            entities=[Entity(start=0, end=4, type="Organization")],
        ),
    ]


def test_conll_i_tag_that_does_not_continue_starts_a_new_entity(tmp_path: Path) -> None:
    # given I- after O, and I-LOC after B-PER (conlleval reads both as entity starts)
    path = write(tmp_path, "loose.conll", "Bob I-PER\nPark I-PER\nin O\nRome I-LOC\nAda B-PER\nRoma I-LOC\n")
    (instance,), _ = run("conll", path, "d", "en")
    # text "Bob Park in Rome Ada Roma": Bob 0-3, Park 4-8, Rome 12-16, Ada 17-20, Roma 21-25
    assert instance.entities == [
        Entity(start=0, end=8, type="Person"),
        Entity(start=12, end=16, type="Location"),
        Entity(start=17, end=20, type="Person"),
        Entity(start=21, end=25, type="Location"),
    ]


def test_conll_iob1_splits_adjacent_entities_only_at_b(tmp_path: Path) -> None:
    # given IOB1: I- opens an entity, B- separates two adjacent entities of one type
    path = write(tmp_path, "iob1.conll", "Ada I-PER\nPark I-PER\nBob B-PER\nmet O\nEve I-PER\n")
    (instance,), _ = run("conll", path, "d", "en", scheme="IOB1")
    # "Ada Park Bob met Eve": Ada Park 0-8, Bob 9-12, Eve 17-20
    assert entities(instance) == [("Ada Park", "Person"), ("Bob", "Person"), ("Eve", "Person")]
    assert [(e.start, e.end) for e in instance.entities or []] == [(0, 8), (9, 12), (17, 20)]


def test_conll_bioes_closes_entities_at_e_and_s(tmp_path: Path) -> None:
    # given BIOES, including an I- right after an E- (a new entity, conlleval-style)
    content = "Ada B-PER\nLee I-PER\nPark E-PER\nBob S-PER\nAcme I-ORG\nin O\nRome S-LOC\n"
    (instance,), _ = run("conll", write(tmp_path, "bioes.conll", content), "d", "en", scheme="BIOES")
    # "Ada Lee Park Bob Acme in Rome": 0-12, 13-16, 17-21, 25-29
    assert [(e.start, e.end, e.type) for e in instance.entities or []] == [
        (0, 12, "Person"),
        (13, 16, "Person"),
        (17, 21, "Organization"),
        (25, 29, "Location"),
    ]


def test_conll_tag_column_option_reads_another_column(tmp_path: Path) -> None:
    # given the tag in the middle column and a chunk tag last
    path = write(tmp_path, "mid.conll", "Ada B-PER B-NP\nPark I-PER I-NP\nleft O B-VP\n")
    (instance,), _ = run("conll", path, "d", "en", tag_column=1)
    assert instance.entities == [Entity(start=0, end=8, type="Person")]


def test_conll_docstart_without_blank_line_still_ends_the_sentence(tmp_path: Path) -> None:
    path = write(tmp_path, "doc.conll", "Ada B-PER\n-DOCSTART- O\nRome B-LOC\n")
    instances, _ = run("conll", path, "d", "en")
    assert [(i.id, i.text) for i in instances] == [("d-en-000000", "Ada"), ("d-en-000001", "Rome")]


def test_conll_column_count_change_names_file_line_and_field_after_streaming_earlier_sentences() -> None:
    # given a file whose line 5 has two columns where line 1 had three
    instances, _ = import_dataset(
        "conll", FIXTURES / "broken_columns.conll", ontology=ONTOLOGY, dataset="d", lang="en"
    )
    # when it is read: the first sentence arrives before the bad line is reached (streaming)
    assert next(instances).text == "Ada Park"
    with pytest.raises(DataFormatError) as caught:
        next(instances)
    # then the one-line error locates the problem
    message = str(caught.value)
    assert message.startswith(f"{FIXTURES / 'broken_columns.conll'}:5: columns: found 2 columns")
    assert "first token line (1) has 3" in message and "\n" not in message


def test_conll_illegal_tag_names_file_line_and_field() -> None:
    with pytest.raises(DataFormatError) as caught:
        run("conll", "broken_tag.conll", "d", "en")
    assert str(caught.value).startswith(f"{FIXTURES / 'broken_tag.conll'}:2: tag: tag 'X-PER' is not O")


def test_conll_e_tag_is_illegal_in_bio(tmp_path: Path) -> None:
    path = write(tmp_path, "e.conll", "Ada B-PER\nPark E-PER\n")
    with pytest.raises(
        DataFormatError, match=r"e\.conll:2: tag: tag 'E-PER' is not O or one of B-<type>, I-<type>"
    ):
        run("conll", path, "d", "en")


def test_conll_unknown_scheme_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"options.scheme: unknown tag scheme 'BILOU'"):
        run("conll", "en.conll", "d", "en", scheme="BILOU")


def test_conll_single_column_file_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "one.conll", "Ada\n")
    with pytest.raises(
        DataFormatError, match=r"one\.conll:1: columns: a token line needs at least two columns"
    ):
        run("conll", path, "d", "en")


# ---- variants from real files ----------------------------------------------------------------


def test_conll_bmes_resume_single_and_multi_character_entities() -> None:
    instances, _ = run_real("conll", "resume.bmes", "resume", "zh", scheme="BMES")
    assert spans(instances[0]) == [(0, 2, "Person", "高勇"), (5, 9, "Nationality", "中国国籍")]
    assert spans(instances[1]) == [
        (0, 2, "Person", "罗军"),
        (5, 6, "Nationality", "汉"),
        (7, 9, "Title", "党员"),
        (10, 14, "EducationLevel", "大专学历"),
    ]


def test_conll_tag_first_file_reads_with_column_choice() -> None:
    (instance,), _ = run_real("conll", "mit_movie.bio", "mit_movie", "en", token_column=1, tag_column=0)
    assert instance.text.startswith("steve mcqueen provided a thrilling motorcycle chase")
    assert spans(instance) == [
        (0, 13, "Person", "steve mcqueen"),
        (25, 59, "Plot", "thrilling motorcycle chase in this"),
        (60, 75, "Opinion", "greatest of all"),
        (76, 101, "Plot", "ww 2 prison escape movies"),
    ]


def test_conll_same_token_and_tag_column_is_refused() -> None:
    with pytest.raises(DataFormatError, match=r"mit_movie\.bio:1: columns: token_column and tag_column both"):
        run_real("conll", "mit_movie.bio", "mit_movie", "en", token_column=0, tag_column=0)


def test_conll_weibo_segmentation_digits_are_stripped_on_request() -> None:
    # the first and sixth sentences of weiboNER_2nd_conll.test (SOURCE.md)
    (first, second), _ = run_real("conll", "weibo.conll", "weibo", "zh", strip_segmentation=True)
    assert first.text == "一节课的时间真心感动了李开复感动"
    assert spans(first) == [(11, 14, "Person", "李开复")]
    assert second.text == "星期天的早晨七点学车，驾校太给力。我的头发都没有洗"
    assert spans(second) == [(11, 13, "Organization", "驾校")]


def test_conll_weibo_without_the_option_is_refused_by_the_language_check() -> None:
    # 一0 节1 ... keep their digits; the text is still mostly Chinese, so lang zh passes,
    # but the digits stay: the option is what removes them
    (instance, _second), _ = run_real("conll", "weibo.conll", "weibo", "zh")
    assert instance.text == "一0节1课2的0时0间1真0心1感0动1了0李0开1复2感0动1"
