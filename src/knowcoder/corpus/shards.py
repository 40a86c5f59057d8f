"""Shards of a data stage: fixed line ranges of the inputs, one part file each, assembled in order.

A data stage cuts its inputs into shards of ``shard_lines`` input lines (the last shard of a file
is shorter), so the cut depends on the inputs and the shard size only, never on how many workers
run them. Each shard writes ``<parts>/<name>.jsonl`` atomically, then its record
``<parts>/<name>.json`` (name, rows, bytes, sha256, the job key and the shard's report), also
atomically: a shard whose record exists with the same job key and size is complete and is not
computed again. The output is the parts concatenated in shard order, each part's sha256 checked
on the way; so the output bytes are those of one process reading the inputs from start to end.

Nothing here imports Prefect or Dask: ``knowcoder.distributed`` runs ``compute_part`` wherever the
shards go.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from knowcoder.data.jsonl import atomic_open
from knowcoder.errors import ConfigError, InputError

_SCAN_BLOCK = 1 << 22  # bytes read at once when cutting a file into line ranges
_COPY_BLOCK = 1 << 20
#: ``<shard name>:<marker file>``: the shard's process exits at its first attempt (fault drills)
FAULT_ENV = "KNOWCODER_SHARD_FAULT"


@dataclass(frozen=True)
class LineRange:
    """Lines ``first_line`` (1-based) and on of ``path``, from byte ``start`` up to byte ``end``."""

    path: str
    start: int
    end: int
    first_line: int


def check_shard_lines(value: Any, field: str = "data.shard_size") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"must be a positive number of input lines, got {value!r}", field=field)
    return value


def line_ranges(path: str | Path, shard_lines: int) -> list[LineRange]:
    """Cut a file into ranges of ``shard_lines`` lines (a last line without newline counts)."""
    check_shard_lines(shard_lines)
    ranges: list[LineRange] = []
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except OSError as error:
        raise InputError(f"cannot read: {error.strerror}", path=path) from error
    with handle:
        start = offset = 0  # byte where the current range starts; bytes scanned so far
        lines = 0  # complete lines in the current range
        first_line = 1
        while block := handle.read(_SCAN_BLOCK):
            at = 0
            while True:
                wanted = shard_lines - lines  # newlines still needed to close the range
                count = block.count(b"\n", at)
                if count < wanted:
                    lines += count
                    break
                for _ in range(wanted):
                    at = block.index(b"\n", at) + 1
                end = offset + at
                ranges.append(LineRange(str(path), start, end, first_line))
                start, lines, first_line = end, 0, first_line + shard_lines
            offset += len(block)
        if offset > start:
            ranges.append(LineRange(str(path), start, offset, first_line))
    return ranges


class BoundedReader:
    """A binary file seen from ``start`` to ``end`` only: ``read``, ``readline`` and iteration."""

    def __init__(self, handle: IO[bytes], start: int, end: int) -> None:
        handle.seek(start)
        self._handle = handle
        self._left = end - start

    def read(self, size: int = -1) -> bytes:
        size = self._left if size < 0 else min(size, self._left)
        data = self._handle.read(size)
        self._left -= len(data)
        return data

    def readline(self) -> bytes:
        if self._left <= 0:
            return b""
        line = self._handle.readline(self._left)
        self._left -= len(line)
        return line

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line


def range_lines(part: LineRange) -> Iterator[tuple[int, bytes]]:
    """``(line number, raw line)`` of each line of a range."""
    with open(part.path, "rb") as handle:
        yield from enumerate(BoundedReader(handle, part.start, part.end), start=part.first_line)


# ---- parts and their records -------------------------------------------------------------------
@dataclass(frozen=True)
class PartResult:
    """What one shard wrote: its record (``name``, ``rows``, ``bytes``, ``sha256``, ``report``)."""

    name: str
    rows: int
    bytes: int
    sha256: str
    report: dict[str, Any]
    reused: bool = False

    def record(self, key: str) -> dict[str, Any]:
        return {
            "name": self.name,
            "rows": self.rows,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "key": key,
            "report": self.report,
        }


class _HashingWriter:
    """Counts and hashes what goes through to the file."""

    def __init__(self, handle: IO[str]) -> None:
        self._handle = handle
        self.digest = hashlib.sha256()
        self.bytes = 0

    def write(self, text: str) -> None:
        data = text.encode("utf-8")
        self.digest.update(data)
        self.bytes += len(data)
        self._handle.write(text)


#: writes a shard's lines to the writer; returns (rows, report)
PartBuilder = Callable[[_HashingWriter], tuple[int, dict[str, Any]]]


def part_paths(parts_dir: str | Path, name: str) -> tuple[Path, Path]:
    parts_dir = Path(parts_dir)
    return parts_dir / f"{name}.jsonl", parts_dir / f"{name}.json"


def completed_part(parts_dir: str | Path, name: str, key: str) -> PartResult | None:
    """The record of a shard finished for this job key whose file is still whole, else None."""
    data_path, record_path = part_paths(parts_dir, name)
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        size = data_path.stat().st_size
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("key") != key or record.get("bytes") != size:
        return None
    return PartResult(record["name"], record["rows"], size, record["sha256"], record["report"], reused=True)


def compute_part(parts_dir: str | Path, name: str, key: str, build: PartBuilder) -> PartResult:
    """Write one shard's part and record atomically, unless it is already complete for ``key``."""
    done = completed_part(parts_dir, name, key)
    if done is not None:
        return done
    _fault_drill(name)
    data_path, record_path = part_paths(parts_dir, name)
    with atomic_open(data_path) as handle:
        writer = _HashingWriter(handle)
        rows, report = build(writer)
    result = PartResult(name, rows, writer.bytes, writer.digest.hexdigest(), report)
    with atomic_open(record_path) as handle:
        json.dump(result.record(key), handle, ensure_ascii=False)
    return result


def _fault_drill(name: str) -> None:
    """Exit the process at the first attempt of the shard named in ``FAULT_ENV`` (once per marker)."""
    spec = os.environ.get(FAULT_ENV)
    if not spec or ":" not in spec:
        return
    target, marker = spec.split(":", 1)
    if target != name:
        return
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return  # the first attempt already died; this is the retry
    os.write(fd, f"{name} {os.getpid()}\n".encode())
    os.close(fd)
    os._exit(17)


def part_lines(parts_dir: str | Path, results: Sequence[PartResult]) -> Iterator[str]:
    """The lines of the parts in shard order, each part's sha256 checked as it is read."""
    for result in results:
        data_path, _ = part_paths(parts_dir, result.name)
        digest = hashlib.sha256()
        with open(data_path, "rb") as handle:
            for raw in handle:
                digest.update(raw)
                yield raw.decode("utf-8")
        _check_digest(data_path, result, digest.hexdigest())


def assemble(parts_dir: str | Path, results: Sequence[PartResult], output: str | Path) -> str:
    """Concatenate the parts in shard order into ``output`` (atomically), checking each sha256;
    return the output's sha256."""
    whole = hashlib.sha256()
    with atomic_open(output, "wb") as out:
        for result in results:
            data_path, _ = part_paths(parts_dir, result.name)
            digest = hashlib.sha256()
            with open(data_path, "rb") as handle:
                while block := handle.read(_COPY_BLOCK):
                    digest.update(block)
                    whole.update(block)
                    out.write(block)
            _check_digest(data_path, result, digest.hexdigest())
    return whole.hexdigest()


def _check_digest(path: Path, result: PartResult, digest: str) -> None:
    if digest != result.sha256:
        raise InputError(
            f"part changed after it was written (sha256 {digest[:12]}, recorded {result.sha256[:12]}); "
            "delete the parts folder and run the stage again",
            path=path,
        )


def manifest(results: Iterable[PartResult]) -> list[dict[str, Any]]:
    """``[{name, rows, sha256}]`` in shard order."""
    return [{"name": r.name, "rows": r.rows, "sha256": r.sha256} for r in results]


def job_key(payload: Any, inputs: Iterable[str | Path]) -> str:
    """Hash of what decides a stage's parts: its settings and each input's path, size and mtime."""
    stats = []
    for path in inputs:
        stat = os.stat(path)
        stats.append([str(path), stat.st_size, stat.st_mtime_ns])
    text = json.dumps({"payload": payload, "inputs": stats}, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def remove_parts(parts_dir: str | Path) -> None:
    shutil.rmtree(parts_dir, ignore_errors=True)
