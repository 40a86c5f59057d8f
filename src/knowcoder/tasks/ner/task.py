"""Named entity recognition: ``results = [Person("Ada Park"), Organization("Acme Corp")]``."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

from knowcoder.data.instance import Instance
from knowcoder.records import EntityRecord, Record
from knowcoder.schema.ontology import Kind, Ontology
from knowcoder.tasks.base import (
    Allowed,
    Dropped,
    Task,
    call_name,
    check_span,
    check_type,
    entity_from_dict,
    render_entity,
    single_argument,
    string_value,
)
from knowcoder.tasks.ner.metrics import METRICS


class NamedEntityRecognition(Task):
    name = "ner"
    kind = Kind.ENTITY
    title = "Named entity recognition"
    instruction = (
        "This is an object-oriented programming task: some Entity Classes are defined above. "
        "Please instantiate all the corresponding Entity Objects in the following sentence."
    )
    released_instruction = (
        "This is an object-oriented programming task: Some Entity Classes are defined above. "
        "Please instantiate all the corresponding Entity Objects in the following sentence."
    )
    schema_kinds = (Kind.ENTITY,)
    metrics = METRICS
    call_shape = "span"

    def gold_records(self, instance: Instance, ontology: Ontology | None = None) -> list[Record] | None:
        if instance.entities is None:
            return None
        return [EntityRecord(e.type, instance.span_text(e)) for e in instance.entities]

    def render_record(
        self, record: Record, ontology: Ontology | None = None, *, style: str = "knowcoder"
    ) -> str:
        assert isinstance(record, EntityRecord)
        return render_entity(record)

    def parse_call(self, call: ast.Call, allowed: Allowed, dropped: Dropped) -> Record:
        name = call_name(call)
        check_type(name, allowed.types, dropped)
        text = string_value(single_argument(call, ("name",), name), f"{name} name")
        check_span(text, allowed, dropped)
        return EntityRecord(name, text)

    def record_from_dict(self, data: Mapping[str, Any]) -> Record:
        return entity_from_dict(data)
