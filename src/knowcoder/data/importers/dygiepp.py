"""DyGIE++ documents: ``{"doc_key", "sentences", "ner", "relations", "events"?}`` JSON lines.

One line is a whole document: ``sentences`` is a list of token lists, and every annotation
list has one entry per sentence. Token indices count from the start of the *document* and
end indices are *inclusive*: ``[3, 5, "PER"]`` covers document tokens 3, 4 and 5.

- ``ner``: ``[[start, end, label], ...]`` per sentence;
- ``relations``: ``[[head_start, head_end, tail_start, tail_end, label], ...]`` per sentence;
  each end must be a span of that sentence's ``ner`` (the first entity with those bounds);
- ``events``: ``[[[trigger_token, event_type], [start, end, role], ...], ...]`` per sentence;
  an argument takes the class of a ``ner`` span with the same bounds when there is one.

Each sentence becomes one instance ``{doc_key}-{i}``, its text the tokens joined by the
language's separator. A key the document lacks leaves that list absent on every instance.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from knowcoder.data.importers import ImportContext, expect, register_importer, take, token_offsets
from knowcoder.data.instance import Argument, Entity, Event, Instance, Relation, Span
from knowcoder.data.jsonl import iter_jsonl
from knowcoder.schema.ontology import Kind

_LISTS = ("ner", "relations", "events")


@register_importer("dygiepp")
def import_dygiepp(ctx: ImportContext, /) -> Iterator[Instance]:
    """Stream a DyGIE++ JSONL file (one document a line) as one instance per sentence."""
    return _read(ctx)


def _read(ctx: ImportContext) -> Iterator[Instance]:
    for line, record in iter_jsonl(ctx.path):
        ctx.report.records_read += 1
        yield from _Document(ctx, line, record).instances()


class _Document:
    def __init__(self, ctx: ImportContext, line: int, record: dict[str, Any]) -> None:
        self.ctx, self.line, self.record = ctx, line, record
        self.doc_key = take(record, "doc_key", str, ctx, line=line, field="doc_key")
        self.sentences: list[Any] = take(record, "sentences", list, ctx, line=line, field="sentences")
        self.lists: dict[str, list[Any] | None] = {}
        for key in _LISTS:
            value = take(record, key, list, ctx, line=line, field=key, optional=True)
            if value is not None and len(value) != len(self.sentences):
                raise ctx.error(
                    f"has {len(value)} entries for {len(self.sentences)} sentences; "
                    "it needs one list per sentence",
                    line=line,
                    field=key,
                )
            self.lists[key] = value

    def _int(self, value: Any, field: str) -> int:
        return expect(value, int, self.ctx, line=self.line, field=field)

    def instances(self) -> Iterator[Instance]:
        first = 0  # document index of the sentence's first token
        for number, tokens in enumerate(self.sentences):
            expect(tokens, list, self.ctx, line=self.line, field=f"sentences[{number}]")
            yield self._sentence(number, tokens, first)
            first += len(tokens)

    def _chars(
        self, start: Any, end: Any, first: int, offsets: list[tuple[int, int]], field: str
    ) -> tuple[int, int]:
        """Characters of document tokens ``start..end`` (inclusive) within this sentence."""
        start, end = self._int(start, field), self._int(end, field)
        if not first <= start <= end < first + len(offsets):
            raise self.ctx.error(
                f"token span [{start}, {end}] is not inside this sentence's tokens "
                f"[{first}, {first + len(offsets) - 1}] (indices count from the document start, "
                "ends inclusive)",
                line=self.line,
                field=field,
            )
        return offsets[start - first][0], offsets[end - first][1]

    def _sentence(self, number: int, tokens: list[Any], first: int) -> Instance:
        ctx, line = self.ctx, self.line
        text, offsets = token_offsets(tokens, None, ctx, line=line, field=f"sentences[{number}]")
        ner, rels, evs = (self.lists[key] for key in _LISTS)

        entities: list[Entity] | None = None if ner is None and rels is None else []
        by_bounds: dict[tuple[int, int], int | None] = {}  # char span -> entity index (None: dropped)
        for k, item in enumerate((ner[number] if ner is not None else None) or []):
            field = f"ner[{number}][{k}]"
            expect(item, list, ctx, line=line, field=field)
            if len(item) != 3:
                raise ctx.error(f"expected [start, end, label], got {item!r}", line=line, field=field)
            start, end = self._chars(item[0], item[1], first, offsets, field)
            name = ctx.resolve(item[2], Kind.ENTITY, line=line, field=f"{field}[2]")
            if name is None or entities is None:
                by_bounds.setdefault((start, end), None)
                continue
            by_bounds.setdefault((start, end), len(entities))
            entities.append(Entity(start=start, end=end, type=name))

        relations: list[Relation] | None = None if rels is None else []
        for k, item in enumerate((rels[number] if rels is not None else None) or []):
            field = f"relations[{number}][{k}]"
            expect(item, list, ctx, line=line, field=field)
            if len(item) != 5:
                raise ctx.error(
                    f"expected [head_start, head_end, tail_start, tail_end, label], got {item!r}",
                    line=line,
                    field=field,
                )
            name, swap = ctx.relation(item[4], line=line, field=f"{field}[4]")
            ends = []
            for position, (a, b) in enumerate(((item[0], item[1]), (item[2], item[3]))):
                bounds = self._chars(a, b, first, offsets, field)
                if bounds not in by_bounds:
                    raise ctx.error(
                        f"{'head' if position == 0 else 'tail'} [{a}, {b}] is not a span in this "
                        "sentence's ner list",
                        line=line,
                        field=field,
                    )
                ends.append(by_bounds[bounds])
            if name is None or relations is None:
                continue
            head, tail = ends
            if head is None or tail is None:
                ctx.report.dropped_orphans += 1
                continue
            if swap:
                head, tail = tail, head
            relations.append(Relation(type=name, head=head, tail=tail))

        events: list[Event] | None = None if evs is None else []
        for k, item in enumerate((evs[number] if evs is not None else None) or []):
            field = f"events[{number}][{k}]"
            expect(item, list, ctx, line=line, field=field)
            if not item or not isinstance(item[0], list) or len(item[0]) != 2:
                raise ctx.error(
                    f"expected [[trigger_token, event_type], [start, end, role], ...], got {item!r}",
                    line=line,
                    field=field,
                )
            start, end = self._chars(item[0][0], item[0][0], first, offsets, f"{field}[0]")
            name = ctx.resolve(item[0][1], Kind.EVENT, line=line, field=f"{field}[0][1]")
            arguments: list[Argument] = []
            for position, arg in enumerate(item[1:], start=1):
                arg_field = f"{field}[{position}]"
                expect(arg, list, ctx, line=line, field=arg_field)
                if len(arg) != 3:
                    raise ctx.error(f"expected [start, end, role], got {arg!r}", line=line, field=arg_field)
                arg_start, arg_end = self._chars(arg[0], arg[1], first, offsets, arg_field)
                if name is None:
                    continue
                role = ctx.role(name, arg[2], line=line, field=f"{arg_field}[2]")
                index = by_bounds.get((arg_start, arg_end))
                arg_type = entities[index].type if entities is not None and index is not None else None
                arguments.append(Argument(start=arg_start, end=arg_end, role=role, type=arg_type))
            if name is not None and events is not None:
                events.append(Event(type=name, trigger=Span(start=start, end=end), arguments=arguments))

        return Instance(
            id=f"{self.doc_key}-{number}",
            dataset=ctx.dataset,
            lang=ctx.lang,
            text=text,
            entities=entities,
            relations=relations,
            events=events,
            meta={"doc_key": self.doc_key},
        )
