"""Distant supervision over a cluster: line ranges of the input annotated as separate shards.

``annotate_file`` calls this when it is given workers or a Dask address. The input is cut into
ranges of ``shard_lines`` lines (``knowcoder.corpus.shards``); each range is annotated by the same
code as a single-process run, starting at its own line number, so ids and lines are the same.
The gazetteer is pickled once into the parts folder and loaded once per worker process. Counts
of the ranges are added up (the flags of names that matched are OR-ed), and the lines of the
parts, in range order, go to the same ``shard-NNNNN.jsonl`` writer as a single-process run.
"""

from __future__ import annotations

import base64
import pickle
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knowcoder.corpus import annotate as _annotate
from knowcoder.corpus.gazetteer import Gazetteer
from knowcoder.corpus.shards import LineRange, PartResult, compute_part, job_key, line_ranges, part_lines
from knowcoder.data.jsonl import atomic_open
from knowcoder.distributed import ClusterSpec, map_shards

_GAZETTEER_NAME = "gazetteer.pickle"
_loaded: dict[tuple[str, str], Gazetteer] = {}  # (path, digest) -> gazetteer, per worker process
_COUNTS = (
    "sentences_read",
    "sentences_with_mentions",
    "instances",
    "mentions",
    "ambiguous_spans",
    "relations",
    "bytes_read",
)


@dataclass(frozen=True)
class AnnotateShard:
    """One range of the input and everything a worker needs to annotate it."""

    name: str
    lines: LineRange
    parts_dir: str
    key: str
    gazetteer_path: str
    gazetteer_digest: str
    settings: dict[str, Any]  # lang, dataset, keep_empty, jsonl


def _gazetteer(path: str, digest: str) -> Gazetteer:
    cached = _loaded.get((path, digest))
    if cached is None:
        with open(path, "rb") as handle:
            cached = pickle.load(handle)  # noqa: S301 - written by this run, beside its parts
        _loaded.clear()
        _loaded[(path, digest)] = cached
    return cached


def annotate_part(shard: AnnotateShard) -> PartResult:
    """Annotate one range into its part (skipped when already complete); runs on a worker."""

    def build(writer: Any) -> tuple[int, dict[str, Any]]:
        gazetteer = _gazetteer(shard.gazetteer_path, shard.gazetteer_digest)
        settings = shard.settings
        report = _annotate.CoverageReport()
        batches = _annotate._read_sentences(Path(shard.lines.path), settings["jsonl"], shard.lines)
        labelled = _annotate._label(
            batches, gazetteer, lang=settings["lang"], keep_empty=settings["keep_empty"], report=report
        )
        rows = 0
        for lines in _annotate._json_lines(
            labelled,
            gazetteer,
            lang=settings["lang"],
            dataset=settings["dataset"],
            keep_empty=settings["keep_empty"],
        ):
            writer.write("".join(lines))
            rows += len(lines)
        return rows, _counts(report)

    return compute_part(shard.parts_dir, shard.name, shard.key, build)


def _counts(report: _annotate.CoverageReport) -> dict[str, Any]:
    counts: dict[str, Any] = {name: getattr(report, name) for name in _COUNTS}
    counts["mentions_per_type"] = report.mentions_per_type
    counts["relations_per_type"] = report.relations_per_type
    counts["matched"] = base64.b64encode(zlib.compress(bytes(report.matched))).decode("ascii")
    return counts


def _add(report: _annotate.CoverageReport, counts: dict[str, Any]) -> None:
    for name in _COUNTS:
        setattr(report, name, getattr(report, name) + counts[name])
    for name in ("mentions_per_type", "relations_per_type"):
        total = getattr(report, name)
        for key, value in counts[name].items():
            total[key] = total.get(key, 0) + value
    matched = zlib.decompress(base64.b64decode(counts["matched"]))
    merged = int.from_bytes(report.matched, "little") | int.from_bytes(matched, "little")
    report.matched = bytearray(merged.to_bytes(len(report.matched), "little"))


def annotate_sharded(
    input_path: Path,
    output_dir: Path,
    gazetteer: Gazetteer,
    settings: dict[str, Any],
    shard_lines: int,
    cluster: ClusterSpec,
    report: _annotate.CoverageReport,
) -> Iterator[list[str]]:
    """Annotate every range on the cluster, fill ``report``, then yield the lines in range order."""
    parts_dir = output_dir / _annotate.PARTS_NAME
    pickled = pickle.dumps(gazetteer, protocol=pickle.HIGHEST_PROTOCOL)
    digest = gazetteer.fingerprint()  # the pickle's bytes differ from run to run
    gazetteer_path = parts_dir / _GAZETTEER_NAME
    with atomic_open(gazetteer_path, "wb") as handle:
        handle.write(pickled)
    del pickled
    key = job_key({"settings": settings, "shard_lines": shard_lines, "gazetteer": digest}, [input_path])
    shards = [
        AnnotateShard(f"part-{k:05d}", lines, str(parts_dir), key, str(gazetteer_path), digest, settings)
        for k, lines in enumerate(line_ranges(input_path, shard_lines))
    ]
    results = map_shards(annotate_part, shards, cluster, names=[shard.name for shard in shards])
    report.matched = bytearray(len(gazetteer))
    for result in results:
        _add(report, result.report)
    report.names_total = len(gazetteer)
    report.names_never_matched = report.matched.count(0)
    return _batched(part_lines(parts_dir, results))


def _batched(lines: Iterator[str], size: int = 4096) -> Iterator[list[str]]:
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
