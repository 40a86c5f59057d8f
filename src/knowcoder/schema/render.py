"""Render ontology classes as KnowCoder-style Python class definitions.

Two styles:

* ``knowcoder`` (default): the schema-understanding format of the paper — four-space
  indentation, docstrings with ``Description:`` and ``Examples:`` in a chosen language, every
  requested class plus its ancestors, base classes first, in a deterministic order.
* ``released``: byte-for-byte the class definitions of the released KnowCoder evaluation
  code (tabs, no docstrings, only the requested classes, ``List[ X ]`` role hints and the
  ``from Entities import ...`` line for relations), so released checkpoints see the prompts
  they were trained on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from knowcoder.schema.literals import docstring_text
from knowcoder.schema.ontology import Kind, Ontology, RelationSpec, TypeDef

STYLES = ("knowcoder", "released")

_TASK_KINDS = {
    "ner": (Kind.ENTITY,),
    "re": (Kind.ENTITY, Kind.RELATION),
    "ed": (Kind.EVENT,),
    "eae": (Kind.ENTITY, Kind.EVENT),
}


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
    """Class definitions for ``names`` (any kinds) as a prompt for ``task`` (ner, re, ed, eae).

    ``memo`` keeps each class's text across calls: a class renders the same in every type set,
    so prompts with sampled (ever-changing) type sets only pay for the joining.
    """
    options = options or SchemaOptions()
    if task not in _TASK_KINDS:
        raise ValueError(f"unknown task {task!r}; choose one of: {', '.join(_TASK_KINDS)}")
    names = list(dict.fromkeys(names))
    if options.style == "released":
        return _render_released(ontology, names, task)
    return _render_knowcoder(ontology, names, task, options, memo if memo is not None else {})


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
    task: str,
    options: SchemaOptions,
    memo: dict[tuple[str, str, SchemaOptions], str],
) -> str:
    kinds = _TASK_KINDS[task]
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
            key = (name, task, options)
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


def _render_class(ontology: Ontology, typedef: TypeDef, task: str, options: SchemaOptions) -> str:
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
            if typedef.kind != Kind.EVENT or task == "ed":
                lines.append(f"Examples: {docstring_text(', '.join(map(str, shown)))}")
        if typedef.kind == Kind.EVENT and task == "ed":
            roles = [role.name for role in ontology.roles(typedef.name)]
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


def _class_body(ontology: Ontology, typedef: TypeDef, task: str, options: SchemaOptions) -> str:
    if typedef.kind == Kind.RELATION:
        heads, tails = ontology.relation_signature(typedef.name)
        return (
            f"{_IND}def __init__(self, head_entity: {_union(heads)}, tail_entity: {_union(tails)}):\n"
            f"{_IND * 2}super().__init__(head_entity=head_entity, tail_entity=tail_entity)\n"
        )
    if typedef.kind == Kind.EVENT and task == "eae":
        roles = ontology.roles(typedef.name)
        examples = list(typedef.examples(options.lang))[: options.max_examples]
        trigger_comment = (
            f"  # Examples: {docstring_text(', '.join(map(str, examples)))}"
            if options.descriptions and examples
            else ""
        )
        params = [f"{_IND * 2}self,", f"{_IND * 2}trigger: str,{trigger_comment}"]
        params += [f"{_IND * 2}{role.name}: list[{_union(role.types)}]," for role in roles]
        assigns = [f"{_IND * 2}self.{role.name} = {role.name}" for role in roles]
        return (
            f"{_IND}def __init__(\n" + "\n".join(params) + f"\n{_IND}):\n"
            f"{_IND * 2}super().__init__(trigger=trigger)\n" + "".join(line + "\n" for line in assigns)
        )
    if typedef.kind == Kind.EVENT:
        return f"{_IND}def __init__(self, trigger: str):\n{_IND * 2}super().__init__(trigger=trigger)\n"
    return ""


# ---- the released evaluation format -----------------------------------------------------
_RELEASED_ENTITY = "class Entity:\n\tdef __init__(self, name: str):\n\t\tself.name = name"
_RELEASED_RELATION = (
    "class Relation:\n\tdef __init__(self, head_entity: Entity, tail_entity: Entity):\n"
    "\t\tself.head_entity = head_entity\n\t\tself.tail_entity = tail_entity"
)
_RELEASED_EVENT_ED = (
    "class Event:\n\tdef __init__(self, trigger: str, arg_names, *args):\n"
    "\t\tself.trigger = trigger\n\t\tself.arguments = {}\n"
    "\t\tfor arg_name, arg_values in zip(arg_names, args):\n"
    "\t\t\tself.arguments[arg_name] = arg_values"
)
_RELEASED_EVENT_EAE = "class Event:\n\tdef __init__(self, trigger: str):\n\t\tself.trigger = trigger"


def _render_released(ontology: Ontology, names: list[str], task: str) -> str:
    """Reproduce the released Jinja templates: ``base\\n`` then ``\\n{class}\\n`` per class."""
    kind = Kind.RELATION if task == "re" else Kind.EVENT if task in ("ed", "eae") else Kind.ENTITY
    selected = [n for n in names if ontology[n].kind == kind]
    defs = [_released_class(ontology, ontology[n], task) for n in selected]
    if task == "ner":
        head = _RELEASED_ENTITY
    elif task == "re":
        used: set[str] = set()
        for name in selected:
            heads, tails = ontology.relation_signature(name)
            used.update(heads or ("Entity",))
            used.update(tails or ("Entity",))
        used.discard("Entity")
        # The released code built this line from a set (arbitrary order); sorted is stable.
        imports = f"from Entities import {', '.join(sorted(used))}" if used else ""
        head = f"{imports}\n{_RELEASED_ENTITY}\n\n{_RELEASED_RELATION}"
    elif task == "ed":
        head = _RELEASED_EVENT_ED
    else:
        head = f"{_RELEASED_ENTITY}\n\n{_RELEASED_EVENT_EAE}"
    return (head + "\n" + "".join(f"\n{d}\n" for d in defs)).strip()


def _released_class(ontology: Ontology, typedef: TypeDef, task: str) -> str:
    header = f"class {typedef.name}({typedef.parent}):\n"
    if typedef.kind == Kind.ENTITY:
        return header + "\tpass"
    if typedef.kind == Kind.RELATION:
        assert isinstance(typedef.spec, RelationSpec)
        heads, tails = ontology.relation_signature(typedef.name)
        return (
            header + f"\tdef __init__(self, head_entity: {_union(heads)}, tail_entity: {_union(tails)}):\n"
            "\t\tsuper().__init__(head_entity=head_entity, tail_entity=tail_entity)"
        )
    roles = sorted(ontology.roles(typedef.name), key=lambda role: role.name)
    if task == "ed":
        arg_names = ", ".join(repr(role.name) for role in roles)
        return (
            header + "\tdef __init__(self, trigger: str, arg_names, *args):\n"
            f"\t\targ_names = [{arg_names}]\n"
            "\t\tsuper().__init__(trigger, arg_names, *args)"
        )
    params = "".join(f"\t\t{role.name}: List[ {_union(role.types)} ], \n" for role in roles)
    if params:
        params = params[: -len(", \n")] + "\n"
    assigns = "".join(f"\n\t\tself.{role.name} = {role.name}" for role in roles)
    return (
        header + "\tdef __init__(\n\t\tself,\n\t\ttrigger: str,\n" + params + "\t):\n"
        "\t\tsuper().__init__(trigger=trigger)" + assigns
    )
