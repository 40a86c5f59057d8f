"""The canonical instance: one JSON object per line, character offsets, ``end`` exclusive.

A list that is absent (``None``) means the dataset does not annotate that task; an empty
list means it does and the sentence has none. Scorers rely on that difference.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

_STRICT = ConfigDict(extra="forbid", frozen=True)


class Span(BaseModel):
    """A character span of ``Instance.text``; ``text`` is optional and, if given, must match."""

    model_config = _STRICT

    start: int = Field(ge=0)
    end: int = Field(ge=0)
    text: str | None = None


class Entity(Span):
    type: str


class Relation(BaseModel):
    """``head`` and ``tail`` index into ``Instance.entities``."""

    model_config = _STRICT

    type: str
    head: int = Field(ge=0)
    tail: int = Field(ge=0)


class Argument(Span):
    role: str
    type: str | None = None  # entity class of the argument, when the dataset says


class Event(BaseModel):
    model_config = _STRICT

    type: str
    trigger: Span
    arguments: list[Argument] = Field(default_factory=list)


class Instance(BaseModel):
    model_config = _STRICT

    id: str = Field(min_length=1)
    dataset: str = Field(min_length=1)
    lang: str = Field(min_length=1)
    text: str
    entities: list[Entity] | None = None
    relations: list[Relation] | None = None
    events: list[Event] | None = None
    split: str | None = None
    meta: dict[str, str | int | float | bool | None] | None = None

    def span_text(self, span: Span) -> str:
        return self.text[span.start : span.end]

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=True)
