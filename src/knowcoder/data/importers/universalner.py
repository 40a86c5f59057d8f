"""UniversalNER / Pile-NER conversations: a JSON array (or JSON lines) of ``conversations``.

Each record is ``{"id", "conversations": [{"from": "human", "value": "Text: <sentence>"},
{"from": "gpt", "value": "I've read this text."}, {"from": "human", "value": "What describes
<label> in the text?"}, {"from": "gpt", "value": "[\\"mention\\", ...]"}, ...]}``: Pile-NER asks
several labels in one conversation, UniversalNER's test files one label per record. Consecutive
records about the same sentence are merged into one instance (its id is the first record's),
so a label asked with an empty answer is an annotated "none".

The file is read element by element (``iter_json_records``), never whole. Mentions have no
offsets: each is placed by ``locate`` (first free occurrence for its label, word boundaries
first in spaced languages); a mention listed twice takes two occurrences. Labels such as
``Restaurant Name`` map to classes through the ontology's aliases.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from knowcoder.data.importers import ImportContext, expect, register_importer, take
from knowcoder.data.importers.locate import SpanLocator, check_drop_unlocated
from knowcoder.data.instance import Entity, Instance
from knowcoder.data.jsonl import iter_json_records
from knowcoder.schema.ontology import Kind

TEXT_PREFIX = "Text: "
QUESTION = re.compile(r"^What describes (?P<label>.+?) in the text\?$", re.DOTALL)


@dataclass
class _Question:
    label: str
    mentions: list[str]
    line: int
    field: str


@dataclass
class _Group:
    text: str
    id: object
    line: int
    questions: list[_Question] = field(default_factory=list)


@register_importer("universalner")
def import_universalner(ctx: ImportContext, /, *, drop_unlocated: bool = False) -> Iterator[Instance]:
    """Stream UniversalNER / Pile-NER conversation JSON as NER instances."""
    return _read(ctx, check_drop_unlocated(drop_unlocated))


def _read(ctx: ImportContext, drop_unlocated: bool) -> Iterator[Instance]:
    group: _Group | None = None
    n = 0
    for line, record in iter_json_records(ctx.path):
        ctx.report.records_read += 1
        text, questions = _conversation(ctx, line, record)
        if group is not None and group.text != text:
            yield _instance(ctx, n, group, drop_unlocated)
            n, group = n + 1, None
        if group is None:
            group = _Group(text=text, id=record.get("id"), line=line)
        group.questions.extend(questions)
    if group is not None:
        yield _instance(ctx, n, group, drop_unlocated)


def _conversation(ctx: ImportContext, line: int, record: dict[str, Any]) -> tuple[str, list[_Question]]:
    turns = take(record, "conversations", list, ctx, line=line, field="conversations")
    values: list[str] = []
    for index, turn in enumerate(turns):
        expect(turn, dict, ctx, line=line, field=f"conversations[{index}]")
        values.append(take(turn, "value", str, ctx, line=line, field=f"conversations[{index}].value"))
    if not values or not values[0].startswith(TEXT_PREFIX):
        raise ctx.error(
            f"the first turn must start with {TEXT_PREFIX!r}", line=line, field="conversations[0].value"
        )
    text = values[0][len(TEXT_PREFIX) :]
    questions = []
    # turn 1 is the model's "I've read this text."; then question/answer pairs
    for index in range(2, len(values), 2):
        field_name = f"conversations[{index}].value"
        match = QUESTION.match(values[index].strip())
        if match is None:
            raise ctx.error(
                f"expected 'What describes <label> in the text?', got {values[index][:60]!r}",
                line=line,
                field=field_name,
            )
        if index + 1 >= len(values):
            raise ctx.error("question without an answer turn", line=line, field=field_name)
        answer_field = f"conversations[{index + 1}].value"
        try:
            mentions = json.loads(values[index + 1])
        except json.JSONDecodeError as error:
            raise ctx.error(
                f"answer is not a JSON list of strings ({error.msg})", line=line, field=answer_field
            ) from error
        expect(mentions, list, ctx, line=line, field=answer_field)
        for mention in mentions:
            expect(mention, str, ctx, line=line, field=answer_field)
        questions.append(_Question(match["label"], mentions, line, answer_field))
    return text, questions


def _instance(ctx: ImportContext, n: int, group: _Group, drop_unlocated: bool) -> Instance:
    locator = SpanLocator(ctx, group.text, line=group.line, drop_unlocated=drop_unlocated)
    entities: list[Entity] = []
    for question in group.questions:
        locator.line = question.line
        name = ctx.resolve(question.label, Kind.ENTITY, line=question.line, field=question.field)
        if name is None:
            continue
        for mention in question.mentions:
            span = locator.locate(mention, name, question.field)
            if span is not None:
                entities.append(Entity(start=span[0], end=span[1], type=name))
    entities.sort(key=lambda e: (e.start, e.end, e.type))
    return Instance(
        id=ctx.instance_id(n, group.id, line=group.line),
        dataset=ctx.dataset,
        lang=ctx.lang,
        text=group.text,
        entities=entities,
    )
