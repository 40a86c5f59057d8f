"""IEPile (zjunlp): ``{"task", "source", "instruction", "output"}`` JSON lines whose
``instruction`` and ``output`` are themselves JSON strings.

``instruction`` decodes to ``{"instruction", "schema", "input"}``; ``output`` to the answer.
IEPile splits one sentence's schema over several consecutive records (four labels each), so
consecutive records with the same ``input`` are merged into one instance; a label asked with
an empty answer is an annotated "none". Tasks:

- ``NER``: schema ``[label]``; output ``{label: [mention]}``;
- ``RE``: schema ``[relation]``; output ``{relation: [{"head", "tail"}]}`` (argument classes
  unknown: entities get the base class ``Entity``);
- ``SPO``: schema ``[{"subject_type", "predicate", "object_type"}]``; output
  ``{predicate: [{"subject", "object"}]}``;
- ``EE``/``EEA``: output ``{event_type: [{"trigger", "arguments": {role: text | [text] |
  "NAN"}}]}``; ``EET``: output ``{event_type: [trigger]}`` (or objects with ``trigger``).

Other tasks (``KG``) are an error naming the task. Mentions have no offsets and are placed by
``locate``; ``NAN`` means "no argument".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from knowcoder.data.importers import ImportContext, entity_index, expect, register_importer, take
from knowcoder.data.importers.locate import SpanLocator, check_drop_unlocated
from knowcoder.data.instance import Argument, Entity, Event, Instance, Relation, Span
from knowcoder.data.jsonl import iter_jsonl
from knowcoder.schema.ontology import Kind

TASKS = ("NER", "RE", "SPO", "EE", "EEA", "EET")
NO_ARGUMENT = "NAN"
UNTYPED = "Entity"


@dataclass
class _Part:
    task: str
    schema: list[Any]
    output: Any
    line: int


@register_importer("iepile")
def import_iepile(ctx: ImportContext, /, *, drop_unlocated: bool = False) -> Iterator[Instance]:
    """Stream an IEPile JSONL file (instruction/output as JSON strings) as instances."""
    return _read(ctx, check_drop_unlocated(drop_unlocated))


def _read(ctx: ImportContext, drop_unlocated: bool) -> Iterator[Instance]:
    text: str | None = None
    parts: list[_Part] = []
    n = 0
    for line, record in iter_jsonl(ctx.path):
        ctx.report.records_read += 1
        sentence, part = _parse(ctx, line, record)
        if text is not None and sentence != text:
            yield _Builder(ctx, text, parts, drop_unlocated).instance(n)
            n, parts = n + 1, []
        text = sentence
        parts.append(part)
    if text is not None:
        yield _Builder(ctx, text, parts, drop_unlocated).instance(n)


def _json_field(ctx: ImportContext, record: dict[str, Any], key: str, line: int) -> Any:
    raw = take(record, key, str, ctx, line=line, field=key)
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise ctx.error(
            f"is not a JSON string ({error.msg} at character {error.pos})", line=line, field=key
        ) from error


def _parse(ctx: ImportContext, line: int, record: dict[str, Any]) -> tuple[str, _Part]:
    task = take(record, "task", str, ctx, line=line, field="task")
    if task not in TASKS:
        raise ctx.error(
            f"task {task!r} is not supported; supported: {', '.join(TASKS)}", line=line, field="task"
        )
    instruction = expect(
        _json_field(ctx, record, "instruction", line), dict, ctx, line=line, field="instruction"
    )
    text = take(instruction, "input", str, ctx, line=line, field="instruction.input")
    schema = take(instruction, "schema", list, ctx, line=line, field="instruction.schema")
    output = _json_field(ctx, record, "output", line) if record.get("output") is not None else None
    return text, _Part(task=task, schema=schema, output=output, line=line)


class _Builder:
    def __init__(self, ctx: ImportContext, text: str, parts: list[_Part], drop_unlocated: bool) -> None:
        self.ctx, self.text, self.parts = ctx, text, parts
        self.locator = SpanLocator(ctx, text, line=parts[0].line, drop_unlocated=drop_unlocated)
        self.entities: list[Entity] | None = None
        self.relations: list[Relation] | None = None
        self.events: list[Event] | None = None
        self.by_mention: dict[tuple[str, str], int] = {}

    def instance(self, n: int) -> Instance:
        for part in self.parts:
            self.locator.line = part.line
            if part.output is None:
                continue
            answer = expect(part.output, dict, self.ctx, line=part.line, field="output")
            if part.task == "NER":
                self._ner(part, answer)
            elif part.task in ("RE", "SPO"):
                self._relations(part, answer)
            else:
                self._events(part, answer)
        return Instance(
            id=self.ctx.instance_id(n, None, line=self.parts[0].line),
            dataset=self.ctx.dataset,
            lang=self.ctx.lang,
            text=self.text,
            entities=self.entities,
            relations=self.relations,
            events=self.events,
        )

    def _mentions(self, value: Any, line: int, field: str) -> list[str]:
        if isinstance(value, str):
            return [] if value == NO_ARGUMENT else [value]
        values = expect(value, list, self.ctx, line=line, field=field)
        return [expect(v, str, self.ctx, line=line, field=field) for v in values if v != NO_ARGUMENT]

    def _ner(self, part: _Part, answer: dict[str, Any]) -> None:
        if self.entities is None:
            self.entities = []
        for label, value in answer.items():
            field = f"output.{label}"
            name = self.ctx.resolve(label, Kind.ENTITY, line=part.line, field=field)
            for mention in self._mentions(value, part.line, field):
                if name is None:
                    continue
                span = self.locator.locate(mention, name, field)
                if span is not None:
                    self.entities.append(Entity(start=span[0], end=span[1], type=name))

    def _entity(self, mention: Any, type_label: str | None, line: int, field: str) -> int | None:
        mention = expect(mention, str, self.ctx, line=line, field=field)
        name = (
            UNTYPED
            if type_label is None
            else self.ctx.resolve(type_label, Kind.ENTITY, line=line, field=field)
        )
        if name is None:
            return None
        assert self.entities is not None
        for index, entity in enumerate(self.entities):
            if entity.type == name and self.text[entity.start : entity.end] == mention:
                return index
        span = self.locator.locate(mention, f"relation:{name}", field)
        return None if span is None else entity_index(self.entities, span[0], span[1], name)

    def _relations(self, part: _Part, answer: dict[str, Any]) -> None:
        if self.entities is None:
            self.entities = []
        if self.relations is None:
            self.relations = []
        keys = ("subject", "object") if part.task == "SPO" else ("head", "tail")
        types: dict[str, tuple[str, str]] = {}
        if part.task == "SPO":
            for index, item in enumerate(part.schema):
                item = expect(item, dict, self.ctx, line=part.line, field=f"instruction.schema[{index}]")
                types[str(item.get("predicate"))] = (
                    str(item.get("subject_type")),
                    str(item.get("object_type")),
                )
        for label, items in answer.items():
            field = f"output.{label}"
            name, swap = self.ctx.relation(label, line=part.line, field=field)
            for index, item in enumerate(expect(items, list, self.ctx, line=part.line, field=field)):
                item_field = f"{field}[{index}]"
                expect(item, dict, self.ctx, line=part.line, field=item_field)
                head_type, tail_type = types.get(label, (None, None))
                head = self._entity(item.get(keys[0]), head_type, part.line, f"{item_field}.{keys[0]}")
                tail = self._entity(item.get(keys[1]), tail_type, part.line, f"{item_field}.{keys[1]}")
                if name is None:
                    continue
                if head is None or tail is None:
                    self.ctx.report.dropped_orphans += 1
                    continue
                if swap:
                    head, tail = tail, head
                self.relations.append(Relation(type=name, head=head, tail=tail))

    def _events(self, part: _Part, answer: dict[str, Any]) -> None:
        if self.events is None:
            self.events = []
        for label, items in answer.items():
            field = f"output.{label}"
            name = self.ctx.resolve(label, Kind.EVENT, line=part.line, field=field)
            for index, item in enumerate(expect(items, list, self.ctx, line=part.line, field=field)):
                item_field = f"{field}[{index}]"
                trigger = item if isinstance(item, str) else None
                roles: dict[str, Any] = {}
                if trigger is None:
                    expect(item, dict, self.ctx, line=part.line, field=item_field)
                    trigger = take(
                        item, "trigger", str, self.ctx, line=part.line, field=f"{item_field}.trigger"
                    )
                    roles = item.get("arguments") or {}
                    expect(roles, dict, self.ctx, line=part.line, field=f"{item_field}.arguments")
                if name is None:
                    continue
                span = self.locator.locate(trigger, "triggers", f"{item_field}.trigger")
                if span is None:
                    continue
                arguments: list[Argument] = []
                for role_label, value in roles.items():
                    role_field = f"{item_field}.arguments.{role_label}"
                    role = self.ctx.role(name, role_label, line=part.line, field=role_field)
                    for mention in self._mentions(value, part.line, role_field):
                        arg = self.locator.locate(mention, f"event{len(self.events)}:{role}", role_field)
                        if arg is not None:
                            arguments.append(Argument(start=arg[0], end=arg[1], role=role))
                self.events.append(
                    Event(type=name, trigger=Span(start=span[0], end=span[1]), arguments=arguments)
                )
