"""Parallel instance pairs for KnowCoder-X's translated instance prediction.

A pair holds one sentence in two languages with aligned annotations: entity ``i`` of the
source is the translation of entity ``i`` of the target, and relation ``i`` / event ``i``
likewise, with the same types, heads, tails and argument roles. Only the spans differ. The
alignment is checked when a pair is built, so a model never learns from a mismatched pair.

JSONL layout, one pair per line::

    {"id": "parallel-0000", "source": {<instance>}, "target": {<instance>}}
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from knowcoder.data.instance import Event, Instance
from knowcoder.data.jsonl import atomic_open, describe_validation_error
from knowcoder.errors import DataFormatError

_ALIGNMENT_HINT = "item i of the source must be the translation of item i of the target, with the same type"


class AlignmentError(ValueError):
    """Source and target annotations of a pair do not correspond index by index."""

    def __init__(self, pair_id: str, field: str, detail: str) -> None:
        self.pair_id = pair_id
        self.field = field
        self.detail = detail
        super().__init__(f"pair {pair_id!r}: {field}: {detail}; {_ALIGNMENT_HINT}")

    def without_field(self) -> str:
        return f"pair {self.pair_id!r}: {self.detail}; {_ALIGNMENT_HINT}"


class ParallelPair(BaseModel):
    """One sentence and its translation, with index-aligned annotations."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    source: Instance
    target: Instance

    @model_validator(mode="after")
    def _check_alignment(self) -> ParallelPair:
        check_alignment(self.id, self.source, self.target)
        return self

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=True)


def check_alignment(pair_id: str, source: Instance, target: Instance) -> None:
    """Raise ``AlignmentError`` naming the first index where source and target disagree."""
    for name in ("entities", "relations", "events"):
        src, tgt = getattr(source, name), getattr(target, name)
        if (src is None) != (tgt is None):
            missing = "source" if src is None else "target"
            raise AlignmentError(pair_id, name, f"annotated on one side only (absent in the {missing})")
        if src is not None and len(src) != len(tgt):
            raise AlignmentError(pair_id, name, f"{len(src)} in the source but {len(tgt)} in the target")
    # lengths are equal from here on, so strict zips cannot fail
    entity_pairs = zip(source.entities or (), target.entities or (), strict=True)
    for index, (s_ent, t_ent) in enumerate(entity_pairs):
        _same(pair_id, f"entities.{index}", "type", s_ent.type, t_ent.type)
    relation_pairs = zip(source.relations or (), target.relations or (), strict=True)
    for index, (s_rel, t_rel) in enumerate(relation_pairs):
        s_key, t_key = (s_rel.type, s_rel.head, s_rel.tail), (t_rel.type, t_rel.head, t_rel.tail)
        _same(pair_id, f"relations.{index}", "(type, head, tail)", s_key, t_key)
    for index, (s_ev, t_ev) in enumerate(zip(source.events or (), target.events or (), strict=True)):
        _check_event(pair_id, f"events.{index}", s_ev, t_ev)


def _same(pair_id: str, field: str, what: str, source: object, target: object) -> None:
    if source != target:
        raise AlignmentError(
            pair_id, field, f"{what} is {source!r} in the source but {target!r} in the target"
        )


def _check_event(pair_id: str, where: str, source: Event, target: Event) -> None:
    _same(pair_id, where, "type", source.type, target.type)
    _same(pair_id, f"{where}.arguments", "the count", len(source.arguments), len(target.arguments))
    for index, (s_arg, t_arg) in enumerate(zip(source.arguments, target.arguments, strict=True)):
        _same(
            pair_id,
            f"{where}.arguments.{index}",
            "(role, type)",
            (s_arg.role, s_arg.type),
            (t_arg.role, t_arg.type),
        )


def _alignment_error(error: ValidationError) -> AlignmentError | None:
    for detail in error.errors():
        cause = (detail.get("ctx") or {}).get("error")
        if isinstance(cause, AlignmentError):
            return cause
    return None


def parse_pair_line(line: str, *, path: str | Path, lineno: int) -> ParallelPair:
    """Parse one JSONL line into a pair; a bad line raises ``DataFormatError`` at ``path:lineno``."""
    try:
        return ParallelPair.model_validate_json(line)
    except ValidationError as error:
        aligned = _alignment_error(error)
        if aligned is not None:
            message, field = aligned.without_field(), aligned.field
            raise DataFormatError(message, path=path, line=lineno, field=field) from error
        field, message = describe_validation_error(error)
        raise DataFormatError(message, path=path, line=lineno, field=field) from error


def read_pairs(path: str | Path) -> Iterator[ParallelPair]:
    """Stream the pairs of a parallel JSONL file, failing on the first bad line."""
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if line.strip():
                yield parse_pair_line(line, path=path, lineno=lineno)


def write_pairs(path: str | Path, pairs: Iterable[ParallelPair]) -> int:
    """Write pairs atomically, one per line; return how many were written."""
    count = 0
    with atomic_open(path) as handle:
        for pair in pairs:
            handle.write(pair.to_json())
            handle.write("\n")
            count += 1
    return count
