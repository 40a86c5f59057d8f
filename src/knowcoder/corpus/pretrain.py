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
from knowcoder.records import EntityRecord, EventRecord, Record, RelationRecord
from knowcoder.schema.literals import py_str
from knowcoder.schema.ontology import Kind, Ontology
from knowcoder.schema.render import SchemaOptions, render_schema
from knowcoder.tasks import TASKS

TASK_COMMENTS = {
    "ner": "# Named entity recognition",
    "re": "# Relation extraction",
    "ed": "# Event detection",
    "eae": "# Event argument extraction",
}
_MODULE_OF_KIND = {Kind.ENTITY: "Entities", Kind.RELATION: "Relations", Kind.EVENT: "Events"}
_TASK_FOR_KIND = {Kind.ENTITY: "ner", Kind.RELATION: "re", Kind.EVENT: "eae"}


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
    """One document per class and description language, in ontology order."""
    for lang in languages:
        options = SchemaOptions(lang=lang, max_examples=max_examples)
        for name, typedef in ontology.types.items():
            task = _TASK_FOR_KIND[typedef.kind]
            names = TASKS[task].schema_types([name], ontology)
            yield Document(render_schema(ontology, names, task, options), "class", task, lang, name)


def _used_classes(records: Iterable[Record]) -> dict[Kind, list[str]]:
    used: dict[Kind, dict[str, None]] = {kind: {} for kind in Kind}
    for record in records:
        if isinstance(record, EntityRecord):
            used[Kind.ENTITY][record.type] = None
        elif isinstance(record, RelationRecord):
            used[Kind.RELATION][record.type] = None
            used[Kind.ENTITY].update({record.head.type: None, record.tail.type: None})
        elif isinstance(record, EventRecord):
            used[Kind.EVENT][record.type] = None
            used[Kind.ENTITY].update(dict.fromkeys(a.type for a in record.arguments))
        else:
            used[Kind.EVENT][record.type] = None
    used[Kind.ENTITY].pop("Entity", None)
    return {kind: sorted(names) for kind, names in used.items() if names}


def instance_code(instance: Instance, task: str, ontology: Ontology | None = None) -> str | None:
    """The sentence-first code document of one task of ``instance``; ``None`` if it has none."""
    records = TASKS[task].gold_records(instance, ontology)
    if not records:
        return None
    imports = [
        f"from {_MODULE_OF_KIND[kind]} import {', '.join(names)}"
        for kind, names in _used_classes(records).items()
    ]
    return "\n".join(
        [
            TASK_COMMENTS[task],
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
