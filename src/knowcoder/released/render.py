"""Class definitions and queries exactly as released KnowCoder writes them.

Two formats, both taken byte for byte from ICT-GoKnow/KnowCoder:

* ``docstring`` (style ``released``): the prompts of the shipped SFT data
  (``sft/data/example_data/example_data.jsonl``): tabs, base classes with "The base class for
  all ..." docstrings, ``Description:`` / ``Examples:`` docstrings, lowercase "some" in the
  instruction, the EAE trigger lead-in.
* ``template`` (style ``released-template``): ``eval/src/generate_prompt.py`` with its Jinja
  templates (``eval/src/template/*``) and ``eval/src/class_defs/*.json``: no docstrings,
  "Some", the ``from Entities import ...`` line for relations, two ED constructor forms.

Both keep the caller's class order, add no ancestors, write only the task's own kind of
class, insert the sentence raw (``sentence = "{sentence}"``, as the release does) and keep
each class's roles in the order the ontology lists them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from knowcoder.schema.ontology import EventSpec, Kind, Ontology, RelationSpec, RoleSpec, TypeDef

FORMATS = {"released": "docstring", "released-template": "template"}

_TASK_KIND = {"ner": Kind.ENTITY, "re": Kind.RELATION, "ed": Kind.EVENT, "eae": Kind.EVENT}

# ---- instructions ------------------------------------------------------------------------
_OOP = "This is an object-oriented programming task: {some} {what} are defined above. "
_PLEASE = "Please instantiate all the corresponding {objects} Objects in the following sentence."
_WHAT = {
    "ner": ("Entity Classes", "Entity"),
    "re": ("Relation Classes and related Entity Classes", "Relation"),
    "ed": ("Event Classes", "Event"),
    "eae": ("Event Classes", "Event"),
}


def instruction(task: str, fmt: str) -> str:
    """The released instruction; the template's EAE one ends in a space, as the file does."""
    what, objects = _WHAT[task]
    text = _OOP.format(some="Some" if fmt == "template" else "some", what=what) + _PLEASE.format(
        objects=objects
    )
    return text + " " if fmt == "template" and task == "eae" else text


TRIGGER_LEAD_IN = " It is important to note that the triggers of the events are confirmed as follows: "


def trigger_hint(triggers: Iterable[tuple[str, str]]) -> str:
    """The shipped EAE prompts' lead-in and ``"t" is the trigger of event type "T"`` clauses.

    Several clauses are joined with ``"; "`` and end in ``.``, as the (commented-out) code in
    ``generate_prompt.py`` builds them; the shipped data only shows single triggers.
    """
    clauses = [f'"{trigger}" is the trigger of event type "{event}"' for trigger, event in triggers]
    return f"{TRIGGER_LEAD_IN}{'; '.join(clauses)}." if clauses else ""


def query(schema: str, instruction_text: str, sentence: str, fmt: str) -> str:
    """Classes, instruction and raw sentence.

    The shipped prompts end in a newline after the sentence (so the model input reads
    ``..."\n\nOutput:\n``); ``generate_prompt.py`` strips both ends of its template instead.
    """
    text = f'{schema}\n\n"""\n{instruction_text}\n"""\nsentence = "{sentence}"'
    return text.strip() if fmt == "template" else text + "\n"


# ---- base classes ------------------------------------------------------------------------
_ENTITY_INIT = "\tdef __init__(self, name: str):\n\t\tself.name = name"
_RELATION_INIT = (
    "\tdef __init__(self, head_entity: Entity, tail_entity: Entity):\n"
    "\t\tself.head_entity = head_entity\n\t\tself.tail_entity = tail_entity"
)
_EVENT_ED_INIT = (
    "\tdef __init__(self, trigger: str, arg_names, *args):\n"
    "\t\tself.trigger = trigger\n\t\tself.arguments = {}\n"
    "\t\tfor arg_name, arg_values in zip(arg_names, args):\n"
    "\t\t\tself.arguments[arg_name] = arg_values"
)
_EVENT_EAE_INIT = "\tdef __init__(self, trigger: str):\n\t\tself.trigger = trigger"


def _base(name: str, noun: str, init: str, fmt: str) -> str:
    doc = f'\t"""\n\tThe base class for all {noun}.\n\t"""\n' if fmt == "docstring" else ""
    return f"class {name}:\n{doc}{init}"


def base_classes(task: str, fmt: str) -> list[str]:
    """The base classes a released prompt of ``task`` opens with."""
    entity = _base("Entity", "entities", _ENTITY_INIT, fmt)
    if task == "ner":
        return [entity]
    if task == "re":
        return [entity, _base("Relation", "relations", _RELATION_INIT, fmt)]
    if task == "ed":
        return [_base("Event", "events", _EVENT_ED_INIT, fmt)]
    return [entity, _base("Event", "events", _EVENT_EAE_INIT, fmt)]


# ---- one class ---------------------------------------------------------------------------
def class_roles(ontology: Ontology, typedef: TypeDef) -> tuple[RoleSpec, ...]:
    """The roles a released class lists, in the ontology's order (imported released schemas
    set ``inherit_roles: false``, since each released class lists all of its roles)."""
    return ontology.roles(typedef.name)


def _union(names: Sequence[str]) -> str:
    return " | ".join(names) if names else "Entity"


def _docstring(lines: Sequence[str]) -> str:
    return '\t"""\n' + "".join(f"\t{line}\n" for line in lines) + '\t"""\n'


def render_class(ontology: Ontology, typedef: TypeDef, task: str, fmt: str, lang: str = "en") -> str:
    """One class exactly as the released format writes it for ``task``."""
    if fmt == "template":
        return _template_class(ontology, typedef, task)
    return _docstring_class(ontology, typedef, task, lang)


def _docstring_class(ontology: Ontology, typedef: TypeDef, task: str, lang: str) -> str:
    header = f"class {typedef.name}({typedef.parent}):\n"
    description = f"Description: {typedef.description(lang)}"
    examples = typedef.examples(lang)
    if typedef.kind == Kind.ENTITY:
        return header + _docstring([description, f"Examples: {', '.join(examples)}"]) + "\tpass"
    if typedef.kind == Kind.RELATION:
        assert isinstance(typedef.spec, RelationSpec)
        pairs = ", ".join(f"({head}, {tail})" for head, tail in examples)
        heads, tails = ontology.relation_signature(typedef.name)
        return (
            header
            + _docstring([description, f"Examples: {pairs}"])
            + f"\tdef __init__(self, head_entity: {_union(heads)}, tail_entity: {_union(tails)}):\n"
            "\t\tsuper().__init__(head_entity = head_entity, tail_entity = tail_entity)"
        )
    triggers = "".join(f"{example}, " for example in examples)  # the release ends each with ", "
    roles = class_roles(ontology, typedef)
    if task == "ed":
        arg_names = ", ".join(f'"{role.name}"' for role in roles)
        return (
            header
            + _docstring([description, f"Examples: {triggers}"])
            + "\tdef __init__(self, trigger: str, *args):\n"
            f"\t\targ_names = [{arg_names}]\n"
            "\t\tsuper().__init__(trigger = trigger, arg_names = arg_names, *args)"
        )
    # the trigger's comma is written before its comment, so the comment ends the line
    params = f"\t\ttrigger: str, # Examples: {triggers}" + "".join(
        f"\n\t\t{role.name}: List[ {_union(role.types)} ]" + ("," if i < len(roles) - 1 else "")
        for i, role in enumerate(roles)
    )
    assigns = "".join(f"\n\t\tself.{role.name} = {role.name}" for role in roles)
    return (
        header
        + _docstring([description])
        + "\tdef __init__(\n\t\tself,\n"
        + params
        + "\n\t):\n\t\tsuper().__init__(trigger = trigger)"
        + assigns
    )


def _template_class(ontology: Ontology, typedef: TypeDef, task: str) -> str:
    header = f"class {typedef.name}({typedef.parent}):\n"
    if typedef.kind == Kind.ENTITY:
        return header + "\tpass"
    if typedef.kind == Kind.RELATION:
        heads, tails = ontology.relation_signature(typedef.name)
        return (
            header + f"\tdef __init__(self, head_entity: {_union(heads)}, tail_entity: {_union(tails)}):\n"
            "\t\tsuper().__init__(head_entity=head_entity, tail_entity=tail_entity)"
        )
    roles = class_roles(ontology, typedef)
    if task == "ed":
        arg_names = str([role.name for role in roles])  # a Python list's repr, as in the JSON
        form = typedef.spec.released_init if isinstance(typedef.spec, EventSpec) else "arg_names"
        if form == "args":
            return (
                header + "\tdef __init__(self, trigger: str, *args):\n"
                f"\t\targ_names = {arg_names}\n"
                "\t\tsuper().__init__(*args, trigger=trigger, arg_names=arg_names)"
            )
        return (
            header + "\tdef __init__(self, trigger: str, arg_names, *args):\n"
            f"\t\targ_names = {arg_names}\n"
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


# ---- a whole schema ----------------------------------------------------------------------
def relation_imports(ontology: Ontology, relations: Sequence[str]) -> list[str]:
    """Entity classes for the template's ``from Entities import`` line.

    The release builds this list with ``list(set(...))``, whose order changes from one Python
    process to the next (string hashing is randomised), so no order is *the* released one;
    this project writes the names sorted, which is stable and reproducible.
    """
    used: set[str] = set()
    for name in relations:
        heads, tails = ontology.relation_signature(name)
        used.update(heads or ("Entity",))
        used.update(tails or ("Entity",))
    used.discard("Entity")
    return sorted(used)


def render_released_schema(
    ontology: Ontology, names: Sequence[str], task: str, fmt: str, lang: str = "en"
) -> str:
    """Base classes, then the task's own classes among ``names`` in the given order."""
    kind = _TASK_KIND[task]
    selected = [n for n in names if ontology[n].kind == kind]
    defs = [render_class(ontology, ontology[n], task, fmt, lang) for n in selected]
    bases = base_classes(task, fmt)
    if fmt == "docstring":
        return "\n\n".join([*bases, *defs])
    head = "\n\n".join(bases)
    if task == "re":
        imports = relation_imports(ontology, selected)
        head = (f"from Entities import {', '.join(imports)}" if imports else "") + "\n" + head
    # the Jinja templates write ``base\n`` then ``\n{class}\n`` per class; the caller strips
    return (head + "\n" + "".join(f"\n{d}\n" for d in defs)).strip()
