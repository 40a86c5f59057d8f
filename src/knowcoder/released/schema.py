"""Released KnowCoder schemas in: class definitions (JSON or prompt text) -> an ontology.

Reads both released formats: the ``eval/src/class_defs/*.json`` files (``{name: class code}``,
no docstrings) and the docstring classes of released prompts (``Description:`` /
``Examples:``). Every class keeps its name, parent, description, examples, relation
signature and roles (in the release's order) so that the ``released`` styles render it back
byte for byte. Parents and argument types the release names but never defines
(``class Dna(ChemicalCompound)``) become description-less placeholder classes, so the
ontology stays a closed taxonomy; the released styles never render them since they add no
ancestors. The ED ``mapping.json`` (fine -> coarse event type) is read by
:func:`load_ed_mapping`.

Nothing here executes the class code: it is read with regular expressions over its fixed
layout, and a class that does not fit the layout is an error naming the source and class.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from knowcoder.errors import OntologyError
from knowcoder.schema.ontology import BASE_CLASSES, Kind, Ontology, parse_ontology

_HEADER = re.compile(r"class (\w+)(?:\((\w+)\))?:\n")
_DOCSTRING = re.compile(r'\t"""\n((?:\t.*\n)*?)\t"""\n')
_RELATION = re.compile(r"def __init__\(self, head_entity: ([\w |]+), tail_entity: ([\w |]+)\):")
_ARG_NAMES = re.compile(r"\t\targ_names = \[(.*)\]\n")
_ARG_NAME = re.compile(r"""(['"])(.*?)\1""")
_ROLE = re.compile(r"^\t\t(\w+): List\[ ([\w |]+) \],? ?$", re.MULTILINE)
_TRIGGER_EXAMPLES = re.compile(r"^\t\ttrigger: str, # Examples: (.*)$", re.MULTILINE)
_CLASS_BLOCK = re.compile(r"^class \w+.*?(?=\n\n|\n\"\"\"|\Z)", re.MULTILINE | re.DOTALL)

CLASS_DEF_FILES = {
    "entity_class_defs.json": Kind.ENTITY,
    "relation_class_defs.json": Kind.RELATION,
    "ed_class_defs.json": Kind.EVENT,
    "eae_class_defs.json": Kind.EVENT,
}


@dataclass
class ReleasedClass:
    """One class as a released definition states it."""

    name: str
    kind: Kind
    parent: str | None
    source: str
    description: str | None = None
    examples: list[Any] | None = None
    head: list[str] | None = None
    tail: list[str] | None = None
    roles: list[tuple[str, list[str]]] | None = None  # (name, types); names only from ED
    released_init: str | None = None  # "arg_names" or "args", from ED templates


@dataclass
class SchemaImport:
    """Classes gathered from released sources, merged by name, in first-seen order."""

    classes: dict[str, ReleasedClass] = field(default_factory=dict)
    name: str = "knowcoder-released"

    def add(self, cls: ReleasedClass) -> None:
        old = self.classes.get(cls.name)
        if old is None:
            self.classes[cls.name] = cls
            return
        _merge(old, cls)

    def add_class_code(self, code: str, *, source: str) -> ReleasedClass | None:
        """One class definition (either format); base classes are skipped (``None``)."""
        cls = parse_class(code, source=source)
        if cls is not None:
            self.add(cls)
        return cls

    def to_dict(self) -> dict[str, Any]:
        """The ontology YAML layout, placeholders for undefined parents and types included."""
        sections: dict[Kind, list[dict[str, Any]]] = {kind: [] for kind in Kind}
        known = dict(self.classes)
        for cls in list(known.values()):
            for needed, kind in _referenced(cls):
                if needed in known:
                    if known[needed].kind != kind and not _is_base_of(needed, kind):
                        raise OntologyError(
                            f"{cls.name!r} needs {needed!r} as a {kind.value} class, but it is "
                            f"defined as a {known[needed].kind.value} class in {known[needed].source}",
                            path=cls.source,
                            field=cls.name,
                        )
                    continue
                if _is_base_of(needed, kind):
                    continue
                known[needed] = ReleasedClass(needed, kind, None, f"placeholder for {cls.name}")
        for cls in known.values():
            sections[cls.kind].append(_spec(cls))
        return {
            "name": self.name,
            "languages": ["en"],
            "inherit_roles": False,
            "entities": sections[Kind.ENTITY],
            "relations": sections[Kind.RELATION],
            "events": sections[Kind.EVENT],
        }

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), allow_unicode=True, sort_keys=False, width=100_000)

    def ontology(self, source: str = "<released schema>") -> Ontology:
        return parse_ontology(self.to_yaml(), source=source)


def _is_base_of(name: str, kind: Kind) -> bool:
    return name == kind.base_class


def _referenced(cls: ReleasedClass) -> list[tuple[str, Kind]]:
    out: list[tuple[str, Kind]] = []
    if cls.parent:
        out.append((cls.parent, cls.kind))
    for names in (cls.head or [], cls.tail or []):
        out.extend((n, Kind.ENTITY) for n in names)
    for _, types in cls.roles or []:
        out.extend((n, Kind.ENTITY) for n in types)
    return out


def _spec(cls: ReleasedClass) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": cls.name}
    if cls.parent and cls.parent != cls.kind.base_class:
        spec["parent"] = cls.parent
    if cls.description is not None:
        spec["description"] = {"en": cls.description}
    if cls.examples:
        spec["examples"] = {"en": [list(e) if isinstance(e, tuple) else e for e in cls.examples]}
    if cls.kind == Kind.RELATION:
        if cls.head:
            spec["head"] = cls.head
        if cls.tail:
            spec["tail"] = cls.tail
    if cls.kind == Kind.EVENT:
        if cls.roles:
            spec["roles"] = [{"name": n, **({"types": t} if t else {})} for n, t in cls.roles]
        if cls.released_init and cls.released_init != "arg_names":
            spec["released_init"] = cls.released_init
    return spec


def _merge(old: ReleasedClass, new: ReleasedClass) -> None:
    """One class seen twice (ED and EAE, or two prompts): the two must agree where both speak."""

    def clash(what: str, a: Any, b: Any) -> OntologyError:
        return OntologyError(
            f"{what} differs from its definition in {old.source}: {a!r} vs {b!r}",
            path=new.source,
            field=new.name,
        )

    if old.kind != new.kind:
        raise clash("kind", old.kind.value, new.kind.value)
    if (old.parent or None) != (new.parent or None):
        raise clash("parent", old.parent, new.parent)
    for attr in ("description", "examples", "head", "tail", "released_init"):
        a, b = getattr(old, attr), getattr(new, attr)
        if a is None:
            setattr(old, attr, b)
        elif b is not None and a != b:
            raise clash(attr, a, b)
    if new.roles is not None:
        if old.roles is None:
            old.roles = new.roles
        elif [n for n, _ in old.roles] != [n for n, _ in new.roles]:
            raise clash("roles", [n for n, _ in old.roles], [n for n, _ in new.roles])
        else:  # ED lists names only; EAE adds their types
            old.roles = [(n, t or u) for (n, t), (_, u) in zip(old.roles, new.roles, strict=True)]


# ---- one class ---------------------------------------------------------------------------
def parse_class(code: str, *, source: str) -> ReleasedClass | None:
    """A released class definition as a ``ReleasedClass``; ``None`` for a base class."""
    code = code.rstrip("\n") + "\n"
    header = _HEADER.match(code)
    if header is None:
        raise OntologyError("not a class definition (expected 'class Name(Parent):')", path=source)
    name, parent = header.group(1), header.group(2)

    def fail(message: str) -> OntologyError:
        return OntologyError(message, path=source, field=name)

    if parent is None:
        if name in BASE_CLASSES:
            return None
        raise fail("a class without a parent; only Entity, Relation and Event are base classes")
    body = code[header.end() :]
    description, examples_text = None, None
    doc = _DOCSTRING.match(body)
    if doc:
        body = body[doc.end() :]
        for line in doc.group(1).splitlines():
            line = line[1:]
            if line.startswith("Description: ") or line == "Description:":
                description = line[len("Description: ") :]
            elif line.startswith("Examples: ") or line == "Examples:":
                examples_text = line[len("Examples: ") :]
            else:
                raise fail(f"unexpected docstring line {line!r}; expected Description: or Examples:")
    if body.strip() == "pass":
        kind = Kind.ENTITY
        cls = ReleasedClass(name, kind, parent, source, description)
        cls.examples = _split_list(examples_text) if examples_text is not None else None
        return cls
    relation = _RELATION.search(body)
    if relation:
        cls = ReleasedClass(name, Kind.RELATION, parent, source, description)
        cls.head, cls.tail = _types(relation.group(1)), _types(relation.group(2))
        if examples_text is not None:
            cls.examples = _split_pairs(examples_text, fail)
        return cls
    if "trigger: str" not in body:
        raise fail("not an entity (pass), relation (head_entity) or event (trigger) class")
    cls = ReleasedClass(name, Kind.EVENT, parent, source, description)
    arg_names = _ARG_NAMES.search(body)
    if arg_names:  # ED
        cls.roles = [(m.group(2), []) for m in _ARG_NAME.finditer(arg_names.group(1))]
        if "super().__init__(trigger = trigger, arg_names = arg_names, *args)" not in body:
            cls.released_init = "arg_names" if "(self, trigger: str, arg_names, *args)" in body else "args"
        if examples_text is not None:
            cls.examples = _split_triggers(examples_text)
        return cls
    cls.roles = [(m.group(1), _types(m.group(2))) for m in _ROLE.finditer(body)]
    trigger_examples = _TRIGGER_EXAMPLES.search(body)
    if trigger_examples:
        cls.examples = _split_triggers(trigger_examples.group(1))
    return cls


def _types(text: str) -> list[str]:
    names = [part.strip() for part in text.split("|")]
    return [] if names == ["Entity"] else names


def _split_list(text: str) -> list[str]:
    return text.split(", ") if text else []


def _split_triggers(text: str) -> list[str]:
    # the release ends every trigger example with ", " ("Examples: a, b, ")
    return _split_list(text[:-2] if text.endswith(", ") else text)


def _split_pairs(text: str, fail: Any) -> list[tuple[str, str]]:
    if not text:
        return []
    if not (text.startswith("(") and text.endswith(")")):
        raise fail(f"relation examples {text[:60]!r} are not '(head, tail), ...' pairs")
    pairs = []
    for pair in text[1:-1].split("), ("):
        head, sep, tail = pair.partition(", ")
        if not sep:
            raise fail(f"relation example ({pair}) is not a '(head, tail)' pair")
        pairs.append((head, tail))
    return pairs


# ---- whole sources -----------------------------------------------------------------------
def import_class_defs(paths: Iterable[str | Path], schema: SchemaImport | None = None) -> SchemaImport:
    """Classes from released ``*_class_defs.json`` files (or a folder holding them)."""
    schema = schema or SchemaImport()
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = [path / name for name in CLASS_DEF_FILES if (path / name).is_file()]
            if not found:
                raise OntologyError(
                    f"no released class definition files here; expected any of {', '.join(CLASS_DEF_FILES)}",
                    path=path,
                )
            files.extend(found)
        else:
            files.append(path)
    for path in files:
        try:
            defs = json.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise OntologyError(f"cannot read class definitions: {error.strerror}", path=path) from error
        except json.JSONDecodeError as error:
            raise OntologyError(
                f"not valid JSON ({error.msg})", path=path, line=error.lineno, field="<json>"
            ) from error
        if not isinstance(defs, dict) or not all(isinstance(v, str) for v in defs.values()):
            raise OntologyError("expected a JSON object of class name -> class code", path=path)
        for key, code in defs.items():
            cls = schema.add_class_code(code, source=str(path))
            if cls is not None and cls.name != key:
                raise OntologyError(f"key {key!r} holds class {cls.name!r}", path=path, field=key)
    return schema


def prompt_query(prompt: str) -> str:
    """The query of a released prompt, without the system text and ``Input:``/``Output:`` wrapper."""
    if "\nInput:\n" in prompt or prompt.startswith("Input:\n"):
        prompt = prompt.split("Input:\n", 1)[1]
        if prompt.endswith("\nOutput:\n"):
            prompt = prompt[: -len("\nOutput:\n")]
    return prompt


def prompt_classes(prompt: str) -> list[str]:
    """Every class definition of a released prompt, in order, base classes included."""
    schema_part = prompt_query(prompt).split('\n"""\n', 1)[0]
    return [m.group(0) for m in _CLASS_BLOCK.finditer(schema_part)]


def import_prompt(prompt: str, *, source: str, schema: SchemaImport | None = None) -> list[str]:
    """Add the classes a released prompt defines; returns their names in prompt order."""
    schema = schema if schema is not None else SchemaImport()
    names = []
    for code in prompt_classes(prompt):
        cls = schema.add_class_code(code, source=source)
        if cls is not None:
            names.append(cls.name)
    return names


def load_ed_mapping(path: str | Path) -> dict[str, str]:
    """The release's ``mapping.json``: fine event type -> the coarse type its ED prompts use."""
    path = Path(path)
    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise OntologyError(f"cannot read the ED mapping: {error.strerror}", path=path) from error
    except json.JSONDecodeError as error:
        raise OntologyError(f"not valid JSON ({error.msg})", path=path, line=error.lineno) from error
    if not isinstance(mapping, dict):
        raise OntologyError("expected a JSON object of fine type -> coarse type", path=path)
    for fine, coarse in mapping.items():
        if not isinstance(coarse, str) or not coarse.isidentifier():
            raise OntologyError(f"expected a class name, got {coarse!r}", path=path, field=fine)
    return dict(mapping)


def check_ed_mapping(mapping: Mapping[str, str], ontology: Ontology, *, source: str) -> None:
    """Every coarse type of the mapping must be an event class of the ontology."""
    for fine, coarse in mapping.items():
        if ontology.kind_of(coarse) != Kind.EVENT or coarse not in ontology:
            raise OntologyError(
                f"maps to {coarse!r}, which is no event class of the imported schema", path=source, field=fine
            )
