"""DuEE 1.0 (Baidu LIC 2020 event extraction): ``{"id", "text", "event_list"}`` JSON lines.

Each event is ``{"event_type", "trigger", "trigger_start_index", "arguments": [{"role",
"argument", "argument_start_index", "alias"?}], "class"?}``. The start indices are character
offsets into ``text``, so spans are exact: ``[start, start + len(text))``, checked against the
text (a start that does not point at its text is an error naming the field). One span may fill
several roles, and several events may share a trigger word; both are kept. Roles go through
the ontology's role aliases (加盟者 -> employee). A record without ``event_list`` (a test file)
has ``events`` absent.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from knowcoder.data.importers import ImportContext, expect, register_importer, take
from knowcoder.data.instance import Argument, Event, Instance, Span
from knowcoder.data.jsonl import iter_jsonl
from knowcoder.schema.ontology import Kind


@register_importer("duee")
def import_duee(ctx: ImportContext, /) -> Iterator[Instance]:
    """Stream a DuEE 1.0 JSONL file (character start indices) as event instances."""
    return _read(ctx)


def _read(ctx: ImportContext) -> Iterator[Instance]:
    for n, (line, record) in enumerate(iter_jsonl(ctx.path)):
        ctx.report.records_read += 1
        yield _instance(ctx, n, line, record)


def _span(
    ctx: ImportContext, text: str, item: dict[str, Any], key: str, index_key: str, *, line: int, field: str
) -> tuple[int, int]:
    mention = take(item, key, str, ctx, line=line, field=f"{field}.{key}")
    start = take(item, index_key, int, ctx, line=line, field=f"{field}.{index_key}")
    end = start + len(mention)
    if not mention or start < 0 or end > len(text) or text[start:end] != mention:
        found = text[start:end] if 0 <= start <= len(text) else "<outside the text>"
        raise ctx.error(
            f"{index_key} {start} does not point at {mention!r} (the text there is {found!r})",
            line=line,
            field=f"{field}.{index_key}",
        )
    return start, end


def _instance(ctx: ImportContext, n: int, line: int, record: dict[str, Any]) -> Instance:
    text: str = take(record, "text", str, ctx, line=line, field="text")
    raw_events = take(record, "event_list", list, ctx, line=line, field="event_list", optional=True)
    events: list[Event] | None = None if raw_events is None else []
    for index, item in enumerate(raw_events or []):
        field = f"event_list[{index}]"
        expect(item, dict, ctx, line=line, field=field)
        name = ctx.resolve(item.get("event_type"), Kind.EVENT, line=line, field=f"{field}.event_type")
        start, end = _span(ctx, text, item, "trigger", "trigger_start_index", line=line, field=field)
        raw_args = take(item, "arguments", list, ctx, line=line, field=f"{field}.arguments", optional=True)
        arguments: list[Argument] = []
        for k, arg in enumerate(raw_args or []):
            arg_field = f"{field}.arguments[{k}]"
            expect(arg, dict, ctx, line=line, field=arg_field)
            arg_start, arg_end = _span(
                ctx, text, arg, "argument", "argument_start_index", line=line, field=arg_field
            )
            if name is not None:
                role = ctx.role(name, arg.get("role"), line=line, field=f"{arg_field}.role")
                arguments.append(Argument(start=arg_start, end=arg_end, role=role))
        if name is not None and events is not None:
            events.append(Event(type=name, trigger=Span(start=start, end=end), arguments=arguments))
    return Instance(
        id=ctx.instance_id(n, record.get("id"), line=line),
        dataset=ctx.dataset,
        lang=ctx.lang,
        text=text,
        events=events,
    )
