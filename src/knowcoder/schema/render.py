"""Render ontology classes as KnowCoder-style Python class definitions.

Two styles:

* ``knowcoder`` (default): the schema-understanding format of the paper — four-space
  indentation, docstrings with ``Description:`` and ``Examples:`` in a chosen language, every
  requested class plus its ancestors, base classes first, in a deterministic order.
* ``released`` and ``released-template``: byte for byte the classes of released KnowCoder
  (its shipped SFT prompts, and its ``generate_prompt.py`` templates), rendered by
  :mod:`knowcoder.released.render`: the requested classes only, in the given order.

Role names that are Python keywords (``from``, used by the released schemas) are written
``from_`` in the project's style, whose code must parse; the released styles write them as
the release does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from knowcoder.released.render import FORMATS, render_released_schema
from knowcoder.schema.literals import docstring_text, py_identifier
from knowcoder.schema.ontology import Kind, Ontology, TypeDef
from knowcoder.tasks import TASKS, Task, get_task

STYLES = ("knowcoder", *FORMATS)


@dataclass(frozen=True)
class SchemaOptions:
    style: str = "knowcoder"
    lang: str = "en"
    descriptions: bool = True
    max_examples: int = 3
    # "ontology": a fixed order (depth, then file order) whatever the input order;
    # "given": the input order, each class after its ancestors — for shuffled training prompts
    order: str = "ontology"

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"unknown schema style {self.style!r}; choose one of: {', '.join(STYLES)}")
        if self.order not in ("ontology", "given"):
            raise ValueError(f"unknown class order {self.order!r}; choose ontology or given")


def render_schema(
    ontology: Ontology,
    names: Iterable[str],
    task: str,
    options: SchemaOptions | None = None,
    *,
    memo: dict[tuple[str, str, SchemaOptions], str] | None = None,
) -> str:
    """Class definitions for ``names`` (any kinds) as a prompt for ``task`` (a registered task's name).

    The task says which kinds its prompts define (``schema_kinds``) and how they write event
    classes (``event_signature``). ``memo`` keeps each class's text across calls: a class
    renders the same in every type set, so prompts with sampled (ever-changing) type sets only
    pay for the joining.
    """
    options = options or SchemaOptions()
    try:
        task_obj = get_task(task)
    except KeyError:
        raise ValueError(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}") from None
    if options.style in FORMATS:  # the release keeps the caller's list as it is
        return render_released_schema(
            ontology, list(names), task_obj.name, FORMATS[options.style], options.lang
        )
    names = list(dict.fromkeys(names))
    return _render_knowcoder(ontology, names, task_obj, options, memo if memo is not None else {})


# ---- the project's docstring style ------------------------------------------------------
_IND = "    "

_BASE_DOCSTRINGS = {
    kind: f'{_IND}"""\n{_IND}The base class of all {noun}.\n{_IND}"""\n'
    for kind, noun in ((Kind.ENTITY, "entities"), (Kind.RELATION, "relations"), (Kind.EVENT, "events"))
}

_BASES = {
    Kind.ENTITY: (
        "class Entity:\n"
        f'{_IND}"""\n{_IND}The base class of all entities.\n{_IND}"""\n'
        f"{_IND}def __init__(self, name: str):\n"
        f"{_IND * 2}self.name = name"
    ),
    Kind.RELATION: (
        "class Relation:\n"
        f'{_IND}"""\n{_IND}The base class of all relations.\n{_IND}"""\n'
        f"{_IND}def __init__(self, head_entity: Entity, tail_entity: Entity):\n"
        f"{_IND * 2}self.head_entity = head_entity\n"
        f"{_IND * 2}self.tail_entity = tail_entity"
    ),
    Kind.EVENT: (
        "class Event:\n"
        f'{_IND}"""\n{_IND}The base class of all events.\n{_IND}"""\n'
        f"{_IND}def __init__(self, trigger: str):\n"
        f"{_IND * 2}self.trigger = trigger"
    ),
}


def _render_knowcoder(
    ontology: Ontology,
    names: list[str],
    task: Task,
    options: SchemaOptions,
    memo: dict[tuple[str, str, SchemaOptions], str],
) -> str:
    kinds = task.schema_kinds
    closed = ontology.with_types(names) if options.order == "ontology" else _given_order(ontology, names)
    blocks: list[str] = []
    for kind in kinds:
        members = [n for n in closed if ontology.types[n].kind == kind]
        if not members and kind != kinds[-1]:
            continue
        base = _BASES[kind]
        if not options.descriptions:  # the base classes' docstrings go with the others'
            base = base.replace(_BASE_DOCSTRINGS[kind], "")
        blocks.append(base)
        for name in members:
            key = (name, task.name, options)
            text = memo.get(key)
            if text is None:
                text = memo[key] = _render_class(ontology, ontology.types[name], task, options)
            blocks.append(text)
    return "\n\n".join(blocks)


def _given_order(ontology: Ontology, names: Sequence[str]) -> list[str]:
    ordered: dict[str, None] = {}
    for name in names:
        for ancestor in reversed(ontology.ancestors(name)):
            ordered.setdefault(ancestor)
        ordered.setdefault(name)
    return list(ordered)


def _docstring(lines: Sequence[str]) -> str:
    body = "".join(f"{_IND}{line}\n" for line in lines)
    return f'{_IND}"""\n{body}{_IND}"""\n'


def _render_class(ontology: Ontology, typedef: TypeDef, task: Task, options: SchemaOptions) -> str:
    # "trigger" (ED): examples and argument names in the docstring; "roles" (EAE): in __init__
    trigger_only = task.event_signature == "trigger"
    lines: list[str] = []
    if options.descriptions:
        description = typedef.description(options.lang)
        if description:
            lines.append(f"Description: {docstring_text(description)}")
        examples = list(typedef.examples(options.lang))[: options.max_examples]
        if examples:
            shown = (
                [f"({head}, {tail})" for head, tail in examples]
                if typedef.kind == Kind.RELATION
                else examples
            )
            if typedef.kind != Kind.EVENT or trigger_only:
                lines.append(f"Examples: {docstring_text(', '.join(map(str, shown)))}")
        if typedef.kind == Kind.EVENT and trigger_only:
            roles = [py_identifier(role.name) for role in ontology.roles(typedef.name)]
            if roles:
                lines.append(f"Arguments: {', '.join(roles)}")
    header = f"class {typedef.name}({typedef.parent}):\n"
    doc = _docstring(lines) if lines else ""
    body = _class_body(ontology, typedef, task, options)
    if not body and not doc:
        body = f"{_IND}pass\n"
    return (header + doc + body).rstrip("\n")


def _union(names: Sequence[str]) -> str:
    return " | ".join(names) if names else "Entity"


def _class_body(ontology: Ontology, typedef: TypeDef, task: Task, options: SchemaOptions) -> str:
    if typedef.kind == Kind.RELATION:
        heads, tails = ontology.relation_signature(typedef.name)
        return (
            f"{_IND}def __init__(self, head_entity: {_union(heads)}, tail_entity: {_union(tails)}):\n"
            f"{_IND * 2}super().__init__(head_entity=head_entity, tail_entity=tail_entity)\n"
        )
    if typedef.kind == Kind.EVENT and task.event_signature == "roles":
        roles = ontology.roles(typedef.name)
        examples = list(typedef.examples(options.lang))[: options.max_examples]
        trigger_comment = (
            f"  # Examples: {docstring_text(', '.join(map(str, examples)))}"
            if options.descriptions and examples
            else ""
        )
        params = [f"{_IND * 2}self,", f"{_IND * 2}trigger: str,{trigger_comment}"]
        names = [py_identifier(role.name) for role in roles]
        params += [f"{_IND * 2}{n}: list[{_union(r.types)}]," for n, r in zip(names, roles, strict=True)]
        assigns = [f"{_IND * 2}self.{n} = {n}" for n in names]
        return (
            f"{_IND}def __init__(\n" + "\n".join(params) + f"\n{_IND}):\n"
            f"{_IND * 2}super().__init__(trigger=trigger)\n" + "".join(line + "\n" for line in assigns)
        )
    if typedef.kind == Kind.EVENT:
        return f"{_IND}def __init__(self, trigger: str):\n{_IND * 2}super().__init__(trigger=trigger)\n"
    return ""
