"""Shared checks for canonical instances: exact offsets and agreement with the ontology."""

from __future__ import annotations

from knowcoder.data.instance import Instance, Span
from knowcoder.schema.ontology import Kind, Ontology


def span_problems(instance: Instance, span: Span, where: str) -> list[str]:
    """Problems of one span: out of range, empty, space-padded, or ``text`` not matching the sentence."""
    if not 0 <= span.start < span.end <= len(instance.text):
        return [f"{instance.id} {where}: span [{span.start}, {span.end}) outside the text or empty"]
    covered = instance.text[span.start : span.end]
    problems = []
    if covered != covered.strip():
        problems.append(f"{instance.id} {where}: span {covered!r} is space-padded")
    if span.text is not None and span.text != covered:
        problems.append(f"{instance.id} {where}: text {span.text!r} but the sentence has {covered!r}")
    return problems


def annotation_problems(instance: Instance, ontology: Ontology) -> list[str]:
    """Every way ``instance`` breaks exact offsets or the ontology's types, roles and constraints."""
    problems: list[str] = []
    if instance.entities is None or instance.relations is None or instance.events is None:
        return [f"{instance.id}: a task list is missing (all three are annotated in bundled data)"]
    for index, entity in enumerate(instance.entities):
        problems += span_problems(instance, entity, f"entities.{index}")
        if ontology.kind_of(entity.type) != Kind.ENTITY or entity.type not in ontology:
            problems.append(f"{instance.id} entities.{index}: {entity.type!r} is not an entity class")
    if problems:
        return problems
    for index, relation in enumerate(instance.relations):
        where = f"{instance.id} relations.{index}"
        if ontology.kind_of(relation.type) != Kind.RELATION or relation.type not in ontology:
            problems.append(f"{where}: {relation.type!r} is not a relation class")
            continue
        if not (relation.head < len(instance.entities) and relation.tail < len(instance.entities)):
            problems.append(f"{where}: head or tail index out of range")
            continue
        heads, tails = ontology.relation_signature(relation.type)
        head, tail = instance.entities[relation.head].type, instance.entities[relation.tail].type
        if not ontology.allows_argument(heads, head) or not ontology.allows_argument(tails, tail):
            problems.append(f"{where}: {relation.type}({head}, {tail}) breaks the head/tail constraint")
    entity_spans = {(e.start, e.end): e.type for e in instance.entities}
    for index, event in enumerate(instance.events):
        where = f"{instance.id} events.{index}"
        problems += span_problems(instance, event.trigger, f"events.{index}.trigger")
        if ontology.kind_of(event.type) != Kind.EVENT or event.type not in ontology:
            problems.append(f"{where}: {event.type!r} is not an event class")
            continue
        roles = {role.name: role.types for role in ontology.roles(event.type)}
        for arg_index, argument in enumerate(event.arguments):
            problems += span_problems(instance, argument, f"events.{index}.arguments.{arg_index}")
            entity_type = entity_spans.get((argument.start, argument.end))
            if argument.role not in roles:
                problems.append(f"{where}: {event.type} has no role {argument.role!r}")
            elif entity_type is None or argument.type != entity_type:
                problems.append(f"{where}: argument {arg_index} is not an annotated entity of its type")
            elif not ontology.allows_argument(roles[argument.role], entity_type):
                problems.append(f"{where}: role {argument.role} does not allow {entity_type}")
    return problems


def tasks_covered(instances: list[Instance]) -> set[str]:
    """Which of NER, RE, ED and EAE have at least one annotation among ``instances``."""
    covered = set()
    for instance in instances:
        if instance.entities:
            covered.add("ner")
        if instance.relations:
            covered.add("re")
        if instance.events:
            covered.add("ed")
        if any(event.arguments for event in instance.events or ()):
            covered.add("eae")
    return covered
