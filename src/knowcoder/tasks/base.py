"""The contract every IE task implements, and the registry that holds them.

A task knows four things: which ontology classes its prompts define, how to read gold
records off a canonical instance, how to write one record as code, and how to read one
parsed ``ast.Call`` back into a record. Adding a task means one module with one
``register_task`` call; nothing else branches on task names.
"""

from __future__ import annotations

import ast
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from knowcoder.data.instance import Instance
from knowcoder.records import EntityRecord, Record
from knowcoder.schema.literals import py_str
from knowcoder.schema.ontology import Kind, Ontology


class Reject(Exception):
    """Why one parsed object was dropped; ``reason`` is a key of the parse report."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclass(frozen=True)
class Allowed:
    """What a parsed output may contain; ``None`` means 'do not check'.

    ``types`` are the task's own classes (entity classes for NER, relations for RE, events for
    ED/EAE); ``entity_types`` the classes that may wrap arguments (RE heads/tails, EAE
    arguments); ``roles`` the role names each event class takes.
    """

    types: frozenset[str] | None = None
    entity_types: frozenset[str] | None = None
    roles: Mapping[str, frozenset[str]] | None = None
    sentence: str | None = None


@dataclass
class Dropped:
    """Counts of what the parser dropped, by reason, for one call of ``parse_call``."""

    unknown_types: dict[str, int] = field(default_factory=dict)
    spans_not_found: int = 0
    unknown_roles: int = 0

    def unknown(self, name: str) -> None:
        self.unknown_types[name] = self.unknown_types.get(name, 0) + 1


class Task(ABC):
    """One IE task in the KnowCoder code format."""

    name: str
    kind: Kind
    #: instruction in the project's own prompts
    instruction: str
    #: instruction exactly as in the released KnowCoder templates
    released_instruction: str

    # ---- prompts -----------------------------------------------------------------------
    def schema_types(self, names: Iterable[str], ontology: Ontology) -> list[str]:
        """The classes a prompt must define for ``names`` (argument types included)."""
        return list(dict.fromkeys(names))

    def positive_types(self, instance: Instance) -> list[str]:
        """The task's classes that occur in ``instance``, in first-seen order."""
        return list(dict.fromkeys(_record_type(r) for r in self.gold_records(instance) or []))

    def trigger_hints(self, records: Iterable[Record]) -> str:
        """Extra instruction text naming given triggers (EAE only)."""
        return ""

    # ---- gold --------------------------------------------------------------------------
    @abstractmethod
    def gold_records(self, instance: Instance, ontology: Ontology | None = None) -> list[Record] | None:
        """Records of this task in ``instance``; ``None`` when the dataset does not annotate it."""

    # ---- code --------------------------------------------------------------------------
    @abstractmethod
    def render_record(
        self, record: Record, ontology: Ontology | None = None, *, style: str = "knowcoder"
    ) -> str:
        """One record as a constructor call, e.g. ``Person("Ada Park")``, in prompt style ``style``."""

    @abstractmethod
    def parse_call(self, call: ast.Call, allowed: Allowed, dropped: Dropped) -> Record:
        """One top-level call of ``results = [...]`` as a record, or raise ``Reject``."""


def _record_type(record: Record) -> str:
    return record.type


TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    if task.name in TASKS:
        raise ValueError(f"task {task.name!r} is registered twice")
    TASKS[task.name] = task
    return task


def get_task(name: str | Task) -> Task:
    if isinstance(name, Task):
        return name
    try:
        return TASKS[name.lower()]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}") from None


# ---- helpers shared by the task modules -------------------------------------------------
def call_name(call: ast.Call) -> str:
    """The class name of ``Name(...)``; anything else (attribute chains, calls of calls) is rejected."""
    if isinstance(call.func, ast.Name):
        return call.func.id
    raise Reject("bad_shapes", "callee is not a plain class name")


def string_value(node: ast.expr | None, what: str) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    raise Reject("bad_shapes", f"{what} is not a string literal")


def single_argument(call: ast.Call, keyword_names: Collection[str], what: str) -> ast.expr:
    """The one argument of ``X("...")`` or ``X(name="...")``."""
    if len(call.args) == 1 and not call.keywords:
        return call.args[0]
    if not call.args and len(call.keywords) == 1 and call.keywords[0].arg in keyword_names:
        return call.keywords[0].value
    raise Reject("bad_shapes", f"{what} takes exactly one argument")


def check_type(name: str, allowed: frozenset[str] | None, dropped: Dropped) -> None:
    if allowed is not None and name not in allowed:
        dropped.unknown(name)
        raise Reject("unknown_types", name)


def check_span(text: str, allowed: Allowed, dropped: Dropped) -> None:
    if not text or (allowed.sentence is not None and text not in allowed.sentence):
        dropped.spans_not_found += 1
        raise Reject("spans_not_found", text)


def parse_entity(node: ast.expr, allowed: Allowed, dropped: Dropped) -> EntityRecord:
    """``Person("Ada Park")`` wrapping a relation or event argument."""
    if not isinstance(node, ast.Call):
        raise Reject("bad_shapes", "argument is not an entity object")
    name = call_name(node)
    check_type(name, allowed.entity_types, dropped)
    text = string_value(single_argument(node, ("name",), name), f"{name} name")
    check_span(text, allowed, dropped)
    return EntityRecord(name, text)


def render_entity(record: EntityRecord) -> str:
    return f"{record.type}({py_str(record.text)})"
