"""Relation extraction: ``results = [Employment(Person("Ada Park"), Organization("Acme Corp"))]``."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from typing import Any

from knowcoder.data.instance import Instance
from knowcoder.records import EntityRecord, Record, RelationRecord
from knowcoder.schema.ontology import Kind, Ontology
from knowcoder.tasks.base import (
    Allowed,
    Dropped,
    Reject,
    Task,
    call_name,
    check_type,
    entity_from_dict,
    parse_entity,
    render_entity,
)
from knowcoder.tasks.relation.metrics import METRICS


class RelationExtraction(Task):
    name = "re"
    kind = Kind.RELATION
    title = "Relation extraction"
    instruction = (
        "This is an object-oriented programming task: some Relation Classes and related Entity "
        "Classes are defined above. Please instantiate all the corresponding Relation Objects "
        "in the following sentence."
    )
    released_instruction = (
        "This is an object-oriented programming task: Some Relation Classes and related Entity "
        "Classes are defined above. Please instantiate all the corresponding Relation Objects "
        "in the following sentence."
    )
    schema_kinds = (Kind.ENTITY, Kind.RELATION)
    metrics = METRICS
    call_shape = "pair"
    argument_kind = Kind.ENTITY

    def schema_types(self, names: Iterable[str], ontology: Ontology) -> list[str]:
        """Relations plus the entity classes their heads and tails may take."""
        out: dict[str, None] = {}
        for name in names:
            out[name] = None
            if ontology.kind_of(name) == Kind.RELATION:
                heads, tails = ontology.relation_signature(name)
                out.update(dict.fromkeys([*heads, *tails]))
        out.pop("Entity", None)
        return list(out)

    def positive_types(self, instance: Instance) -> list[str]:
        """Relation classes and the entity classes of their arguments."""
        out: dict[str, None] = {}
        for record in self.gold_records(instance) or []:
            assert isinstance(record, RelationRecord)
            out.update(dict.fromkeys([record.type, record.head.type, record.tail.type]))
        return list(out)

    def argument_classes(self, records: Iterable[Record]) -> list[str]:
        """The head and tail classes, in order."""
        out: dict[str, None] = {}
        for record in records:
            assert isinstance(record, RelationRecord)
            out.update({record.head.type: None, record.tail.type: None})
        return list(out)

    def gold_records(self, instance: Instance, ontology: Ontology | None = None) -> list[Record] | None:
        if instance.relations is None:
            return None
        entities = instance.entities or []
        records: list[Record] = []
        for relation in instance.relations:
            head, tail = entities[relation.head], entities[relation.tail]
            records.append(
                RelationRecord(
                    relation.type,
                    EntityRecord(head.type, instance.span_text(head)),
                    EntityRecord(tail.type, instance.span_text(tail)),
                )
            )
        return records

    def render_record(
        self, record: Record, ontology: Ontology | None = None, *, style: str = "knowcoder"
    ) -> str:
        assert isinstance(record, RelationRecord)
        return f"{record.type}({render_entity(record.head)}, {render_entity(record.tail)})"

    def parse_call(self, call: ast.Call, allowed: Allowed, dropped: Dropped) -> Record:
        name = call_name(call)
        check_type(name, allowed.types, dropped)
        by_keyword = {kw.arg: kw.value for kw in call.keywords}
        if len(call.args) == 2 and not call.keywords:
            head_node, tail_node = call.args
        elif not call.args and set(by_keyword) == {"head_entity", "tail_entity"}:
            head_node, tail_node = by_keyword["head_entity"], by_keyword["tail_entity"]
        else:
            raise Reject("bad_shapes", f"{name} takes a head and a tail entity")
        head = parse_entity(head_node, allowed, dropped)
        tail = parse_entity(tail_node, allowed, dropped)
        return RelationRecord(name, head, tail)

    def record_from_dict(self, data: Mapping[str, Any]) -> Record:
        return RelationRecord(
            str(data["type"]), entity_from_dict(data["head"]), entity_from_dict(data["tail"])
        )
