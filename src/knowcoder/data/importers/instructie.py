"""InstructIE (zjunlp, KG2Instruction): ``{"id", "cate", "text", "relation"}`` JSON lines.

``relation`` is a list of ``{"head", "head_type", "relation", "tail", "tail_type"}`` with
text only, so spans are placed by ``locate`` (first free occurrence, word boundaries first in
spaced languages); an entity of the same text and class is reused across triples. The domain
``cate`` is kept in ``meta``. A record without ``relation`` (an unlabelled file) has neither
entities nor relations. Relation aliases marked ``swap: true`` reverse head and tail.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from knowcoder.data.importers import ImportContext, expect, register_importer, take
from knowcoder.data.importers.locate import SpanLocator, check_drop_unlocated
from knowcoder.data.instance import Entity, Instance, Relation
from knowcoder.data.jsonl import iter_jsonl
from knowcoder.schema.ontology import Kind


@register_importer("instructie")
def import_instructie(ctx: ImportContext, /, *, drop_unlocated: bool = False) -> Iterator[Instance]:
    """Stream an InstructIE JSONL file as RE instances, locating spans by their text."""
    return _read(ctx, check_drop_unlocated(drop_unlocated))


def _read(ctx: ImportContext, drop_unlocated: bool) -> Iterator[Instance]:
    for n, (line, record) in enumerate(iter_jsonl(ctx.path)):
        ctx.report.records_read += 1
        yield _instance(ctx, n, line, record, drop_unlocated)


def _instance(
    ctx: ImportContext, n: int, line: int, record: dict[str, Any], drop_unlocated: bool
) -> Instance:
    text: str = take(record, "text", str, ctx, line=line, field="text")
    triples = take(record, "relation", list, ctx, line=line, field="relation", optional=True)
    locator = SpanLocator(ctx, text, line=line, drop_unlocated=drop_unlocated)
    entities: list[Entity] = []
    by_mention: dict[tuple[str, str], int] = {}

    def entity(item: dict[str, Any], key: str, field: str) -> int | None:
        mention = take(item, key, str, ctx, line=line, field=f"{field}.{key}")
        name = ctx.resolve(item.get(f"{key}_type"), Kind.ENTITY, line=line, field=f"{field}.{key}_type")
        if name is None:
            return None
        if (mention, name) not in by_mention:
            span = locator.locate(mention, name, f"{field}.{key}")
            if span is None:
                return None
            by_mention[(mention, name)] = len(entities)
            entities.append(Entity(start=span[0], end=span[1], type=name))
        return by_mention[(mention, name)]

    relations: list[Relation] | None = None if triples is None else []
    for index, item in enumerate(triples or []):
        field = f"relation[{index}]"
        expect(item, dict, ctx, line=line, field=field)
        name, swap = ctx.relation(item.get("relation"), line=line, field=f"{field}.relation")
        head, tail = entity(item, "head", field), entity(item, "tail", field)
        if name is None or relations is None:
            continue
        if head is None or tail is None:
            ctx.report.dropped_orphans += 1
            continue
        if swap:
            head, tail = tail, head
        relations.append(Relation(type=name, head=head, tail=tail))
    cate = record.get("cate")
    return Instance(
        id=ctx.instance_id(n, record.get("id"), line=line),
        dataset=ctx.dataset,
        lang=ctx.lang,
        text=text,
        entities=None if triples is None else entities,
        relations=relations,
        meta={"cate": cate} if isinstance(cate, str) else None,
    )
