"""The contract every IE task implements, and the registry that holds them.

A task knows how its prompts define classes, how to read gold records off a canonical
instance, how to write one record as code and read one parsed ``ast.Call`` back, how to store
a record as a dict, and how its records are scored. Everything else (schema rendering,
corpora, scoring, reports, suites, serving, constrained decoding) asks the task through the
attributes and methods below instead of testing its name; only the modules of the released
KnowCoder format (``knowcoder.released``) spell out the release's own task names. The folder
layout that holds one task is described in :mod:`knowcoder.tasks`.
"""

from __future__ import annotations

import ast
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar

from knowcoder.data.instance import Instance
from knowcoder.evaluation.matching import Item
from knowcoder.records import EntityRecord, Record
from knowcoder.schema.literals import py_str
from knowcoder.schema.ontology import Kind, Ontology

V = TypeVar("V")


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


@dataclass(frozen=True)
class Level:
    """One way of turning records into items; ``entity_slots`` index the entity types in an item."""

    name: str
    items: Callable[[Any], list[Item]]
    entity_slots: tuple[int, ...] = ()


@dataclass(frozen=True)
class TaskMetrics:
    """The record class a task scores and its levels; the headline level comes first.

    Items of the headline level start with the type that per-type tables credit. With
    ``confusion``, headline items are ``(type, span text)`` pairs and the scorer also counts
    (gold type, predicted type) on one span text, which reports draw as a confusion matrix.
    """

    record: type
    levels: tuple[Level, ...]
    confusion: bool = False

    @property
    def headline(self) -> str:
        return self.levels[0].name


#: how one object of a task is written, which constrained decoding must know:
#: ``span``: ``Person("Ada Park")``; ``pair``: ``Employment(Person("Ada"), Company("Acme"))``;
#: ``event``: ``Attack(trigger="fired", target=[Person("rebels")])``
CallShape = Literal["span", "pair", "event"]


class Task(ABC):
    """One IE task in the KnowCoder code format.

    Subclasses set the class attributes without a default below and implement the abstract
    methods; the others have defaults that suit a task whose objects take no arguments.
    """

    #: registry key and metric-name prefix, e.g. ``ner``
    name: ClassVar[str]
    #: the kind of the classes the task instantiates
    kind: ClassVar[Kind]
    #: what the task is called in words; pretraining documents start with ``# {title}``
    title: ClassVar[str]
    #: instruction in the project's own prompts
    instruction: ClassVar[str]
    #: instruction exactly as in the released KnowCoder templates
    released_instruction: ClassVar[str]
    #: the kinds of classes its prompts define, in the order they are written; the base class
    #: of the last kind is written even when no class of that kind is asked for
    schema_kinds: ClassVar[tuple[Kind, ...]]
    #: how its records are scored (``<folder>/metrics.py``)
    metrics: ClassVar[TaskMetrics]
    #: how one of its objects is written (see ``CallShape``)
    call_shape: ClassVar[CallShape]

    #: the kind of the classes that wrap its objects' arguments (entities for RE heads/tails and
    #: EAE arguments), which its prompts and label sets define as well; ``None``: no arguments
    argument_kind: ClassVar[Kind | None] = None
    #: how its prompts write event classes: ``trigger`` (examples and an ``Arguments:`` line in
    #: the docstring, a constructor taking the trigger, as ED) or ``roles`` (a constructor taking
    #: the trigger and one list per role, examples beside the trigger, as EAE)
    event_signature: ClassVar[Literal["trigger", "roles"]] = "trigger"
    #: a task whose records this task's prompts are given as hints (EAE is given ED's events);
    #: serving runs that task first and hands its predictions over through ``given_from``
    given_by: ClassVar[str | None] = None
    #: pretraining class documents of ``kind`` are written as this task's prompts define them;
    #: the first registered task of a kind that says so wins (EAE over ED for events)
    writes_class_documents: ClassVar[bool] = True
    #: the release's fine -> coarse event mapping (``ed_mapping``) applies to its answers
    uses_ed_mapping: ClassVar[bool] = False

    # ---- prompts -----------------------------------------------------------------------
    def schema_types(self, names: Iterable[str], ontology: Ontology) -> list[str]:
        """The classes a prompt must define for ``names`` (argument types included)."""
        return list(dict.fromkeys(names))

    def positive_types(self, instance: Instance) -> list[str]:
        """The task's classes that occur in ``instance``, in first-seen order."""
        return list(dict.fromkeys(_record_type(r) for r in self.gold_records(instance) or []))

    def argument_classes(self, records: Iterable[Record]) -> list[str]:
        """The classes of ``argument_kind`` that wrap the arguments of ``records``, first seen first."""
        return []

    def trigger_hints(self, records: Iterable[Record]) -> str:
        """Extra instruction text naming given records (EAE: the triggers)."""
        return ""

    def given_from(self, records: Iterable[Record]) -> tuple[Record, ...]:
        """Predictions of the ``given_by`` task as this task's ``given`` records."""
        return tuple(records)

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

    # ---- storage -----------------------------------------------------------------------
    @abstractmethod
    def record_from_dict(self, data: Mapping[str, Any]) -> Record:
        """The inverse of the record's ``to_dict`` (predictions files store dicts).

        May raise ``KeyError``, ``TypeError`` or ``AttributeError`` on a malformed dict;
        ``knowcoder.records.record_from_dict`` turns those into one ``ValueError``.
        """


def _record_type(record: Record) -> str:
    return record.type


TASKS: dict[str, Task] = {}

_REQUIRED = (
    "name",
    "kind",
    "title",
    "instruction",
    "released_instruction",
    "schema_kinds",
    "metrics",
    "call_shape",
)


def register_task(task: Task) -> Task:
    """Add ``task`` to ``TASKS`` under ``task.name``; every folder's ``__init__`` calls this once."""
    missing = [attribute for attribute in _REQUIRED if not hasattr(task, attribute)]
    if missing:
        raise TypeError(
            f"task class {type(task).__name__} does not set {', '.join(missing)}; "
            "see knowcoder.tasks.base.Task for what each one holds"
        )
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


class TaskView(Mapping[str, V]):
    """Task name -> one property of the task, read live from ``TASKS`` in registry order.

    Tasks for which ``pick`` gives ``None`` are left out (``GIVEN_BY`` lists only fed tasks).
    """

    def __init__(self, pick: Callable[[Task], V | None]) -> None:
        self._pick = pick

    def __getitem__(self, name: str) -> V:
        value = self._pick(TASKS[name]) if name in TASKS else None
        if value is None:
            raise KeyError(name)
        return value

    def __iter__(self) -> Iterator[str]:
        return (name for name, task in TASKS.items() if self._pick(task) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"TaskView({dict(self)!r})"


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


def entity_from_dict(data: Mapping[str, Any]) -> EntityRecord:
    """An entity as ``EntityRecord.to_dict`` stores it (NER records, RE heads and tails)."""
    return EntityRecord(str(data["type"]), str(data["text"]))
