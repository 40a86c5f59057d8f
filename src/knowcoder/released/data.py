"""Released KnowCoder data in: SFT / eval records -> canonical instances, prompts and outputs.

A released record (``sft/data/example_data/example_data.jsonl``, or the eval corpora that
``eval/src/inference.py`` reads) holds the ``sentence``, its annotation in one of
``entities`` / ``relations`` / ``events`` (names with ``pos`` character offsets, ``end``
exclusive; ``pos`` may be empty, then the name is looked up in the sentence), and the
prompt and answer under ``one-stage`` (``one-stage.<setting>.prompt``, ``one-stage.output``).

``read_record`` turns one into a :class:`ReleasedExample`: the canonical instance, the task,
the classes its prompt defines (in prompt order) and the prompt and output as given, so the
prompt can be rendered again from instance + imported schema and compared byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knowcoder.data.instance import Argument, Entity, Event, Instance, Relation, Span
from knowcoder.data.jsonl import iter_json_records
from knowcoder.errors import DataFormatError
from knowcoder.released.schema import SchemaImport, import_prompt, prompt_query
from knowcoder.schema.ontology import Kind

ANNOTATION_LISTS = {"entities": "ner", "relations": "re", "events": "ed"}
_TRIGGER_HINT = re.compile(r'"(.*?)" is the trigger of event type "(\w+)"')

# label (dataset spelling) -> class name; ``None`` to drop the mention
Resolver = Callable[[str, Kind, str], str | None]


@dataclass(frozen=True)
class ReleasedExample:
    """One released record: instance, task, prompt classes, and the released texts."""

    line: int
    task: str
    instance: Instance
    classes: tuple[str, ...]  # the task's classes the prompt defines, in prompt order
    prompt: str | None  # the query as released (no system wrapper), if the record has one
    output: str | None  # the answer as released
    triggers: tuple[tuple[str, str], ...] = ()  # EAE: (trigger, event type) named in the prompt
    notes: tuple[str, ...] = ()  # where the record disagrees with itself (name vs. offsets)


def task_of_prompt(prompt: str) -> str | None:
    """ner, re, ed or eae from a released query's instruction and base ``Event`` class."""
    query = prompt_query(prompt)
    if "Relation Classes" in query:
        return "re"
    if "Entity Classes are defined" in query:
        return "ner"
    if "Event Classes" in query:
        return "ed" if "def __init__(self, trigger: str, arg_names, *args)" in query else "eae"
    return None


def _field(record: dict[str, Any], dotted: str) -> Any:
    value: Any = record
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


class _Reader:
    def __init__(self, path: str, line: int, record: dict[str, Any], resolve: Resolver) -> None:
        self.path, self.line, self.record, self.resolve = path, line, record, resolve
        self.sentence = self.take(record, "sentence", str, "sentence")
        self.used: dict[str, set[tuple[int, int]]] = {}
        self.notes: list[str] = []

    def error(self, message: str, field: str) -> DataFormatError:
        return DataFormatError(message, path=self.path, line=self.line, field=field)

    def take(self, obj: dict[str, Any], key: str, expected: type, field: str) -> Any:
        value = obj.get(key) if isinstance(obj, dict) else None
        if not isinstance(value, expected):
            raise self.error(f"expected {expected.__name__}, got {value!r}", field)
        return value

    def span(self, obj: dict[str, Any], name_key: str, pos_key: str, field: str, group: str) -> Span:
        """The span of ``obj[name_key]``: its ``pos`` when given (checked), else found by text."""
        name = self.take(obj, name_key, str, f"{field}.{name_key}")
        pos = obj.get(pos_key)
        if isinstance(pos, list) and len(pos) == 2 and all(isinstance(p, int) for p in pos):
            start, end = pos
            covered = self.sentence[start:end] if 0 <= start <= end <= len(self.sentence) else None
            if covered != name:
                message = f"pos {pos} covers {covered!r}, not {name!r}"
                if covered is None or covered.casefold() != name.casefold():
                    raise self.error(message, f"{field}.{pos_key}")
                # the release lowercases some names ("school" for "Bolton School"): the
                # offsets win, and the difference is kept on the example
                self.notes.append(f"{field}.{pos_key}: {message}")
        elif pos in (None, "", []):
            start = self._find(name, group)
            if start < 0:
                raise self.error(f"{name!r} does not occur in the sentence", f"{field}.{name_key}")
            end = start + len(name)
        else:
            raise self.error(f"expected [start, end] or empty, got {pos!r}", f"{field}.{pos_key}")
        self.used.setdefault(group, set()).add((start, end))
        return Span(start=start, end=end)

    def _find(self, name: str, group: str) -> int:
        taken = self.used.get(group, set())
        start = self.sentence.find(name)
        while start >= 0 and (start, start + len(name)) in taken:
            start = self.sentence.find(name, start + 1)
        return start if start >= 0 else self.sentence.find(name)

    def label(self, value: Any, kind: Kind, field: str) -> str | None:
        if not isinstance(value, str) or not value.strip():
            raise self.error(f"expected a non-empty type, got {value!r}", field)
        if kind == Kind.ENTITY and value == "Entity":
            return "Entity"  # the release's untyped arguments
        return self.resolve(value, kind, field)

    def entities(self) -> list[Entity]:
        out = []
        for i, item in enumerate(self.take(self.record, "entities", list, "entities")):
            span = self.span(item, "name", "pos", f"entities[{i}]", "entities")
            type_ = self.label(item.get("type"), Kind.ENTITY, f"entities[{i}].type")
            if type_ is not None:
                out.append(Entity(start=span.start, end=span.end, type=type_))
        return out

    def relations(self) -> tuple[list[Entity], list[Relation]]:
        entities: list[Entity] = []
        relations = []
        for i, item in enumerate(self.take(self.record, "relations", list, "relations")):
            type_ = self.label(item.get("type"), Kind.RELATION, f"relations[{i}].type")
            ends = []
            for end in ("head", "tail"):
                obj = self.take(item, end, dict, f"relations[{i}].{end}")
                span = self.span(obj, "name", "pos", f"relations[{i}].{end}", f"{i}.{end}")
                etype = self.label(obj.get("type") or "Entity", Kind.ENTITY, f"relations[{i}].{end}.type")
                if etype is None:
                    break
                ends.append(_entity_index(entities, span, etype))
            if type_ is not None and len(ends) == 2:
                relations.append(Relation(type=type_, head=ends[0], tail=ends[1]))
        return entities, relations

    def events(self) -> list[Event]:
        out = []
        for i, item in enumerate(self.take(self.record, "events", list, "events")):
            type_ = self.label(item.get("type"), Kind.EVENT, f"events[{i}].type")
            trigger = self.span(item, "trigger", "pos", f"events[{i}]", "triggers")
            arguments = []
            for j, arg in enumerate(item.get("arguments") or []):
                where = f"events[{i}].arguments[{j}]"
                span = self.span(arg, "name", "pos", where, f"{i}.arguments")
                role = self.take(arg, "role", str, f"{where}.role")
                etype = arg.get("type") or None
                if etype is not None:
                    etype = self.label(etype, Kind.ENTITY, f"{where}.type")
                arguments.append(Argument(start=span.start, end=span.end, role=role, type=etype))
            if type_ is not None:
                out.append(Event(type=type_, trigger=trigger, arguments=arguments))
        return out


def _entity_index(entities: list[Entity], span: Span, type_: str) -> int:
    for index, entity in enumerate(entities):
        if (entity.start, entity.end, entity.type) == (span.start, span.end, type_):
            return index
    entities.append(Entity(start=span.start, end=span.end, type=type_))
    return len(entities) - 1


def read_record(
    record: dict[str, Any],
    *,
    path: str,
    line: int,
    resolve: Resolver,
    instance_id: str,
    dataset: str,
    lang: str = "en",
    setting: str = "zero-shot",
    schema: SchemaImport | None = None,
) -> ReleasedExample:
    """One released record as a :class:`ReleasedExample`; ``schema`` collects its prompt's classes."""
    reader = _Reader(path, line, record, resolve)
    prompt = _field(record, f"one-stage.{setting}.prompt")
    output = _field(record, "one-stage.output")
    for value, name in ((prompt, f"one-stage.{setting}.prompt"), (output, "one-stage.output")):
        if value is not None and not isinstance(value, str):
            raise reader.error(f"expected a string, got {type(value).__name__}", name)
    present = [key for key in ANNOTATION_LISTS if key in record]
    if len(present) != 1:
        raise reader.error(
            f"expected exactly one of entities, relations, events; found {present or 'none'}", "<record>"
        )
    task = task_of_prompt(prompt) if prompt else None
    task = task or ANNOTATION_LISTS[present[0]]
    lists: dict[str, Any] = {}
    if present[0] == "entities":
        lists["entities"] = reader.entities()
    elif present[0] == "relations":
        lists["entities"], lists["relations"] = reader.relations()
    else:
        lists["events"] = reader.events()
    instance = Instance(id=instance_id, dataset=dataset, lang=lang, text=reader.sentence, **lists)
    classes: tuple[str, ...] = ()
    triggers: tuple[tuple[str, str], ...] = ()
    if prompt is not None:
        classes = tuple(import_prompt(prompt, source=f"{path}:{line}", schema=schema))
        if task == "eae":
            instruction = prompt_query(prompt).split('\n"""\n', 2)[1]
            triggers = tuple((m.group(1), m.group(2)) for m in _TRIGGER_HINT.finditer(instruction))
    return ReleasedExample(line, task, instance, classes, prompt, output, triggers, tuple(reader.notes))


def read_released(
    path: str | Path,
    *,
    resolve: Resolver,
    dataset: str = "knowcoder",
    lang: str = "en",
    setting: str = "zero-shot",
    schema: SchemaImport | None = None,
) -> Iterator[ReleasedExample]:
    """Every record of a released JSONL (or JSON array) file, in order."""
    for n, (line, record) in enumerate(iter_json_records(path)):
        yield read_record(
            record,
            path=str(path),
            line=line,
            resolve=resolve,
            instance_id=f"{dataset}-{lang}-{n:06d}",
            dataset=dataset,
            lang=lang,
            setting=setting,
            schema=schema,
        )


def examples_with_schema(
    path: str | Path, *, dataset: str = "knowcoder", lang: str = "en", setting: str = "zero-shot"
) -> tuple[list[ReleasedExample], SchemaImport]:
    """Read a released file whose prompts carry the schema: first the classes, then the records.

    Types are resolved against the classes the prompts define (``organization`` ->
    ``Organization``), so the file needs no ontology of its own.
    """
    schema = SchemaImport()
    for line, record in iter_json_records(path):
        prompt = _field(record, f"one-stage.{setting}.prompt")
        if isinstance(prompt, str):
            import_prompt(prompt, source=f"{path}:{line}", schema=schema)
    ontology = schema.ontology(source=str(path))

    def resolve(label: str, kind: Kind, field: str) -> str | None:
        name = ontology.resolve_label(label)
        if name is None or ontology.kind_of(name) != kind:
            raise DataFormatError(
                f"type {label!r} names no {kind.value} class of the prompts", path=path, field=field
            )
        return name

    examples = list(read_released(path, resolve=resolve, dataset=dataset, lang=lang, setting=setting))
    return examples, schema
