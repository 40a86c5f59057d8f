"""Annotation in line ranges: the same lines and counts as one pass over the file, for any range size."""

from __future__ import annotations

import pytest

from knowcoder.corpus.annotate import PARTS_NAME, CoverageReport, annotate_file
from knowcoder.corpus.sharded_annotate import annotate_sharded
from knowcoder.distributed import ClusterSpec

from .conftest import HERE

COUNTS = (
    "sentences_read",
    "sentences_with_mentions",
    "instances",
    "mentions",
    "ambiguous_spans",
    "relations",
)


@pytest.fixture(scope="module")
def single(gazetteer, tmp_path_factory):
    """The lines and report of one in-process pass over en.txt."""
    out = tmp_path_factory.mktemp("single")
    report = annotate_file(HERE / "en.txt", out, gazetteer, lang="en", dataset="t", keep_empty=True)
    lines = [line for path in sorted(out.glob("shard-*.jsonl")) for line in path.read_text().splitlines(True)]
    return lines, report


@pytest.mark.parametrize("shard_lines", [1, 2, 5, 1000])
def test_ranges_give_the_lines_and_counts_of_one_pass(gazetteer, single, tmp_path, shard_lines):
    expected_lines, expected = single
    settings = {"lang": "en", "dataset": "t", "keep_empty": True, "jsonl": False}
    report = CoverageReport()
    batches = annotate_sharded(
        HERE / "en.txt", tmp_path, gazetteer, settings, shard_lines, ClusterSpec(workers=0), report
    )
    assert [line for batch in batches for line in batch] == expected_lines
    assert {name: getattr(report, name) for name in COUNTS} == {
        name: getattr(expected, name) for name in COUNTS
    }
    assert report.mentions_per_type == expected.mentions_per_type
    assert report.relations_per_type == expected.relations_per_type
    assert report.matched == expected.matched  # which names matched, OR-ed over the ranges
    assert (report.names_total, report.names_never_matched) == (
        expected.names_total,
        expected.names_never_matched,
    )


def _run(source, out, gazetteer) -> list[str]:
    settings = {"lang": "en", "dataset": "t", "keep_empty": False, "jsonl": False}
    report = CoverageReport()
    batches = annotate_sharded(source, out, gazetteer, settings, 2, ClusterSpec(workers=0), report)
    return [line for batch in batches for line in batch]


def test_each_range_leaves_a_part_and_its_record_beside_the_pickled_gazetteer(gazetteer, tmp_path):
    lines = _run(HERE / "en.txt", tmp_path, gazetteer)
    names = sorted(p.name for p in (tmp_path / PARTS_NAME).iterdir())
    assert names == [
        "gazetteer.pickle",
        "part-00000.json",
        "part-00000.jsonl",
        "part-00001.json",
        "part-00001.jsonl",
        "part-00002.json",
        "part-00002.jsonl",
    ]  # six lines in ranges of two
    parts = "".join((tmp_path / PARTS_NAME / f"part-{k:05d}.jsonl").read_text() for k in range(3))
    assert parts == "".join(lines)


def test_a_second_run_on_the_same_input_reuses_the_parts(gazetteer, tmp_path):
    first = _run(HERE / "en.txt", tmp_path, gazetteer)
    parts = tmp_path / PARTS_NAME
    stamps = {p.name: p.stat().st_mtime_ns for p in parts.glob("part-*.jsonl")}
    assert _run(HERE / "en.txt", tmp_path, gazetteer) == first
    assert {p.name: p.stat().st_mtime_ns for p in parts.glob("part-*.jsonl")} == stamps  # not written again


def test_the_gazetteer_fingerprint_is_stable_and_follows_its_content(gazetteer, tmp_path):
    import pickle

    again = pickle.loads(pickle.dumps(gazetteer))
    assert gazetteer.fingerprint() == again.fingerprint()  # though the pickles' bytes differ
    from knowcoder.corpus.gazetteer import Gazetteer

    other = Gazetteer(gazetteer.ontology)
    other.add("Ada Park", "Person")
    other.build()
    assert other.fingerprint() != gazetteer.fingerprint()
