"""Event detection: ``results = [Attack("fired")]``."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

from knowcoder.data.instance import Instance
from knowcoder.records import Record, TriggerRecord
from knowcoder.schema.literals import py_str
from knowcoder.schema.ontology import Kind, Ontology
from knowcoder.tasks.base import (
    Allowed,
    Dropped,
    Task,
    call_name,
    check_span,
    check_type,
    single_argument,
    string_value,
)
from knowcoder.tasks.ed.metrics import METRICS


class EventDetection(Task):
    name = "ed"
    kind = Kind.EVENT
    title = "Event detection"
    instruction = (
        "This is an object-oriented programming task: some Event Classes are defined above. "
        "Please instantiate all the corresponding Event Objects in the following sentence."
    )
    released_instruction = (
        "This is an object-oriented programming task: Some Event Classes are defined above. "
        "Please instantiate all the corresponding Event Objects in the following sentence."
    )
    schema_kinds = (Kind.EVENT,)
    metrics = METRICS
    call_shape = "span"
    event_signature = "trigger"
    # event class documents are written with their roles, as EAE prompts define them
    writes_class_documents = False
    uses_ed_mapping = True

    def gold_records(self, instance: Instance, ontology: Ontology | None = None) -> list[Record] | None:
        if instance.events is None:
            return None
        return [TriggerRecord(e.type, instance.span_text(e.trigger)) for e in instance.events]

    def render_record(
        self, record: Record, ontology: Ontology | None = None, *, style: str = "knowcoder"
    ) -> str:
        assert isinstance(record, TriggerRecord)
        return f"{record.type}({py_str(record.trigger)})"

    def parse_call(self, call: ast.Call, allowed: Allowed, dropped: Dropped) -> Record:
        name = call_name(call)
        check_type(name, allowed.types, dropped)
        trigger = string_value(single_argument(call, ("trigger",), name), f"{name} trigger")
        check_span(trigger, allowed, dropped)
        return TriggerRecord(name, trigger)

    def record_from_dict(self, data: Mapping[str, Any]) -> Record:
        return TriggerRecord(str(data["type"]), str(data["trigger"]))
