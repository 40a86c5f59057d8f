"""Shards: line ranges that depend only on the input and the size, parts that are reused when whole,
and an output that is the same bytes as reading the input from start to end."""

from __future__ import annotations

import hashlib
import json

import pytest

from knowcoder.corpus.shards import (
    LineRange,
    PartResult,
    assemble,
    check_shard_lines,
    completed_part,
    compute_part,
    job_key,
    line_ranges,
    manifest,
    part_lines,
    part_paths,
    range_lines,
    remove_parts,
)
from knowcoder.errors import ConfigError, InputError

FIVE = b"one\ntwo\n\nfour\nfive"  # the last line has no newline; line 3 is empty


def test_ranges_hold_shard_lines_each_and_the_last_keeps_the_rest(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(FIVE)
    assert line_ranges(path, 2) == [
        LineRange(str(path), 0, 8, 1),
        LineRange(str(path), 8, 14, 3),
        LineRange(str(path), 14, 18, 5),
    ]
    assert line_ranges(path, 5) == [LineRange(str(path), 0, 18, 1)]
    assert line_ranges(path, 100) == [LineRange(str(path), 0, 18, 1)]


@pytest.mark.parametrize("size", [1, 2, 3, 4, 7])
def test_the_lines_of_all_ranges_are_the_file_in_order_with_their_numbers(tmp_path, size):
    path = tmp_path / "in.jsonl"
    path.write_bytes(FIVE)
    lines = [pair for part in line_ranges(path, size) for pair in range_lines(part)]
    assert lines == [(1, b"one\n"), (2, b"two\n"), (3, b"\n"), (4, b"four\n"), (5, b"five")]


def test_an_empty_file_has_no_ranges_and_a_missing_one_names_itself(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert line_ranges(empty, 3) == []
    with pytest.raises(InputError, match=r"missing\.jsonl: cannot read: No such file or directory$"):
        line_ranges(tmp_path / "missing.jsonl", 3)


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "10"])
def test_the_shard_size_must_be_a_positive_count(bad):
    with pytest.raises(ConfigError, match=r"^data\.shard_size: must be a positive number of input lines"):
        check_shard_lines(bad)


def _upper(text: str):
    """A part builder: writes ``text`` upper-cased, one row per line, and counts the calls."""
    calls = []

    def build(writer):
        calls.append(1)
        rows = 0
        for line in text.splitlines(keepends=True):
            writer.write(line.upper())
            rows += 1
        return rows, {"lines": rows}

    return build, calls


def test_a_part_is_written_with_its_record_and_reused_for_the_same_key(tmp_path):
    build, calls = _upper("a\nb\n")
    first = compute_part(tmp_path, "p0", "key-1", build)
    data, record = part_paths(tmp_path, "p0")
    assert data.read_text() == "A\nB\n"
    assert first == PartResult("p0", 2, 4, hashlib.sha256(b"A\nB\n").hexdigest(), {"lines": 2})
    assert json.loads(record.read_text()) == first.record("key-1")
    again = compute_part(tmp_path, "p0", "key-1", build)
    assert again.reused and again.sha256 == first.sha256
    assert len(calls) == 1
    compute_part(tmp_path, "p0", "key-2", build)  # other settings: built again
    assert len(calls) == 2


def test_a_part_whose_file_was_cut_is_not_complete(tmp_path):
    build, _ = _upper("a\nb\n")
    compute_part(tmp_path, "p0", "k", build)
    data, record = part_paths(tmp_path, "p0")
    data.write_text("A\n")
    assert completed_part(tmp_path, "p0", "k") is None
    record.write_text("{broken")
    assert completed_part(tmp_path, "p0", "k") is None


def test_assemble_concatenates_in_shard_order_and_checks_each_part(tmp_path):
    parts = tmp_path / "parts"
    parts.mkdir()
    results = [
        compute_part(parts, name, "k", _upper(text)[0]) for name, text in [("p1", "c\n"), ("p0", "a\nb\n")]
    ]
    ordered = [results[1], results[0]]
    output = tmp_path / "out.jsonl"
    digest = assemble(parts, ordered, output)
    assert output.read_bytes() == b"A\nB\nC\n"
    assert digest == hashlib.sha256(b"A\nB\nC\n").hexdigest()
    assert list(part_lines(parts, ordered)) == ["A\n", "B\n", "C\n"]
    assert manifest(ordered) == [
        {"name": "p0", "rows": 2, "sha256": ordered[0].sha256},
        {"name": "p1", "rows": 1, "sha256": ordered[1].sha256},
    ]
    part_paths(parts, "p1")[0].write_text("X\n")  # same size, other bytes
    with pytest.raises(InputError, match=r"p1\.jsonl: part changed after it was written"):
        assemble(parts, ordered, tmp_path / "again.jsonl")
    with pytest.raises(InputError, match="delete the parts folder and run the stage again"):
        list(part_lines(parts, ordered))
    remove_parts(parts)
    assert not parts.exists()


def test_the_job_key_follows_the_settings_and_the_inputs(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text("a\n")
    key = job_key({"seed": 0}, [path])
    assert len(key) == 24
    assert job_key({"seed": 0}, [path]) == key
    assert job_key({"seed": 1}, [path]) != key
    path.write_text("a\nb\n")
    assert job_key({"seed": 0}, [path]) != key
