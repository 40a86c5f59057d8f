"""Distant supervision: instances and relations from gazetteer matches, sharding, coverage numbers
and input errors.

Offsets are worked out by hand from the fixture sentences under tests/fixtures/annotate/.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from knowcoder.corpus.annotate import CoverageReport, annotate, annotate_file
from knowcoder.data.jsonl import read_instances
from knowcoder.errors import ConfigError, DataFormatError, InputError

from .conftest import HERE, only, small, spans


def sha256_of(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- instances and relations ----------------------------------------------------------------------


def test_relations_point_at_entity_indices(gazetteer):
    # Ada Park 0-8, Acme Corp 16-25, New York 29-37: Employment(0 -> 1), HeadquarteredIn(1 -> 2)
    instance = only(["Ada Park joined Acme Corp in New York."], gazetteer)
    assert spans(instance) == [
        (0, 8, "Person", "Ada Park"),
        (16, 25, "Organization", "Acme Corp"),
        (29, 37, "City", "New York"),
    ]
    assert [(r.type, r.head, r.tail) for r in instance.relations] == [
        ("Employment", 0, 1),
        ("HeadquarteredIn", 1, 2),
    ]


def test_relation_uses_first_mentions_once(gazetteer):
    # Acme Corp 0-9, Ada Park 14-22, Ada Park 27-35: one Employment, from entity 1 to entity 0
    instance = only(["Acme Corp and Ada Park and Ada Park."], gazetteer)
    assert [(r.type, r.head, r.tail) for r in instance.relations] == [("Employment", 1, 0)]


def test_relations_are_absent_without_a_kb(ontology):
    instance = only(["Ada Park"], small(ontology, ("Ada Park", "PER")))
    assert instance.relations is None
    assert instance.to_json() == (
        '{"id":"t-00000001","dataset":"t","lang":"en","text":"Ada Park",'
        '"entities":[{"start":0,"end":8,"type":"Person"}]}'
    )


def test_ambiguous_name_claims_its_span_but_is_not_emitted(ontology):
    gazetteer = small(ontology, ("New York", "City"), ("New York", "Person"), ("York", "City"))
    report = CoverageReport()
    instance = only(["New York."], gazetteer, keep_empty=True, report=report)
    assert instance.entities == []  # "York" 4-8 lies inside the ambiguous "New York" 0-8
    assert report.ambiguous_spans == 1


def test_sentences_without_mentions_are_skipped_or_kept(gazetteer):
    texts = ["Nothing to see here.", "York."]
    assert [i.id for i in annotate(texts, gazetteer, lang="en", dataset="t")] == ["t-00000002"]
    kept = list(annotate(texts, gazetteer, lang="en", dataset="t", keep_empty=True))
    assert [(i.id, i.entities, i.relations) for i in kept[:1]] == [("t-00000001", [], [])]


def test_record_errors_and_arguments(gazetteer):
    with pytest.raises(InputError, match=r"^line 2: text: expected the sentence as a string$"):
        list(annotate(["York", {"text": 3}], gazetteer, lang="en", dataset="t"))
    with pytest.raises(ConfigError, match=r"^dataset: must be a non-empty string"):
        annotate(["York"], gazetteer, lang="en", dataset="")


# ---- files, shards and coverage ------------------------------------------------------------------


def test_annotate_file_shards_and_counts(gazetteer, tmp_path):
    # Given 6 lines: 5 sentences (one blank line), one without a mention, 9 mentions, 2 KB relations
    report = annotate_file(HERE / "en.txt", tmp_path, gazetteer, lang="en", dataset="wiki", shard_size=3)
    # Then two shards of 3 and 1 instances, each a canonical file read_instances accepts
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "coverage.json",
        "shard-00000.jsonl",
        "shard-00001.jsonl",
    ]
    shards = [list(read_instances(tmp_path / f"shard-0000{i}.jsonl")) for i in range(2)]
    assert [[i.id for i in shard] for shard in shards] == [
        ["wiki-00000001", "wiki-00000002", "wiki-00000004"],
        ["wiki-00000006"],
    ]
    assert spans(shards[1][0]) == [(0, 4, "City", "York"), (9, 17, "City", "New York")]
    # Springfield 15-26 is City; Washington 0-10 is ambiguous and dropped
    assert spans(shards[0][2]) == [(15, 26, "City", "Springfield"), (40, 44, "City", "York")]
    expected = {
        "sentences_read": 5,
        "sentences_with_mentions": 4,
        "instances": 4,
        "mentions": 9,
        "mentions_per_type": {"City": 5, "Company": 1, "Organization": 1, "Person": 2},
        "ambiguous_spans": 1,
        "relations": 2,
        "relations_per_type": {"Employment": 1, "HeadquarteredIn": 1},
        "names_total": 14,
        "names_never_matched": 6,  # Times Square, 纽约, 纽约时报, 李明, 华为, 巴黎
        "bytes_read": (HERE / "en.txt").stat().st_size,
        "shards": [
            {
                "file": "shard-00000.jsonl",
                "instances": 3,
                "sha256": sha256_of(tmp_path / "shard-00000.jsonl"),
            },
            {
                "file": "shard-00001.jsonl",
                "instances": 1,
                "sha256": sha256_of(tmp_path / "shard-00001.jsonl"),
            },
        ],
    }
    written = json.loads((tmp_path / "coverage.json").read_text())
    for numbers in (report.to_dict(), written):
        assert {k: v for k, v in numbers.items() if k not in ("seconds", "mb_per_s")} == expected
    assert written["seconds"] > 0 and written["mb_per_s"] == round(report.mb_per_s, 3)


def test_shard_lines_equal_the_validated_instances(gazetteer, tmp_path):
    annotate_file(HERE / "mixed.jsonl", tmp_path, gazetteer, lang="en", dataset="mix")
    lines = (tmp_path / "shard-00000.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in (HERE / "mixed.jsonl").read_text().splitlines() if line.strip()]
    expected = [i.to_json() for i in annotate(records, gazetteer, lang="en", dataset="mix")]
    assert [json.loads(line)["id"] for line in lines] == ["zh-1", "zh-2", "mix-00000003"]
    assert lines == expected


def test_keep_empty_writes_every_sentence_read(gazetteer, tmp_path):
    # Given en.txt: 5 sentences (line 5 is blank), line 3 without a mention
    report = annotate_file(HERE / "en.txt", tmp_path, gazetteer, lang="en", dataset="wiki", keep_empty=True)
    lines = (tmp_path / "shard-00000.jsonl").read_text(encoding="utf-8").splitlines()
    records = (HERE / "en.txt").read_text(encoding="utf-8").splitlines()
    expected = [i.to_json() for i in annotate(records, gazetteer, lang="en", dataset="wiki", keep_empty=True)]
    assert [json.loads(line)["id"] for line in lines] == [f"wiki-0000000{n}" for n in (1, 2, 3, 4, 6)]
    assert lines == expected
    assert (report.sentences_read, report.sentences_with_mentions, report.instances) == (5, 4, 5)


def test_tricky_text_is_serialised_like_pydantic(ontology, tmp_path):
    gazetteer = small(ontology, ("Ada Park", "PER"))
    text = 'Ada Park said "hi" \\ \t \x01 \x7f \u2028 é 😀'
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": 'q"1', "text": text}) + "\n", encoding="utf-8")
    annotate_file(source, tmp_path / "out", gazetteer, lang="en", dataset='d"s')
    line = (tmp_path / "out" / "shard-00000.jsonl").read_text(encoding="utf-8")
    (instance,) = annotate([{"id": 'q"1', "text": text}], gazetteer, lang="en", dataset='d"s')
    assert line == instance.to_json() + "\n"


def test_default_ids_escape_the_dataset_name(gazetteer, tmp_path):
    # a text file has no ids: each is made of the dataset name, which may hold '%' or '"'
    annotate_file(HERE / "en.txt", tmp_path, gazetteer, lang="en", dataset='w%s"1')
    lines = (tmp_path / "shard-00000.jsonl").read_text(encoding="utf-8").splitlines()
    records = (HERE / "en.txt").read_text(encoding="utf-8").splitlines()
    assert lines == [i.to_json() for i in annotate(records, gazetteer, lang="en", dataset='w%s"1')]
    assert json.loads(lines[0])["id"] == 'w%s"1-00000001'


def test_runs_are_deterministic(gazetteer, tmp_path):
    reports = [
        annotate_file(HERE / "en.txt", tmp_path / name, gazetteer, lang="en", dataset="wiki", shard_size=2)
        for name in ("a", "b")
    ]
    for shard in ("shard-00000.jsonl", "shard-00001.jsonl"):
        assert (tmp_path / "a" / shard).read_bytes() == (tmp_path / "b" / shard).read_bytes()
    timing = ("seconds", "mb_per_s")
    first, second = ({k: v for k, v in r.to_dict().items() if k not in timing} for r in reports)
    assert first == second


def test_an_earlier_run_is_kept_unless_overwritten(gazetteer, tmp_path):
    annotate_file(HERE / "en.txt", tmp_path, gazetteer, lang="en", dataset="wiki", shard_size=1)
    with pytest.raises(InputError, match="holds the output of an earlier run"):
        annotate_file(HERE / "en.txt", tmp_path, gazetteer, lang="en", dataset="wiki")
    annotate_file(HERE / "en.txt", tmp_path, gazetteer, lang="en", dataset="wiki", overwrite=True)
    # the 4 one-instance shards of the first run are gone; one shard of 4 remains
    assert sorted(p.name for p in tmp_path.iterdir()) == ["coverage.json", "shard-00000.jsonl"]
    assert len(list(read_instances(tmp_path / "shard-00000.jsonl"))) == 4


def test_bad_input_lines_name_file_and_line(gazetteer, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "York"}\n{"text": "York", "lang": ""}\n')
    with pytest.raises(InputError, match=r"in.jsonl:2: lang: expected a non-empty string or no value$"):
        annotate_file(source, tmp_path / "out", gazetteer, lang="en", dataset="t")
    assert not (tmp_path / "out" / "coverage.json").exists()
    source.write_text('{"text": "York"}\n[1]\n')
    with pytest.raises(DataFormatError, match=r"in.jsonl:2: <json>: expected a JSON object$"):
        annotate_file(source, tmp_path / "out2", gazetteer, lang="en", dataset="t")


def test_text_files_are_read_in_blocks_without_losing_lines(gazetteer, tmp_path):
    # Given 5,000 CRLF lines (about 150 KB: several reading blocks), "York" on every 1,000th
    lines = [
        f"York is line {n}." if n % 1000 == 0 else f"filler line {n} without names" for n in range(1, 5001)
    ]
    source = tmp_path / "big.txt"
    source.write_bytes("\r\n".join(lines).encode() + b"\r\n")
    report = annotate_file(source, tmp_path / "out", gazetteer, lang="en", dataset="big")
    # Then line numbers run on across blocks and no line keeps its "\r"
    instances = list(read_instances(tmp_path / "out" / "shard-00000.jsonl"))
    assert [(i.id, i.text, spans(i)) for i in instances] == [
        (f"big-{n:08d}", f"York is line {n}.", [(0, 4, "City", "York")]) for n in range(1000, 5001, 1000)
    ]
    assert (report.sentences_read, report.bytes_read) == (5000, source.stat().st_size)


def test_invalid_utf8_in_a_text_file_names_its_line(gazetteer, tmp_path):
    source = tmp_path / "in.txt"
    source.write_bytes(b"York.\nNew York.\nAda \xff Park\n")
    with pytest.raises(
        DataFormatError, match=r"in.txt:3: <encoding>: not valid UTF-8 \(byte 5 of the line\)$"
    ):
        annotate_file(source, tmp_path / "out", gazetteer, lang="en", dataset="t")


def test_shard_size_must_be_positive(gazetteer, tmp_path):
    with pytest.raises(ConfigError, match=r"^shard_size: must be a positive number of instances, got 0$"):
        annotate_file(HERE / "en.txt", tmp_path, gazetteer, lang="en", dataset="t", shard_size=0)
