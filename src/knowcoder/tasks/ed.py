"""Event detection: ``results = [Attack("fired")]``."""

from __future__ import annotations

import ast

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
    register_task,
    single_argument,
    string_value,
)


class EventDetection(Task):
    name = "ed"
    kind = Kind.EVENT
    instruction = (
        "This is an object-oriented programming task: some Event Classes are defined above. "
        "Please instantiate all the corresponding Event Objects in the following sentence."
    )
    released_instruction = (
        "This is an object-oriented programming task: Some Event Classes are defined above. "
        "Please instantiate all the corresponding Event Objects in the following sentence."
    )

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


ED = register_task(EventDetection())
