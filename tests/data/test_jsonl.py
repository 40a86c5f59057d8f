from __future__ import annotations

import os
import stat

import pytest

from knowcoder.data.instance import Instance
from knowcoder.data.jsonl import atomic_open, iter_jsonl, read_instances, write_instances
from knowcoder.errors import DataFormatError

GOOD = (
    '{"id": "a", "dataset": "d", "lang": "en", "text": "Ada", '
    '"entities": [{"start": 0, "end": 3, "type": "Person"}]}'
)


def write(tmp_path, *lines: str | bytes):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"".join((line if isinstance(line, bytes) else line.encode()) + b"\n" for line in lines))
    return path


def test_streams_instances_and_skips_blank_lines(tmp_path):
    path = write(tmp_path, GOOD, "", GOOD.replace('"a"', '"b"'))
    assert [i.id for i in read_instances(path)] == ["a", "b"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            '{"id": "a", "dataset": "d", "lang": "en", "text": 3}',
            "in.jsonl:2: text: Input should be a valid string",
        ),
        (
            '{"id": "a", "dataset": "d", "lang": "en", "text": "x", "entites": []}',
            "in.jsonl:2: entites: unknown field (check the spelling against the instance format)",
        ),
        (
            '{"id": "a", "dataset": "d", "lang": "en", "text": "x", '
            '"entities": [{"start": -1, "end": 1, "type": "P"}]}',
            "in.jsonl:2: entities.0.start: Input should be greater than or equal to 0",
        ),
        (
            '{"id": "a", "text": ',
            "in.jsonl:2: <json>: not valid JSON (EOF while parsing a value at line 1 column 20)",
        ),
    ],
)
def test_bad_line_names_file_line_and_field(tmp_path, line, message):
    path = write(tmp_path, GOOD, line)
    with pytest.raises(DataFormatError) as caught:
        list(read_instances(path))
    assert str(caught.value).endswith(message)


def test_bad_utf8_is_a_data_format_error(tmp_path):
    path = write(tmp_path, GOOD, b'{"id": "\xff"}')
    with pytest.raises(DataFormatError, match=r"in.jsonl:2: <encoding>: not valid UTF-8"):
        list(read_instances(path))
    with pytest.raises(DataFormatError, match=r"in.jsonl:2: <encoding>"):
        list(iter_jsonl(path))


def test_iter_jsonl_rejects_non_objects(tmp_path):
    with pytest.raises(DataFormatError, match=r"in.jsonl:1: <json>: expected a JSON object, got list"):
        list(iter_jsonl(write(tmp_path, "[1, 2]")))


def test_failed_write_leaves_previous_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.jsonl"
    target.write_text("old\n")
    instance = Instance.model_validate_json(GOOD)

    def explode():
        yield instance
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match=r"^disk on fire$"):
        write_instances(target, explode())
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_open(tmp_path / "f.txt") as handle:
            handle.write("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == 0o644
