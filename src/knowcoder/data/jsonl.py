"""Streaming readers and atomic writers for instance JSONL files.

Readers yield one record at a time, so a file of any size is never held in memory.
Writers go to a temporary file beside the target and rename it into place on success,
so a failure never leaves a half-written output.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from knowcoder.data.instance import Instance
from knowcoder.errors import DataFormatError


def describe_validation_error(error: ValidationError) -> tuple[str, str]:
    """Return ``(field, message)`` for the first problem in a pydantic error."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "<record>"
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = "unknown field (check the spelling against the instance format)"
    elif first["type"] == "json_invalid":
        field = "<json>"
        message = f"not valid JSON ({first.get('ctx', {}).get('error', 'parse error')})"
    return field, message


def parse_instance_line(line: str, *, path: str | Path, lineno: int) -> Instance:
    try:
        return Instance.model_validate_json(line.rstrip("\r\n"))
    except ValidationError as error:
        field, message = describe_validation_error(error)
        raise DataFormatError(message, path=path, line=lineno, field=field) from error


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, object)`` for each non-blank line of a JSON-lines file."""
    for lineno, line in numbered_lines(path):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataFormatError(
                f"not valid JSON ({error.msg} at column {error.colno})",
                path=path,
                line=lineno,
                field="<json>",
            ) from error
        if not isinstance(obj, dict):
            raise DataFormatError(
                f"expected a JSON object, got {type(obj).__name__}", path=path, line=lineno, field="<json>"
            )
        yield lineno, obj


# a JSON array is read in blocks; one element may not exceed this many characters
MAX_ARRAY_ELEMENT_CHARS = 64 * 1024 * 1024
_ARRAY_BLOCK_CHARS = 1 << 20


def iter_json_records(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, object)`` from a JSON-lines file or from one JSON array of objects.

    A file whose first non-blank character is ``[`` is read as an array, element by element in
    blocks, so memory is bounded by the largest element (``MAX_ARRAY_ELEMENT_CHARS``), never by
    the file; the line number is where the element starts. Anything else is JSON lines.
    """
    with open(path, "rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf").lstrip()
    if head.startswith(b"["):
        yield from _iter_json_array(path)
    else:
        yield from iter_jsonl(path)


def _iter_json_array(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    decoder = json.JSONDecoder()
    line = 1  # line number of buffer[0]
    buffer = ""
    position = 0
    at_eof = False
    seen_open = False
    expect_item = True
    with open(path, "rb") as raw:
        reader = _decoded_blocks(raw, path)

        def fill() -> bool:
            nonlocal buffer, position, line, at_eof
            line += buffer.count("\n", 0, position)
            buffer, position = buffer[position:], 0
            block = next(reader, None)
            if block is None:
                at_eof = True
                return False
            buffer += block
            return True

        def skip_space() -> bool:
            """Move past whitespace; False when the file ends first."""
            nonlocal position
            while True:
                while position < len(buffer) and buffer[position] in " \t\r\n\ufeff":
                    position += 1
                if position < len(buffer):
                    return True
                if not fill():
                    return False

        def fail(message: str) -> DataFormatError:
            here = line + buffer.count("\n", 0, position)
            return DataFormatError(message, path=path, line=here, field="<json>")

        while True:
            if not skip_space():
                if not seen_open:
                    raise fail("empty file; expected a JSON array")
                raise fail("the JSON array is not closed with ']'")
            char = buffer[position]
            if not seen_open:
                if char != "[":
                    raise fail(f"expected '[' to open the JSON array, found {char!r}")
                seen_open, position = True, position + 1
                continue
            if char == "]":
                position += 1
                if skip_space():
                    raise fail("unexpected text after the closing ']' of the JSON array")
                return
            if not expect_item:
                if char != ",":
                    raise fail(f"expected ',' or ']' between array elements, found {char!r}")
                position, expect_item = position + 1, True
                continue
            while True:
                try:
                    obj, end = decoder.raw_decode(buffer, position)
                    break
                except json.JSONDecodeError as error:
                    if len(buffer) - position > MAX_ARRAY_ELEMENT_CHARS or not fill():
                        raise fail(f"not valid JSON ({error.msg})") from error
            start_line = line + buffer.count("\n", 0, position)
            if not isinstance(obj, dict):
                raise fail(f"expected a JSON object as array element, got {type(obj).__name__}")
            position, expect_item = end, False
            yield start_line, obj


def _decoded_blocks(raw: IO[bytes], path: str | Path) -> Iterator[str]:
    """UTF-8 text of a binary file in blocks; a bad byte names its line."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    while True:
        block = raw.read(_ARRAY_BLOCK_CHARS)
        try:
            text = decoder.decode(block, final=not block)
        except UnicodeDecodeError as error:
            bad_line = line + block[: error.start].count(b"\n")
            raise DataFormatError(
                "not valid UTF-8 (re-encode the file as UTF-8)", path=path, line=bad_line, field="<encoding>"
            ) from error
        line += block.count(b"\n")
        if text:
            yield text
        if not block:
            return


def read_instances(path: str | Path) -> Iterator[Instance]:
    """Stream the instances of a canonical JSONL file, failing on the first bad line."""
    for _, instance in read_instances_with_lines(path):
        yield instance


def numbered_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Numbered text lines; undecodable bytes become a DataFormatError naming the line."""
    with open(path, "rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            try:
                yield lineno, raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise DataFormatError(
                    f"not valid UTF-8 (byte {error.start + 1} of the line)",
                    path=path,
                    line=lineno,
                    field="<encoding>",
                ) from error


def read_instances_with_lines(path: str | Path) -> Iterator[tuple[int, Instance]]:
    for lineno, line in numbered_lines(path):
        if line.strip():
            yield lineno, parse_instance_line(line, path=path, lineno=lineno)


def current_umask() -> int:
    """The process umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; rename it onto ``path`` only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.chmod(tmp_name, 0o666 & ~current_umask())  # mkstemp makes 0600; outputs follow the umask
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def write_instances(path: str | Path, instances: Iterable[Instance]) -> int:
    """Write instances atomically, one per line; return how many were written."""
    count = 0
    with atomic_open(path) as handle:
        for instance in instances:
            handle.write(instance.to_json())
            handle.write("\n")
            count += 1
    return count


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write plain JSON objects atomically, one per line."""
    count = 0
    with atomic_open(path) as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False))
            handle.write("\n")
            count += 1
    return count
