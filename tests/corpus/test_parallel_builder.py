"""The parallel-pair builder: span re-alignment, drop reasons, the rank rule, both directions."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knowcoder.corpus.parallel_builder import (
    BuildReport,
    DictionaryTranslator,
    PairsTranslator,
    build_pairs,
    build_pairs_file,
)
from knowcoder.data.instance import Entity, Instance
from knowcoder.data.jsonl import read_instances, write_instances
from knowcoder.data.parallel import ParallelPair, read_pairs
from knowcoder.errors import DataFormatError

REPO = Path(__file__).resolve().parents[2]
BUNDLED = REPO / "data" / "raw" / "parallel" / "en_zh.jsonl"
FIXTURES = REPO / "tests" / "fixtures" / "parallel_builder"
SOURCES = FIXTURES / "sources_en.jsonl"
TABLE = FIXTURES / "table_en_zh.jsonl"


@pytest.fixture(scope="module")
def bundled() -> list[ParallelPair]:
    return list(read_pairs(BUNDLED))


@pytest.fixture(scope="module")
def table() -> DictionaryTranslator:
    return DictionaryTranslator.from_jsonl(TABLE)


@pytest.fixture(scope="module")
def built(table) -> tuple[dict[str, ParallelPair], BuildReport]:
    pairs, report = build_pairs(read_instances(SOURCES), table, target_lang="zh", id_prefix="fx")
    return {pair.source.id: pair for pair in pairs}, report


def spans(instance: Instance) -> list[tuple[int, int, str]]:
    """Every entity, trigger and argument span as (start, end, text), in annotation order."""
    out = [(e.start, e.end, instance.span_text(e)) for e in instance.entities or ()]
    for event in instance.events or ():
        out.append((event.trigger.start, event.trigger.end, instance.span_text(event.trigger)))
        out.extend((a.start, a.end, instance.span_text(a)) for a in event.arguments)
    return out


def unambiguous(pair: ParallelPair) -> bool:
    """Each aligned span's text occurs exactly once in its own sentence, on both sides."""
    return all(
        pair.source.text.count(s[2]) == 1 and pair.target.text.count(t[2]) == 1
        for s, t in zip(spans(pair.source), spans(pair.target), strict=True)
    )


# ---- round trip on the bundled pairs ----------------------------------------------------------------
def test_bundled_pairs_rebuild_exactly_en_to_zh(bundled, tmp_path):
    # given the source side of the bundled pairs and a translator built from the same file
    sources = tmp_path / "en.jsonl"
    write_instances(sources, (pair.source for pair in bundled))
    out = tmp_path / "pairs.jsonl"
    # when the pairs are rebuilt through the file interface
    report = build_pairs_file(sources, out, PairsTranslator.from_files(BUNDLED), target_lang="zh")
    rebuilt = list(read_pairs(out))
    # then every unambiguous pair (all 30 of them) comes back identical, ids included
    expected = [pair for pair in bundled if unambiguous(pair)]
    assert len(expected) == 30
    assert rebuilt == expected
    assert report.as_dict() == {
        "pairs_read": 30,
        "pairs_written": 30,
        "pairs_dropped": 0,
        "dropped": {},
        "dropped_examples": {},
        "spans_translated": 121,
        "spans_verbatim": 0,
    }


def test_bundled_pairs_rebuild_exactly_zh_to_en(bundled):
    # given the Chinese side as the source, the same translator is read the other way
    pairs, report = build_pairs(
        (pair.target for pair in bundled), PairsTranslator.from_files(BUNDLED), target_lang="en"
    )
    rebuilt = list(pairs)
    # then the English side comes back: target ids parallel-en-NNNN equal the bundled source ids
    assert [pair.target for pair in rebuilt] == [pair.source for pair in bundled]
    assert [pair.id for pair in rebuilt] == [pair.id for pair in bundled]
    assert (report.pairs_written, report.spans_translated, report.spans_verbatim) == (30, 121, 0)


# ---- the fixture file: every outcome once -------------------------------------------------------------
def test_report_counts_every_drop_reason_once(built):
    _, report = built
    assert report.pairs_read == 9
    assert report.pairs_written == 3
    assert report.pairs_dropped == 6
    assert report.dropped == {
        "already_target_language": 1,
        "sentence_untranslated": 1,
        "entity_not_found": 1,
        "trigger_not_found": 1,
        "argument_not_found": 1,
        "ambiguous_span": 1,
    }
    assert report.dropped_examples["entity_not_found"] == ["fx-en-2"]
    # pair 0: 4 entities + trigger + 4 arguments; pair 1: 3 + 1 + 3, Kestrel AI twice verbatim; pair 5: 4
    assert (report.spans_translated, report.spans_verbatim) == (9 + 5 + 4, 2)


def test_ids_follow_the_input_position_so_drops_shift_nothing(built):
    pairs, _ = built
    assert sorted(pairs) == ["fx-en-0", "fx-en-1", "fx-en-5"]
    assert (pairs["fx-en-5"].id, pairs["fx-en-5"].target.id) == ("fx-0005", "fx-zh-0005")


def test_relations_and_events_follow_their_spans(built):
    pair = built[0]["fx-en-0"]
    target = pair.target
    assert target.text == "2023年5月，朴艾达在里昂离开了艾克米公司。"
    # entity order is the source's, not the target's reading order
    assert [(e.start, e.end, e.text, e.type) for e in target.entities] == [
        (8, 11, "朴艾达", "Person"),
        (17, 22, "艾克米公司", "Company"),
        (12, 14, "里昂", "City"),
        (0, 7, "2023年5月", "Date"),
    ]
    assert target.relations == pair.source.relations
    [event] = target.events
    assert (event.type, event.trigger.start, event.trigger.end, event.trigger.text) == (
        "EndPosition",
        14,
        16,
        "离开",
    )
    assert [(a.start, a.end, a.role, a.type) for a in event.arguments] == [
        (8, 11, "employee", "Person"),
        (17, 22, "employer", "Company"),
        (12, 14, "place", None),
        (0, 7, "time", "Date"),
    ]
    assert (target.lang, target.dataset, target.split) == ("zh", "fixture", "train")


def test_name_missing_from_the_table_is_found_verbatim(built):
    target = built[0]["fx-en-1"].target
    assert target.text == "北风物流于2022年收购了Kestrel AI。"
    assert [(e.start, e.end, e.text) for e in target.entities] == [
        (0, 4, "北风物流"),
        (13, 23, "Kestrel AI"),
        # the translation 2022年 wins over the verbatim 2022, which also occurs
        (5, 10, "2022年"),
    ]
    assert (target.events[0].arguments[1].start, target.events[0].arguments[1].end) == (13, 23)


def test_repeated_spans_take_the_occurrence_of_the_same_rank(built):
    # source "Lyon beat Paris, then Paris beat Lyon." annotated as [Paris#2, Lyon#1, Paris#1, Lyon#2]
    target = built[0]["fx-en-5"].target
    assert target.text == "里昂击败了巴黎，随后巴黎击败了里昂。"
    assert [(e.start, e.end, e.text) for e in target.entities] == [
        (10, 12, "巴黎"),
        (0, 2, "里昂"),
        (5, 7, "巴黎"),
        (15, 17, "里昂"),
    ]
    # tasks the source does not annotate stay unannotated in the target
    assert (target.relations, target.events) == (None, None)


def test_fixture_pairs_translate_back_zh_to_en(built, table):
    # given the written Chinese targets and the table read backwards
    pairs, _ = built
    originals = [pairs[key].source for key in sorted(pairs)]
    back, report = build_pairs(
        (pairs[key].target for key in sorted(pairs)), table.reversed(), target_lang="en"
    )
    # then the English sources come back, up to their ids (Kestrel AI verbatim again)
    assert [pair.target.model_copy(update={"id": s.id}) for pair, s in zip(back, originals)] == originals
    assert (report.pairs_written, report.spans_verbatim) == (3, 2)


# ---- translators -----------------------------------------------------------------------------------------
def test_dictionary_translator_refuses_to_guess_between_conflicting_entries():
    table = DictionaryTranslator()
    table.add("Tokyo is big.", "东京很大。", {"Tokyo": "东京"})
    table.add("Tokyo is big.", "东京很大！", {"Tokyo": "东京都"})
    table.add("Ada Park slept.", "朴艾达睡了。", {"Ada Park": "朴艾达"})
    assert table.translate("Tokyo is big.", source_lang="en", target_lang="zh") is None
    assert table.translate_span("Tokyo", context="Tokyo is big.", source_lang="en", target_lang="zh") is None
    # a span unknown in its sentence falls back to its unique translation elsewhere
    assert (
        table.translate_span("Ada Park", context="Ada Park ran.", source_lang="en", target_lang="zh")
        == "朴艾达"
    )
    assert table.translate_span("Tokyo", context="Tokyo ran.", source_lang="en", target_lang="zh") is None


def test_pairs_translator_knows_only_the_directions_of_its_pairs(bundled):
    translator = PairsTranslator(bundled)
    text = bundled[0].source.text
    assert translator.translate(text, source_lang="en", target_lang="zh") == bundled[0].target.text
    assert translator.translate(text, source_lang="en", target_lang="fr") is None
    assert translator.translate_span("Lyon", context=text, source_lang="en", target_lang="fr") is None
    assert translator.translate_span(
        "里昂", context=bundled[0].target.text, source_lang="zh", target_lang="en"
    ) == ("Lyon")


def test_translator_without_span_translation_aligns_verbatim_only():
    class SentenceOnly:
        def translate(self, text: str, *, source_lang: str, target_lang: str) -> str | None:
            return {"GitHub hired Ada Park.": "GitHub雇用了朴艾达。"}.get(text)

    text = "GitHub hired Ada Park."
    github = Instance(
        id="g", dataset="d", lang="en", text=text, entities=[Entity(start=0, end=6, type="Company")]
    )
    with_person = github.model_copy(
        update={"id": "h", "entities": [*github.entities, Entity(start=13, end=21, type="Person")]}
    )
    pairs, report = build_pairs([github, with_person], SentenceOnly(), target_lang="zh")
    [pair] = list(pairs)
    assert [(e.start, e.end, e.text) for e in pair.target.entities] == [(0, 6, "GitHub")]
    assert report.dropped == {"entity_not_found": 1}
    assert report.spans_verbatim == 1


def test_blank_translation_counts_as_untranslated():
    class Blank:
        def translate(self, text: str, *, source_lang: str, target_lang: str) -> str | None:
            return "  "

    instance = Instance(id="x", dataset="d", lang="en", text="Hello.", entities=[])
    pairs, report = build_pairs([instance], Blank(), target_lang="zh")
    assert report.pairs_read == 0  # nothing happens until the pairs are consumed
    assert list(pairs) == []
    assert report.dropped == {"sentence_untranslated": 1}


def test_bad_table_line_names_file_line_and_field(tmp_path):
    path = tmp_path / "table.jsonl"
    path.write_text('{"source": "a", "target": "b"}\n{"source": "c", "target": "d", "spans": ["c"]}\n')
    with pytest.raises(DataFormatError) as caught:
        DictionaryTranslator.from_jsonl(path)
    assert str(caught.value).startswith(f"{path}:2: spans: ")


def test_bad_input_line_leaves_no_output(tmp_path, table):
    sources = tmp_path / "in.jsonl"
    sources.write_text(
        SOURCES.read_text(encoding="utf-8").splitlines()[0] + "\n{not json}\n", encoding="utf-8"
    )
    out = tmp_path / "out.jsonl"
    with pytest.raises(DataFormatError, match=r"in\.jsonl:2: <json>"):
        build_pairs_file(sources, out, table, target_lang="zh")
    assert list(tmp_path.iterdir()) == [sources]


# ---- property: the rank rule maps the k-th mention to the k-th, and back ---------------------------------
# Chinese words share no character, so no word can match across a boundary or inside another word.
VOCAB = {"Lyon": "里昂", "Paris": "巴黎", "Rome": "罗马", "Oslo": "奥斯陆", "Ada": "艾达"}


@settings(max_examples=60, deadline=None)
@given(
    words=st.lists(st.sampled_from(sorted(VOCAB)), min_size=1, max_size=8),
    data=st.data(),
)
def test_rank_rule_round_trips_any_repeated_mentions(words, data):
    en = " ".join(words)
    zh = "、".join(VOCAB[word] for word in words)
    starts = [sum(len(w) + 1 for w in words[:i]) for i in range(len(words))]
    chosen = data.draw(st.lists(st.sampled_from(range(len(words))), unique=True, min_size=1))
    entities = [Entity(start=starts[i], end=starts[i] + len(words[i]), type="City") for i in chosen]
    source = Instance(id="p", dataset="d", lang="en", text=en, entities=entities)
    table = DictionaryTranslator()
    table.add(en, zh, {word: VOCAB[word] for word in words})

    [pair] = list(build_pairs([source], table, target_lang="zh")[0])
    zh_starts = [sum(len(VOCAB[w]) + 1 for w in words[:i]) for i in range(len(words))]
    assert [(e.start, e.text) for e in pair.target.entities] == [
        (zh_starts[i], VOCAB[words[i]]) for i in chosen
    ]

    [back] = list(build_pairs([pair.target], table.reversed(), target_lang="en")[0])
    assert [(e.start, e.end) for e in back.target.entities] == [(e.start, e.end) for e in entities]
