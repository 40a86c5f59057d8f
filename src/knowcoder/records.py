"""Extraction records: what a model's code means, matched on surface strings like the originals.

Records carry span *text*, not offsets, because the model writes strings. They are frozen and
hashable so scorers can count them as multisets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class EntityRecord:
    """NER: ``Person("Ada Park")``."""

    type: str
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "text": self.text}


@dataclass(frozen=True, slots=True)
class RelationRecord:
    """RE: ``Employment(Person("Ada Park"), Organization("Acme Corp"))``."""

    type: str
    head: EntityRecord
    tail: EntityRecord

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "head": self.head.to_dict(), "tail": self.tail.to_dict()}


@dataclass(frozen=True, slots=True)
class TriggerRecord:
    """ED: ``StartPosition("joined")``."""

    type: str
    trigger: str

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "trigger": self.trigger}


@dataclass(frozen=True, slots=True)
class ArgumentRecord:
    """One argument of an EAE event; ``type`` is the entity class the model wrapped it in."""

    role: str
    type: str
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "type": self.type, "text": self.text}


@dataclass(frozen=True, slots=True)
class EventRecord:
    """EAE: ``StartPosition(trigger="joined", employee=[Person("Ada Park")])``."""

    type: str
    trigger: str
    arguments: tuple[ArgumentRecord, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "trigger": self.trigger,
            "arguments": [argument.to_dict() for argument in self.arguments],
        }


Record = EntityRecord | RelationRecord | TriggerRecord | EventRecord


def record_from_dict(task: str, data: dict[str, Any]) -> Record:
    """The inverse of ``to_dict`` for one task's record (predictions files store dicts).

    Each task reads its own records (``Task.record_from_dict``); this names the task and the
    dict when one is malformed.
    """
    from knowcoder.tasks import TASKS, get_task  # the tasks build on these records

    try:
        reader = get_task(task)
    except KeyError:
        raise ValueError(f"no record format for task {task!r}; choose one of: {', '.join(TASKS)}") from None
    try:
        return reader.record_from_dict(data)
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(
            f"{task} record {data!r} is malformed ({error!r}); write it with to_dict()"
        ) from error
