"""DuIE 2.0 (Baidu LIC 2020 relation extraction): ``{"text", "spo_list"}`` JSON lines.

Each triple is ``{"predicate", "subject", "subject_type", "object", "object_type"}``. In 2.0
``object`` and ``object_type`` are objects: ``{"@value": main value, slot: extra value}`` (a
plain string in 1.0 files is read as ``{"@value": ...}``). The main value gives the relation
``predicate`` between subject and object; every extra slot (``inWork``, ``onDate``, ``inArea``,
``period``) gives one more entity, typed by ``object_type[slot]``, and one more relation
labelled ``predicate_slot`` (``配音_inWork``) from the subject to it, so no slot is lost; map
such labels with aliases or drop them with ``--drop-unmapped``.

DuIE gives no offsets: a span is the first occurrence of its text (``locate``); an entity of
the same text and class is reused across triples. The subject is the head unless the
predicate's alias is marked ``swap: true`` (创始人: the company is the subject, but
``Founder`` has the person as head). A record without ``spo_list`` (a test file) has neither
entities nor relations.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from knowcoder.data.importers import ImportContext, expect, register_importer, take
from knowcoder.data.importers.locate import SpanLocator, check_drop_unlocated
from knowcoder.data.instance import Entity, Instance, Relation
from knowcoder.data.jsonl import iter_jsonl
from knowcoder.schema.ontology import Kind

MAIN_SLOT = "@value"


@register_importer("duie")
def import_duie(ctx: ImportContext, /, *, drop_unlocated: bool = False) -> Iterator[Instance]:
    """Stream a DuIE 2.0 JSONL file (spo_list, multi-slot objects) as RE instances."""
    return _read(ctx, check_drop_unlocated(drop_unlocated))


def _read(ctx: ImportContext, drop_unlocated: bool) -> Iterator[Instance]:
    for n, (line, record) in enumerate(iter_jsonl(ctx.path)):
        ctx.report.records_read += 1
        yield _Record(ctx, line, record, drop_unlocated).instance(n)


def _slots(value: Any, ctx: ImportContext, *, line: int, field: str) -> dict[str, str]:
    """``object``/``object_type`` as ``{slot: text}``; a plain string is the main slot."""
    if isinstance(value, str):
        return {MAIN_SLOT: value}
    slots = expect(value, dict, ctx, line=line, field=field)
    if MAIN_SLOT not in slots:
        raise ctx.error(f"expected an '{MAIN_SLOT}' key, got {sorted(slots)}", line=line, field=field)
    for slot, text in slots.items():
        expect(text, str, ctx, line=line, field=f"{field}.{slot}")
    return slots


class _Record:
    def __init__(self, ctx: ImportContext, line: int, record: dict[str, Any], drop_unlocated: bool) -> None:
        self.ctx, self.line, self.record = ctx, line, record
        self.text: str = take(record, "text", str, ctx, line=line, field="text")
        self.locator = SpanLocator(ctx, self.text, line=line, drop_unlocated=drop_unlocated)
        self.entities: list[Entity] = []
        self.by_mention: dict[tuple[str, str], int] = {}

    def instance(self, n: int) -> Instance:
        ctx, line = self.ctx, self.line
        spo_list = take(self.record, "spo_list", list, ctx, line=line, field="spo_list", optional=True)
        relations: list[Relation] | None = None if spo_list is None else []
        for index, spo in enumerate(spo_list or []):
            field = f"spo_list[{index}]"
            expect(spo, dict, ctx, line=line, field=field)
            predicate = take(spo, "predicate", str, ctx, line=line, field=f"{field}.predicate")
            subject = self._entity(
                take(spo, "subject", str, ctx, line=line, field=f"{field}.subject"),
                spo.get("subject_type"),
                f"{field}.subject",
                f"{field}.subject_type",
            )
            objects = _slots(spo.get("object"), ctx, line=line, field=f"{field}.object")
            types = _slots(spo.get("object_type"), ctx, line=line, field=f"{field}.object_type")
            for slot, value in objects.items():
                if slot not in types:
                    raise ctx.error(
                        f"object slot {slot!r} has no type in object_type", line=line, field=f"{field}.object"
                    )
                label = predicate if slot == MAIN_SLOT else f"{predicate}_{slot}"
                name, swap = ctx.relation(label, line=line, field=f"{field}.predicate")
                target = self._entity(
                    value, types[slot], f"{field}.object.{slot}", f"{field}.object_type.{slot}"
                )
                if name is None:
                    continue
                if subject is None or target is None:
                    ctx.report.dropped_orphans += 1
                    continue
                head, tail = (target, subject) if swap else (subject, target)
                assert relations is not None
                relations.append(Relation(type=name, head=head, tail=tail))
        return Instance(
            id=ctx.instance_id(n, self.record.get("id"), line=line),
            dataset=ctx.dataset,
            lang=ctx.lang,
            text=self.text,
            entities=None if spo_list is None else self.entities,
            relations=relations,
        )

    def _entity(self, mention: str, label: object, field: str, type_field: str) -> int | None:
        """Index of the entity for ``mention`` of class ``label``; ``None`` if dropped."""
        name = self.ctx.resolve(label, Kind.ENTITY, line=self.line, field=type_field)
        if name is None:
            return None
        key = (mention, name)
        if key not in self.by_mention:
            span = self.locator.locate(mention, name, field)
            if span is None:
                return None
            self.by_mention[key] = len(self.entities)
            self.entities.append(Entity(start=span[0], end=span[1], type=name))
        return self.by_mention[key]
