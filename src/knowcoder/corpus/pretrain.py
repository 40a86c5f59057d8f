"""The schema-understanding corpus: class definitions and sentence-first instance code.

Two kinds of documents, both plain text for language-model training:

* a **class document** defines one ontology class with its ancestors (and, for relations and
  events, the entity classes their arguments take), in each description language;
* an **instance document** is a sentence followed by the code that instantiates what it
  contains — "sentence first", as in KnowCoder::

      # Named entity recognition
      sentence = "Ada Park joined Acme Corp."
      from Entities import Company, Person
      results = [Person("Ada Park"), Company("Acme Corp")]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from knowcoder.data.instance import Instance
from knowcoder.prompts import render_results
from knowcoder.records import Record
from knowcoder.schema.literals import py_str
from knowcoder.schema.ontology import Kind, Ontology
from knowcoder.schema.render import SchemaOptions, render_schema
from knowcoder.tasks import TASKS, Task

_MODULE_OF_KIND = {Kind.ENTITY: "Entities", Kind.RELATION: "Relations", Kind.EVENT: "Events"}


@dataclass(frozen=True)
class Document:
    """One training document; ``kind`` is ``class`` or ``instance``."""

    text: str
    kind: str
    task: str
    lang: str
    source: str  # class name or instance id

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "kind": self.kind,
            "task": self.task,
            "lang": self.lang,
            "source": self.source,
        }


def class_documents(
    ontology: Ontology, *, languages: Sequence[str] = ("en",), max_examples: int = 3
) -> Iterator[Document]:
    """One document per class and description language, in ontology order.

    A class is written as the prompts of the first task of its kind that writes class documents
    define it (events as EAE prompts do, with their roles).
    """
    writer: dict[Kind, Task] = {}
    for task in TASKS.values():
        if task.writes_class_documents:
            writer.setdefault(task.kind, task)
    for lang in languages:
        options = SchemaOptions(lang=lang, max_examples=max_examples)
        for name, typedef in ontology.types.items():
            task = writer[typedef.kind]
            names = task.schema_types([name], ontology)
            yield Document(render_schema(ontology, names, task.name, options), "class", task.name, lang, name)


def _used_classes(records: Iterable[Record], task: Task) -> dict[Kind, list[str]]:
    used: dict[Kind, dict[str, None]] = {kind: {} for kind in Kind}
    for record in records:
        used[task.kind][record.type] = None
        if task.argument_kind is not None:
            used[task.argument_kind].update(dict.fromkeys(task.argument_classes([record])))
    used[Kind.ENTITY].pop("Entity", None)
    return {kind: sorted(names) for kind, names in used.items() if names}


def instance_code(instance: Instance, task: str, ontology: Ontology | None = None) -> str | None:
    """The sentence-first code document of one task of ``instance``; ``None`` if it has none."""
    task_obj = TASKS[task]
    records = task_obj.gold_records(instance, ontology)
    if not records:
        return None
    imports = [
        f"from {_MODULE_OF_KIND[kind]} import {', '.join(names)}"
        for kind, names in _used_classes(records, task_obj).items()
    ]
    return "\n".join(
        [
            f"# {task_obj.title}",
            f"sentence = {py_str(instance.text)}",
            *imports,
            render_results(records, task, ontology),
        ]
    )


def instance_documents(
    instances: Iterable[Instance], ontology: Ontology, *, tasks: Sequence[str] = tuple(TASKS)
) -> Iterator[Document]:
    """Instance-code documents for every annotated, non-empty task of every instance (streaming)."""
    for instance in instances:
        for task in tasks:
            code = instance_code(instance, task, ontology)
            if code is not None:
                yield Document(code, "instance", task, instance.lang, instance.id)
