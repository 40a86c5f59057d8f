"""Event argument extraction: ``results = [Attack(trigger="fired", attacker=[Person("rebels")], target=[])]``.

Arguments of one event are kept sorted by role name (stably), so a record compares equal
whatever order the roles were written in.

A role named by a Python keyword (``from``, as the released schemas have) is written
``from_`` in the project's style; the released styles write ``from = [...]`` as the release
does, and the parser reads both back as the role ``from``. The released styles also write
``trigger = "t", role = [...]`` with spaces and list only the roles that have arguments.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from typing import Any

from knowcoder.data.instance import Instance
from knowcoder.records import ArgumentRecord, EntityRecord, EventRecord, Record, TriggerRecord
from knowcoder.released.render import FORMATS, class_roles
from knowcoder.schema.literals import from_py_identifier, py_identifier, py_str
from knowcoder.schema.ontology import Kind, Ontology
from knowcoder.tasks.base import (
    Allowed,
    Dropped,
    Reject,
    Task,
    call_name,
    check_span,
    check_type,
    parse_entity,
    render_entity,
    string_value,
)
from knowcoder.tasks.eae.metrics import METRICS


def sort_arguments(arguments: Iterable[ArgumentRecord]) -> tuple[ArgumentRecord, ...]:
    return tuple(sorted(arguments, key=lambda argument: argument.role))


class EventArgumentExtraction(Task):
    name = "eae"
    kind = Kind.EVENT
    title = "Event argument extraction"
    instruction = (
        "This is an object-oriented programming task: some Event Classes are defined above. "
        "Please instantiate all the corresponding Event Objects in the following sentence."
    )
    released_instruction = (
        "This is an object-oriented programming task: Some Event Classes are defined above. "
        "Please instantiate all the corresponding Event Objects in the following sentence. "
    )
    schema_kinds = (Kind.ENTITY, Kind.EVENT)
    metrics = METRICS
    call_shape = "event"
    argument_kind = Kind.ENTITY
    event_signature = "roles"
    given_by = "ed"

    def schema_types(self, names: Iterable[str], ontology: Ontology) -> list[str]:
        """Events plus the entity classes their roles may take."""
        out: dict[str, None] = {}
        for name in names:
            out[name] = None
            if ontology.kind_of(name) == Kind.EVENT:
                for role in ontology.roles(name):
                    out.update(dict.fromkeys(role.types))
        out.pop("Entity", None)
        return list(out)

    def positive_types(self, instance: Instance) -> list[str]:
        out: dict[str, None] = {}
        for record in self.gold_records(instance) or []:
            assert isinstance(record, EventRecord)
            out[record.type] = None
            out.update(dict.fromkeys(a.type for a in record.arguments if a.type != "Entity"))
        return list(out)

    def argument_classes(self, records: Iterable[Record]) -> list[str]:
        """The classes wrapping the arguments; bare strings (class ``Entity``) add none."""
        out: dict[str, None] = {}
        for record in records:
            assert isinstance(record, EventRecord)
            out.update(dict.fromkeys(a.type for a in record.arguments if a.type != "Entity"))
        return list(out)

    def given_from(self, records: Iterable[Record]) -> tuple[Record, ...]:
        """ED triggers as argument-less events, without repeats."""
        events = (EventRecord(r.type, r.trigger) for r in records if isinstance(r, TriggerRecord))
        return tuple(dict.fromkeys(events))

    def trigger_hints(self, records: Iterable[Record]) -> str:
        hints = [
            f"{py_str(r.trigger)} is the trigger of event type {py_str(r.type)}"
            for r in records
            if isinstance(r, EventRecord)
        ]
        return "; ".join(hints) + "." if hints else ""

    def gold_records(self, instance: Instance, ontology: Ontology | None = None) -> list[Record] | None:
        if instance.events is None:
            return None
        entity_at = {(e.start, e.end): e.type for e in instance.entities or []}
        records: list[Record] = []
        for event in instance.events:
            arguments = []
            for argument in event.arguments:
                entity_type = argument.type or entity_at.get((argument.start, argument.end))
                if entity_type is None and ontology is not None and event.type in ontology:
                    role_types = {r.name: r.types for r in ontology.roles(event.type)}
                    allowed_types = role_types.get(argument.role, ())
                    entity_type = allowed_types[0] if len(allowed_types) == 1 else None
                arguments.append(
                    ArgumentRecord(argument.role, entity_type or "Entity", instance.span_text(argument))
                )
            records.append(
                EventRecord(event.type, instance.span_text(event.trigger), sort_arguments(arguments))
            )
        return records

    def render_record(
        self, record: Record, ontology: Ontology | None = None, *, style: str = "knowcoder"
    ) -> str:
        assert isinstance(record, EventRecord)
        released = style in FORMATS
        by_role: dict[str, list[ArgumentRecord]] = {}
        if ontology is not None and record.type in ontology:
            roles = class_roles(ontology, ontology[record.type]) if released else ontology.roles(record.type)
            by_role = {role.name: [] for role in roles}
        for argument in record.arguments:
            by_role.setdefault(argument.role, []).append(argument)
        equals = " = " if released else "="
        parts = [f"trigger{equals}{py_str(record.trigger)}"]
        for role, arguments in by_role.items():
            if released and not arguments:
                continue
            values = ", ".join(render_entity(EntityRecord(a.type, a.text)) for a in arguments)
            parts.append(f"{role if released else py_identifier(role)}{equals}[{values}]")
        return f"{record.type}({', '.join(parts)})"

    def parse_call(self, call: ast.Call, allowed: Allowed, dropped: Dropped) -> Record:
        name = call_name(call)
        check_type(name, allowed.types, dropped)
        # ``from_`` is how code writes the role ``from`` (the parser rewrites a bare ``from =``)
        keywords = {from_py_identifier(kw.arg): kw.value for kw in call.keywords if kw.arg is not None}
        if len(keywords) != len(call.keywords):
            raise Reject("bad_shapes", f"{name} uses ** arguments")
        if call.args:
            if len(call.args) > 1 or "trigger" in keywords:
                raise Reject("bad_shapes", f"{name} takes only keyword role arguments")
            keywords["trigger"] = call.args[0]
        trigger = string_value(keywords.pop("trigger", None), f"{name} trigger")
        check_span(trigger, allowed, dropped)
        role_names = allowed.roles.get(name) if allowed.roles is not None else None
        arguments: list[ArgumentRecord] = []
        for role, value in keywords.items():
            if role_names is not None and role not in role_names:
                dropped.unknown_roles += 1
                continue
            items = value.elts if isinstance(value, ast.List | ast.Tuple) else [value]
            for item in items:
                try:
                    arguments.append(_parse_argument(role, item, allowed, dropped))
                except Reject:
                    continue  # one bad argument does not cost the whole event
        return EventRecord(name, trigger, sort_arguments(arguments))

    def record_from_dict(self, data: Mapping[str, Any]) -> Record:
        arguments = (
            ArgumentRecord(str(a["role"]), str(a.get("type", "Entity")), str(a["text"]))
            for a in data["arguments"]
        )
        return EventRecord(str(data["type"]), str(data["trigger"]), sort_arguments(arguments))


def _parse_argument(role: str, node: ast.expr, allowed: Allowed, dropped: Dropped) -> ArgumentRecord:
    if isinstance(node, ast.Constant):
        text = string_value(node, f"argument {role}")
        check_span(text, allowed, dropped)
        return ArgumentRecord(role, "Entity", text)
    entity = parse_entity(node, allowed, dropped)
    return ArgumentRecord(role, entity.type, entity.text)
