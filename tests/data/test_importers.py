"""Importers: exact canonical instances from each fixture, and one-line errors for broken input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from knowcoder.data.importers import IMPORTERS, ImportReport, import_dataset, token_separator
from knowcoder.data.instance import Argument, Entity, Event, Instance, Relation, Span
from knowcoder.errors import ConfigError, DataFormatError, LabelError
from knowcoder.schema.ontology import Ontology, load_ontology

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "importers"
ONTOLOGY: Ontology = load_ontology(FIXTURES / "ontology.yaml")

# one well-formed sample per registered format: (file, dataset, lang)
SAMPLES = {
    "conll": ("en.conll", "conll03", "en"),
    "uie": ("uie.jsonl", "uie_ds", "en"),
    "oneie": ("oneie.jsonl", "ace05", "en"),
    "instruction": ("instruction.jsonl", "instr", "en"),
}
# formats whose fixtures need the real-dataset ontology (tests/data/test_real_importers.py)
REAL_SAMPLES = {
    "duie": ("duie.jsonl", "duie", "zh"),
    "duee": ("duee.jsonl", "duee", "zh"),
    "universalner": ("universalner.json", "mit_restaurant", "en"),
    "iepile": ("iepile.jsonl", "iepile", "zh"),
    "instructie": ("instructie.jsonl", "instructie", "en"),
    "dygiepp": ("dygiepp_scierc.jsonl", "scierc", "en"),
}
REAL_ONTOLOGY: Ontology = load_ontology(FIXTURES / "real_ontology.yaml")


def run(
    fmt: str, path: str | Path, dataset: str, lang: str, **options: Any
) -> tuple[list[Instance], ImportReport]:
    path = path if isinstance(path, Path) else FIXTURES / path
    instances, report = import_dataset(fmt, path, ontology=ONTOLOGY, dataset=dataset, lang=lang, **options)
    return list(instances), report


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def entities(instance: Instance) -> list[tuple[str, str]]:
    return [(instance.span_text(entity), entity.type) for entity in instance.entities or []]


# ---- the registry ------------------------------------------------------------------------------


def test_samples_cover_exactly_the_registered_importers() -> None:
    # the other engineer's knowcoder format has its own tests
    assert set(SAMPLES) | set(REAL_SAMPLES) == set(IMPORTERS) - {"knowcoder"}


@pytest.mark.parametrize("fmt", sorted({*SAMPLES, *REAL_SAMPLES}))
def test_every_registered_importer_yields_spans_inside_their_text(fmt: str) -> None:
    # given a well-formed sample of the format
    name, dataset, lang = SAMPLES.get(fmt) or REAL_SAMPLES[fmt]
    ontology = ONTOLOGY if fmt in SAMPLES else REAL_ONTOLOGY
    # when it is imported
    stream, report = import_dataset(
        fmt, FIXTURES / name, ontology=ontology, dataset=dataset, lang=lang, drop_unmapped=True
    )
    instances = list(stream)
    # then every span lies inside its instance text and the report counts every record
    assert instances
    assert report.records_read >= 1 and report.instances_written == len(instances)
    for instance in instances:
        spans: list[Span] = list(instance.entities or [])
        for event in instance.events or []:
            spans += [event.trigger, *event.arguments]
        for span in spans:
            assert 0 <= span.start < span.end <= len(instance.text)
        for relation in instance.relations or []:
            assert max(relation.head, relation.tail) < len(instance.entities or [])


def test_unknown_format_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"format: unknown import format 'brat'; known formats: conll, "):
        run("brat", "en.conll", "d", "en")


def test_unknown_option_names_it_and_the_allowed_ones() -> None:
    with pytest.raises(
        ConfigError,
        match=r"options.tagcolumn: .*'tagcolumn'; its options: "
        r"scheme, strip_segmentation, tag_column, token_column",
    ):
        run("conll", "en.conll", "d", "en", tagcolumn=2)


def test_missing_file_is_a_data_format_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match=r"nope\.conll: no such file"):
        run("conll", tmp_path / "nope.conll", "d", "en")


def test_file_that_is_not_utf8_is_reported_as_an_encoding_error_naming_the_line(tmp_path: Path) -> None:
    # given a CoNLL file whose third line is GBK, not UTF-8
    path = tmp_path / "gbk.conll"
    path.write_bytes(b"Ada B-PER\n\n" + "李明 B-PER\n".encode("gbk"))
    with pytest.raises(
        DataFormatError, match=r"gbk\.conll:3: <encoding>: not valid UTF-8 \(byte 1 of the line\)"
    ):
        run("conll", path, "d", "en")


@pytest.mark.parametrize(
    ("lang", "separator"), [("en", " "), ("zh", ""), ("zh-CN", ""), ("ja", ""), ("th", "")]
)
def test_languages_without_spaces_join_tokens_with_nothing(lang: str, separator: str) -> None:
    assert token_separator(lang) == separator


# ---- CoNLL ---------------------------------------------------------------------------------------


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


def test_unmapped_label_raises_label_error_naming_file_line_and_label() -> None:
    # given MISC, which no class of the test ontology aliases, on line 3
    with pytest.raises(LabelError) as caught:
        run("conll", "en_misc.conll", "conll03", "en")
    message = str(caught.value)
    assert message.startswith(f"{FIXTURES / 'en_misc.conll'}:3: tag: label 'MISC' maps to no entity class")
    assert message.endswith("or import with --drop-unmapped")


def test_unmapped_labels_are_dropped_and_counted_per_label_when_asked() -> None:
    instances, report = run("conll", "en_misc.conll", "conll03", "en", drop_unmapped=True)
    # "Ada met German fans in Rome ." keeps Ada 0-3 and Rome 23-27; "Euro fans" keeps nothing
    assert [i.entities for i in instances] == [
        [Entity(start=0, end=3, type="Person"), Entity(start=23, end=27, type="Location")],
        [],
    ]
    assert report.dropped == {"MISC": 2}
    assert report.to_dict()["dropped_total"] == 2


def test_label_of_the_wrong_kind_is_unmapped(tmp_path: Path) -> None:
    # given an entity tag that names a relation class
    path = write(tmp_path, "kind.conll", "Ada B-Employment\n")
    with pytest.raises(LabelError, match=r"kind\.conll:1: tag: .*\(it names relation class 'Employment'\)"):
        run("conll", path, "d", "en")


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


# ---- instruction ---------------------------------------------------------------------------------


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
