"""A plain instruction format: a sentence and its answer, with spans given as text only.

One JSON object per line: ``{"id"?, "text", "answer"}`` where ``answer`` is an object or a
JSON string of one with any of::

    "entities":  [{"type", "text"}]
    "relations": [{"type", "head": {"type", "text"}, "tail": {"type", "text"}}]
    "events":    [{"type", "trigger": "text", "arguments": [{"role", "text", "type"?}]}]

A list the answer lacks stays ``None`` on the instance. Spans are found by text search: each
mention takes the first occurrence that no earlier mention of the same list (entities,
triggers, or one event's arguments) already took. In languages written with spaces an
occurrence on word boundaries wins over one inside a word, so ``Al`` does not land inside
``Alcoa``. A relation's head and tail reuse an entity of the same text and class when there
is one, and are added to ``entities`` otherwise. Text that cannot be placed is an error, or,
with ``drop_unlocated=True``, the mention is dropped and counted in ``dropped_spans``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from knowcoder.data.importers import (
    ImportContext,
    entity_index,
    expect,
    register_importer,
    take,
)
from knowcoder.data.importers.locate import SpanLocator
from knowcoder.data.instance import Argument, Entity, Event, Instance, Relation, Span
from knowcoder.data.jsonl import iter_jsonl
from knowcoder.errors import ConfigError
from knowcoder.schema.ontology import Kind

ANSWER_LISTS = ("entities", "relations", "events")


@register_importer("instruction")
def import_instruction(ctx: ImportContext, /, *, drop_unlocated: bool = False) -> Iterator[Instance]:
    """Stream an instruction-format JSONL file as instances, locating spans by their text."""
    if not isinstance(drop_unlocated, bool):
        raise ConfigError(f"expected true or false, got {drop_unlocated!r}", field="options.drop_unlocated")
    return _read(ctx, drop_unlocated)


def _read(ctx: ImportContext, drop_unlocated: bool) -> Iterator[Instance]:
    for n, (line, record) in enumerate(iter_jsonl(ctx.path)):
        ctx.report.records_read += 1
        yield _Record(ctx, line, record, drop_unlocated).instance(n)


class _Record:
    """One line of the file being turned into an instance."""

    def __init__(self, ctx: ImportContext, line: int, record: dict[str, Any], drop_unlocated: bool) -> None:
        self.ctx, self.line, self.record, self.drop_unlocated = ctx, line, record, drop_unlocated
        self.text: str = take(record, "text", str, ctx, line=line, field="text")
        self.answer = self._answer()
        self.spans = SpanLocator(ctx, self.text, line=line, drop_unlocated=drop_unlocated)

    def _answer(self) -> dict[str, Any]:
        answer = self.record.get("answer")
        if isinstance(answer, str):
            try:
                answer = json.loads(answer)
            except json.JSONDecodeError as error:
                raise self.ctx.error(
                    f"answer string is not valid JSON ({error.msg} at character {error.pos})",
                    line=self.line,
                    field="answer",
                ) from error
        answer = take({"answer": answer}, "answer", dict, self.ctx, line=self.line, field="answer")
        for key in answer:
            if key not in ANSWER_LISTS:
                raise self.ctx.error(
                    f"unknown key {key!r}; an answer holds {', '.join(ANSWER_LISTS)}",
                    line=self.line,
                    field=f"answer.{key}",
                )
        return answer

    def _list(self, key: str) -> list[dict[str, Any]] | None:
        items = take(self.answer, key, list, self.ctx, line=self.line, field=f"answer.{key}", optional=True)
        for index, item in enumerate(items or []):
            expect(item, dict, self.ctx, line=self.line, field=f"answer.{key}[{index}]")
        return items

    def locate(self, raw: object, used_by: str, field: str) -> tuple[int, int] | None:
        """The first free occurrence of mention text ``raw`` for the list ``used_by``; ``None`` if dropped."""
        return self.spans.locate(raw, used_by, field)

    def instance(self, n: int) -> Instance:
        ctx, line = self.ctx, self.line
        raw_entities, raw_relations, raw_events = (self._list(key) for key in ANSWER_LISTS)
        entities: list[Entity] | None = None if raw_entities is None and raw_relations is None else []
        for index, item in enumerate(raw_entities or []):
            field = f"answer.entities[{index}]"
            name = ctx.resolve(item.get("type"), Kind.ENTITY, line=line, field=f"{field}.type")
            span = self.locate(item.get("text"), "entities", f"{field}.text") if name else None
            if name is not None and span is not None and entities is not None:
                entities.append(Entity(start=span[0], end=span[1], type=name))

        relations: list[Relation] | None = None if raw_relations is None else []
        for index, item in enumerate(raw_relations or []):
            field = f"answer.relations[{index}]"
            name = ctx.resolve(item.get("type"), Kind.RELATION, line=line, field=f"{field}.type")
            ends = [self._relation_end(item, key, f"{field}.{key}") for key in ("head", "tail")]
            if name is None or relations is None or entities is None:
                continue
            if any(end_type is None for end_type, _, _ in ends):
                ctx.report.dropped_orphans += 1
                continue
            head, tail = (self._entity_for(*end, entities) for end in ends)
            if head is not None and tail is not None:
                relations.append(Relation(type=name, head=head, tail=tail))

        events: list[Event] | None = None if raw_events is None else []
        for index, item in enumerate(raw_events or []):
            event = self._event(item, f"answer.events[{index}]", index)
            if event is not None and events is not None:
                events.append(event)

        return Instance(
            id=ctx.instance_id(n, self.record.get("id"), line=line),
            dataset=ctx.dataset,
            lang=ctx.lang,
            text=self.text,
            entities=entities,
            relations=relations,
            events=events,
        )

    def _relation_end(self, item: dict[str, Any], key: str, field: str) -> tuple[str | None, str, str]:
        """``(class or None when dropped, text, field)`` of a relation's head or tail."""
        end = take(item, key, dict, self.ctx, line=self.line, field=field)
        name = self.ctx.resolve(end.get("type"), Kind.ENTITY, line=self.line, field=f"{field}.type")
        mention: str = take(end, "text", str, self.ctx, line=self.line, field=f"{field}.text")
        return name, mention, f"{field}.text"

    def _entity_for(self, name: str | None, mention: str, field: str, entities: list[Entity]) -> int | None:
        """Index of the entity a relation end names, added when new; ``None`` if unlocated."""
        for index, entity in enumerate(entities):
            if entity.type == name and self.text[entity.start : entity.end] == mention:
                return index
        span = self.locate(mention, "entities", field)
        return None if span is None else entity_index(entities, span[0], span[1], str(name))

    def _event(self, item: dict[str, Any], field: str, index: int) -> Event | None:
        name = self.ctx.resolve(item.get("type"), Kind.EVENT, line=self.line, field=f"{field}.type")
        raw_args = take(
            item, "arguments", list, self.ctx, line=self.line, field=f"{field}.arguments", optional=True
        )
        if name is None:
            return None
        trigger = self.locate(item.get("trigger"), "triggers", f"{field}.trigger")
        if trigger is None:
            return None
        arguments: list[Argument] = []
        for position, arg in enumerate(raw_args or []):
            arg_field = f"{field}.arguments[{position}]"
            expect(arg, dict, self.ctx, line=self.line, field=arg_field)
            role = self.ctx.role(name, arg.get("role"), line=self.line, field=f"{arg_field}.role")
            arg_type = None
            if arg.get("type") is not None:
                # an unmapped argument class loses only the class; span and role still hold
                arg_type = self.ctx.resolve(
                    arg["type"], Kind.ENTITY, line=self.line, field=f"{arg_field}.type"
                )
            span = self.locate(arg.get("text"), f"events[{index}].arguments", f"{arg_field}.text")
            if span is not None:
                arguments.append(Argument(start=span[0], end=span[1], role=role, type=arg_type))
        return Event(type=name, trigger=Span(start=trigger[0], end=trigger[1]), arguments=arguments)
