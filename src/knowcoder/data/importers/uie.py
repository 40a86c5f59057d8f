"""JSON-lines relation and event datasets in the UIE and OneIE layouts.

Both give token offsets. When a record carries its sentence (``text`` for UIE, ``sentence``
for OneIE) the tokens are located in it in order; otherwise the sentence is the tokens joined
by the language's separator. A list the record does not have (no ``relation`` key, say)
stays ``None`` on the instance; entities that a relation names are added to ``entities``.

UIE:   ``{"text"?, "tokens", "entity": [{"type", "offset": [token indices], "text"}],
       "relation": [{"type", "args": [head, tail]}], "event": [{"type", "offset", "text",
       "args": [{"type": role, "offset", "text"}]}]}``; offsets list consecutive indices.
OneIE: ``{"doc_id", "sent_id", "tokens", "sentence"?, "entity_mentions": [{"id",
       "entity_type", "start", "end", "text"}], "relation_mentions": [{"relation_type",
       "arguments": [{"entity_id", "role"}] * 2}], "event_mentions": [{"event_type",
       "trigger": {"start", "end", "text"}, "arguments": [{"entity_id", "role"}]}]}``;
       ``end`` is exclusive. The relation head is the argument with role ``Arg-1`` (the
       first argument when neither role is ``Arg-1``). An event argument whose entity was
       dropped for its label keeps its span and role, with ``type`` left ``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from knowcoder.data.importers import (
    ImportContext,
    check_span_text,
    entity_index,
    expect,
    register_importer,
    take,
    token_offsets,
)
from knowcoder.data.instance import Argument, Entity, Event, Instance, Relation, Span
from knowcoder.data.jsonl import iter_jsonl
from knowcoder.schema.ontology import Kind


@register_importer("uie")
def import_uie(ctx: ImportContext, /) -> Iterator[Instance]:
    """Stream a UIE-style JSONL file (token-index offsets) as instances."""
    return _stream(ctx, _uie_instance)


@register_importer("oneie")
def import_oneie(ctx: ImportContext, /) -> Iterator[Instance]:
    """Stream a OneIE-style JSONL file (token start/end, entity ids) as instances."""
    return _stream(ctx, _oneie_instance)


_Builder = Callable[[ImportContext, int, int, dict[str, Any]], Instance]


def _stream(ctx: ImportContext, build: _Builder) -> Iterator[Instance]:
    for n, (line, record) in enumerate(iter_jsonl(ctx.path)):
        ctx.report.records_read += 1
        yield build(ctx, n, line, record)


def _items(record: dict[str, Any], key: str, ctx: ImportContext, line: int) -> list[dict[str, Any]] | None:
    """The objects of a list field, or ``None`` when the record does not annotate it."""
    values = take(record, key, list, ctx, line=line, field=key, optional=True)
    if values is None:
        return None
    for index, value in enumerate(values):
        expect(value, dict, ctx, line=line, field=f"{key}[{index}]")
    return values


class _Sentence:
    """Token offsets of one record, turned into character spans with clear errors."""

    def __init__(self, ctx: ImportContext, line: int, record: dict[str, Any], text_key: str) -> None:
        self.ctx, self.line = ctx, line
        tokens = take(record, "tokens", list, ctx, line=line, field="tokens")
        given = take(record, text_key, str, ctx, line=line, field=text_key, optional=True)
        self.text, self.offsets = token_offsets(tokens, given, ctx, line=line, field="tokens")

    def indices(self, item: dict[str, Any], field: str) -> tuple[int, int]:
        """Characters covered by a UIE ``offset`` list of consecutive token indices."""
        offset = take(item, "offset", list, self.ctx, line=self.line, field=f"{field}.offset")
        for index in offset:
            expect(index, int, self.ctx, line=self.line, field=f"{field}.offset")
        if not offset or offset != list(range(offset[0], offset[0] + len(offset))):
            raise self.ctx.error(
                f"expected consecutive token indices, got {offset}", line=self.line, field=f"{field}.offset"
            )
        return self._chars(offset[0], offset[-1] + 1, item, field, f"{field}.offset")

    def bounds(self, item: dict[str, Any], field: str) -> tuple[int, int]:
        """Characters covered by OneIE token ``start``/``end`` (end exclusive)."""
        start = take(item, "start", int, self.ctx, line=self.line, field=f"{field}.start")
        end = take(item, "end", int, self.ctx, line=self.line, field=f"{field}.end")
        return self._chars(start, end, item, field, f"{field}.end")

    def _chars(self, first: int, stop: int, item: dict[str, Any], field: str, blame: str) -> tuple[int, int]:
        if not 0 <= first < stop <= len(self.offsets):
            raise self.ctx.error(
                f"token range [{first}, {stop}) is empty or outside the {len(self.offsets)} tokens",
                line=self.line,
                field=blame,
            )
        start, end = self.offsets[first][0], self.offsets[stop - 1][1]
        check_span_text(
            self.ctx, item.get("text"), self.text[start:end], line=self.line, field=f"{field}.text"
        )
        return start, end


def _uie_instance(ctx: ImportContext, n: int, line: int, record: dict[str, Any]) -> Instance:
    sentence = _Sentence(ctx, line, record, "text")
    raw_entities = _items(record, "entity", ctx, line)
    raw_relations = _items(record, "relation", ctx, line)
    raw_events = _items(record, "event", ctx, line)

    entities: list[Entity] | None = None if raw_entities is None and raw_relations is None else []
    for index, item in enumerate(raw_entities or []):
        field = f"entity[{index}]"
        start, end = sentence.indices(item, field)
        name = ctx.resolve(item.get("type"), Kind.ENTITY, line=line, field=f"{field}.type")
        if name is not None and entities is not None:
            entities.append(Entity(start=start, end=end, type=name))

    relations: list[Relation] | None = None if raw_relations is None else []
    for index, item in enumerate(raw_relations or []):
        field = f"relation[{index}]"
        name = ctx.resolve(item.get("type"), Kind.RELATION, line=line, field=f"{field}.type")
        args = take(item, "args", list, ctx, line=line, field=f"{field}.args")
        if len(args) != 2:
            raise ctx.error(
                f"expected 2 arguments (head, tail), got {len(args)}", line=line, field=f"{field}.args"
            )
        ends: list[tuple[int, int, str | None]] = []
        for position, arg in enumerate(args):
            arg_field = f"{field}.args[{position}]"
            expect(arg, dict, ctx, line=line, field=arg_field)
            start, end = sentence.indices(arg, arg_field)
            arg_type = ctx.resolve(arg.get("type"), Kind.ENTITY, line=line, field=f"{arg_field}.type")
            ends.append((start, end, arg_type))
        if name is None or relations is None or entities is None:
            continue
        if any(arg_type is None for _, _, arg_type in ends):
            ctx.report.dropped_orphans += 1
            continue
        head, tail = (entity_index(entities, s, e, str(t)) for s, e, t in ends)
        relations.append(Relation(type=name, head=head, tail=tail))

    events: list[Event] | None = None if raw_events is None else []
    for index, item in enumerate(raw_events or []):
        field = f"event[{index}]"
        start, end = sentence.indices(item, field)
        name = ctx.resolve(item.get("type"), Kind.EVENT, line=line, field=f"{field}.type")
        raw_args = take(item, "args", list, ctx, line=line, field=f"{field}.args", optional=True)
        arguments: list[Argument] = []
        for position, arg in enumerate(raw_args or []):
            arg_field = f"{field}.args[{position}]"
            expect(arg, dict, ctx, line=line, field=arg_field)
            arg_start, arg_end = sentence.indices(arg, arg_field)
            if name is not None:
                role = ctx.role(name, arg.get("type"), line=line, field=f"{arg_field}.type")
                arguments.append(Argument(start=arg_start, end=arg_end, role=role))
        if name is not None and events is not None:
            events.append(Event(type=name, trigger=Span(start=start, end=end), arguments=arguments))

    return Instance(
        id=ctx.instance_id(n, record.get("id"), line=line),
        dataset=ctx.dataset,
        lang=ctx.lang,
        text=sentence.text,
        entities=entities,
        relations=relations,
        events=events,
    )


def _oneie_instance(ctx: ImportContext, n: int, line: int, record: dict[str, Any]) -> Instance:
    sentence = _Sentence(ctx, line, record, "sentence")
    raw_entities = _items(record, "entity_mentions", ctx, line)
    raw_relations = _items(record, "relation_mentions", ctx, line)
    raw_events = _items(record, "event_mentions", ctx, line)

    entities: list[Entity] | None = None if raw_entities is None else []
    # entity id -> (start, end, class or None when dropped, index in entities or None)
    by_id: dict[str, tuple[int, int, str | None, int | None]] = {}
    for index, item in enumerate(raw_entities or []):
        field = f"entity_mentions[{index}]"
        entity_id = take(item, "id", str, ctx, line=line, field=f"{field}.id")
        if entity_id in by_id:
            raise ctx.error(f"duplicate entity id {entity_id!r}", line=line, field=f"{field}.id")
        start, end = sentence.bounds(item, field)
        name = ctx.resolve(item.get("entity_type"), Kind.ENTITY, line=line, field=f"{field}.entity_type")
        position = None
        if name is not None and entities is not None:
            position = len(entities)
            entities.append(Entity(start=start, end=end, type=name))
        by_id[entity_id] = (start, end, name, position)

    def argument(arg: Any, field: str) -> tuple[int, int, str | None, int | None]:
        expect(arg, dict, ctx, line=line, field=field)
        entity_id = take(arg, "entity_id", str, ctx, line=line, field=f"{field}.entity_id")
        if entity_id not in by_id:
            raise ctx.error(
                f"unknown entity id {entity_id!r}; it must be an id in entity_mentions",
                line=line,
                field=f"{field}.entity_id",
            )
        return by_id[entity_id]

    relations: list[Relation] | None = None if raw_relations is None else []
    for index, item in enumerate(raw_relations or []):
        field = f"relation_mentions[{index}]"
        name = ctx.resolve(
            item.get("relation_type"), Kind.RELATION, line=line, field=f"{field}.relation_type"
        )
        args = take(item, "arguments", list, ctx, line=line, field=f"{field}.arguments")
        if len(args) != 2:
            raise ctx.error(f"expected 2 arguments, got {len(args)}", line=line, field=f"{field}.arguments")
        found = [argument(arg, f"{field}.arguments[{k}]") for k, arg in enumerate(args)]
        if str(args[1].get("role", "")).casefold() == "arg-1":
            found.reverse()
        if name is None or relations is None:
            continue
        head, tail = found[0][3], found[1][3]
        if head is None or tail is None:
            ctx.report.dropped_orphans += 1
            continue
        relations.append(Relation(type=name, head=head, tail=tail))

    events: list[Event] | None = None if raw_events is None else []
    for index, item in enumerate(raw_events or []):
        field = f"event_mentions[{index}]"
        trigger = take(item, "trigger", dict, ctx, line=line, field=f"{field}.trigger")
        start, end = sentence.bounds(trigger, f"{field}.trigger")
        name = ctx.resolve(item.get("event_type"), Kind.EVENT, line=line, field=f"{field}.event_type")
        raw_args = take(item, "arguments", list, ctx, line=line, field=f"{field}.arguments", optional=True)
        arguments: list[Argument] = []
        for k, arg in enumerate(raw_args or []):
            arg_field = f"{field}.arguments[{k}]"
            arg_start, arg_end, arg_type, _ = argument(arg, arg_field)
            if name is not None:
                role = ctx.role(name, arg.get("role"), line=line, field=f"{arg_field}.role")
                arguments.append(Argument(start=arg_start, end=arg_end, role=role, type=arg_type))
        if name is not None and events is not None:
            events.append(Event(type=name, trigger=Span(start=start, end=end), arguments=arguments))

    doc_id = record.get("doc_id")
    return Instance(
        id=ctx.instance_id(n, record.get("sent_id"), line=line, field="sent_id"),
        dataset=ctx.dataset,
        lang=ctx.lang,
        text=sentence.text,
        entities=entities,
        relations=relations,
        events=events,
        meta={"doc_id": doc_id} if isinstance(doc_id, str) else None,
    )
