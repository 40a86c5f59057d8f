"""Flatten an instance file into one pandas table per kind of thing the expectations look at.

Every table is indexed by ``row`` (0..n-1), the key Great Expectations reports failing rows by,
and carries ``line``, the input line of the record the row came from, so a failing row maps back
to its record. Columns that need the ontology are computed here; they are ``None`` where the
check does not apply (GX skips missing values), so one fault yields one reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from knowcoder.data.instance import Instance, Span
from knowcoder.data.jsonl import describe_validation_error
from knowcoder.errors import DataFormatError
from knowcoder.schema.ontology import Kind, Ontology

ROW = "row"

_COLUMNS: dict[str, tuple[str, ...]] = {
    "records": ("line", "parsed", "id", "field", "problem"),
    "instances": ("line", "id", "lang", "text", "split"),
    "spans": ("line", "where", "start", "end", "text_len", "given", "covered", "entity_type"),
    "events": ("line", "where", "type"),
    "relations": (
        "line", "where", "type", "head", "tail", "n_entities",
        "head_type", "tail_type", "head_fits", "tail_fits",
    ),
    "arguments": ("line", "where", "event", "event_role", "role", "arg_type", "type_fits"),
}  # fmt: skip


@dataclass(frozen=True)
class Tables:
    """The flattened file: one DataFrame per table name of ``_COLUMNS``."""

    records: pd.DataFrame  # one row per non-blank line, parsed or not
    instances: pd.DataFrame  # one row per line that is a valid Instance
    spans: pd.DataFrame  # entity mentions, event triggers and event arguments
    events: pd.DataFrame
    relations: pd.DataFrame
    arguments: pd.DataFrame  # event arguments, for role and type checks

    def table(self, name: str) -> pd.DataFrame:
        frame: pd.DataFrame = getattr(self, name)
        return frame

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in fields(self))


def iter_lines(path: str | Path) -> Iterator[tuple[int, str, str | None]]:
    """Yield ``(line number, text, encoding problem or None)`` for each non-blank line."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except OSError as error:
        raise DataFormatError(f"cannot read instance file: {error.strerror}", path=path) from error
    with handle:
        for lineno, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            raw = raw.rstrip(b"\r\n")  # so JSON errors point into the line, not past its end
            try:
                # utf-8-sig on the first line: files saved by some editors start with a BOM
                text = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as error:
                problem = f"not valid UTF-8 (byte {raw[error.start]:#04x} at column {error.start + 1})"
                yield lineno, raw.decode("utf-8", errors="replace"), problem
                continue
            yield lineno, text, None


def parse_line(text: str) -> tuple[Instance | None, str | None, str | None]:
    """Return ``(instance, None, None)`` or ``(None, field, message)`` for one JSON line."""
    try:
        return Instance.model_validate_json(text), None, None
    except ValidationError as error:
        field, message = describe_validation_error(error)
        return None, field, message


def record_id(text: str) -> str | None:
    """The ``id`` of a line that is a JSON object with a string id, else ``None``."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        return None
    value = obj.get("id") if isinstance(obj, dict) else None
    return value if isinstance(value, str) else None


class _Builder:
    """Accumulates table rows column by column; DataFrames are built once at the end."""

    def __init__(self, ontology: Ontology) -> None:
        self.ontology = ontology
        self.entity_types = frozenset(ontology.names(Kind.ENTITY))
        self.event_types = frozenset(ontology.names(Kind.EVENT))
        # looked up once per type here instead of once per row: files run to 100k records
        self.signatures = {rel: ontology.relation_signature(rel) for rel in ontology.names(Kind.RELATION)}
        self.role_types = {
            (event, role.name): role.types for event in self.event_types for role in ontology.roles(event)
        }
        self._fits_cache: dict[tuple[tuple[str, ...], str], bool] = {}
        self.columns: dict[str, dict[str, list[Any]]] = {
            name: {col: [] for col in cols} for name, cols in _COLUMNS.items()
        }

    def add(self, table: str, **values: Any) -> None:
        columns = self.columns[table]
        for name, value in values.items():
            columns[name].append(value)

    def add_failure(self, line: int, field: str, problem: str, text: str) -> None:
        self.add("records", line=line, parsed=False, id=record_id(text), field=field, problem=problem)

    def add_instance(self, line: int, inst: Instance) -> None:
        self.add("records", line=line, parsed=True, id=inst.id, field=None, problem=None)
        self.add("instances", line=line, id=inst.id, lang=inst.lang, text=inst.text, split=inst.split)
        entity_types = [entity.type for entity in inst.entities or ()]
        for index, entity in enumerate(inst.entities or ()):
            self._add_span(line, inst, f"entities[{index}]", entity, entity_type=entity.type)
        for index, relation in enumerate(inst.relations or ()):
            self._add_relation(line, f"relations[{index}]", relation.type, relation.head,
                               relation.tail, entity_types)  # fmt: skip
        for index, event in enumerate(inst.events or ()):
            where = f"events[{index}]"
            self.add("events", line=line, where=where, type=event.type)
            self._add_span(line, inst, f"{where}.trigger", event.trigger)
            known_event = event.type if event.type in self.event_types else None
            for arg_index, argument in enumerate(event.arguments):
                arg_where = f"{where}.arguments[{arg_index}]"
                self._add_span(line, inst, arg_where, argument)
                fits = self._argument_fits(known_event, argument.role, argument.type)
                # no event_role for an undefined event: event_type_defined already rejects it
                event_role = None if known_event is None else f"{known_event}.{argument.role}"
                self.add("arguments", line=line, where=arg_where, event=event.type,
                         event_role=event_role, role=argument.role, arg_type=argument.type,
                         type_fits=fits)  # fmt: skip

    def _add_span(
        self, line: int, inst: Instance, where: str, span: Span, entity_type: str | None = None
    ) -> None:
        self.add("spans", line=line, where=where, start=span.start, end=span.end,
                 text_len=len(inst.text), given=span.text, covered=inst.span_text(span),
                 entity_type=entity_type)  # fmt: skip

    def _add_relation(
        self, line: int, where: str, rel_type: str, head: int, tail: int, entity_types: list[str]
    ) -> None:
        n = len(entity_types)
        head_type = entity_types[head] if head < n else None
        tail_type = entity_types[tail] if tail < n else None
        head_fits = tail_fits = None
        if rel_type in self.signatures:
            allowed_heads, allowed_tails = self.signatures[rel_type]
            head_fits = self._fits(allowed_heads, head_type)
            tail_fits = self._fits(allowed_tails, tail_type)
        self.add("relations", line=line, where=where, type=rel_type, head=head, tail=tail,
                 n_entities=n, head_type=head_type, tail_type=tail_type,
                 head_fits=head_fits, tail_fits=tail_fits)  # fmt: skip

    def _fits(self, allowed: tuple[str, ...], entity_type: str | None) -> bool | None:
        # an unknown or missing entity type is reported by its own check, not here
        if entity_type is None or entity_type not in self.entity_types:
            return None
        key = (allowed, entity_type)
        if key not in self._fits_cache:
            self._fits_cache[key] = self.ontology.allows_argument(allowed, entity_type)
        return self._fits_cache[key]

    def _argument_fits(self, event: str | None, role: str, arg_type: str | None) -> bool | None:
        if event is None or arg_type is None:
            return None
        allowed = self.role_types.get((event, role))
        return None if allowed is None else self._fits(allowed, arg_type)

    def build(self) -> Tables:
        frames = {}
        for name, columns in self.columns.items():
            frame = pd.DataFrame(columns, columns=list(columns))
            frame.index = pd.RangeIndex(len(frame), name=ROW)
            frames[name] = frame
        return Tables(**frames)


def read_tables(path: str | Path, ontology: Ontology) -> Tables:
    """Stream an instance file into tables; a bad line becomes a failed ``records`` row, not an error."""
    builder = _Builder(ontology)
    for lineno, text, problem in iter_lines(path):
        if problem is not None:
            builder.add_failure(lineno, "<encoding>", problem, text)
            continue
        instance, field, message = parse_line(text)
        if instance is None:
            builder.add_failure(lineno, field or "<record>", message or "invalid record", text)
        else:
            builder.add_instance(lineno, instance)
    return builder.build()


def split_table(instances: pd.DataFrame, valid_lines: set[int], minimums: dict[str, int]) -> pd.DataFrame:
    """Valid records per split beside each split's minimum (0 where none is set)."""
    kept = instances[instances["line"].isin(valid_lines)]
    counts = kept["split"].dropna().value_counts().to_dict()
    names = [*minimums, *sorted(set(counts) - set(minimums))]
    frame = pd.DataFrame(
        {
            "split": names,
            "count": [int(counts.get(name, 0)) for name in names],
            "minimum": [int(minimums.get(name, 0)) for name in names],
        }
    )
    frame.index = pd.RangeIndex(len(frame), name=ROW)
    return frame
