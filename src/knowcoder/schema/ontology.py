"""The ontology: entity, relation and event types as classes of one taxonomy.

One YAML file holds every type with its parent, multilingual description and examples,
per-dataset label aliases, relation head/tail constraints and event roles. Loading checks
the whole file and reports the first problem as ``file:line: kind[Name]: message``.

YAML layout::

    name: sample
    languages: [en, zh]
    entities:
      - name: Person
        parent: Entity              # optional; defaults to the base class of the kind
        description: {en: "...", zh: "..."}
        examples: {en: [Ada Park], zh: [李明]}
        aliases: {"*": [person, PER], msra: [人物]}   # "*" applies to every dataset
    relations:
      - name: Employment
        head: [Person]              # allowed head types (subclasses allowed too)
        tail: [Organization]
        examples: {en: [[Ada Park, Acme Corp]]}
    events:
      - name: StartPosition
        parent: Personnel
        examples: {en: [joined, hired]}   # trigger words
        roles:
          - {name: employee, types: [Person]}
          - {name: employer, types: [Organization]}
"""

from __future__ import annotations

import gc
import keyword
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from knowcoder.errors import OntologyError

ANY_DATASET = "*"


class Kind(StrEnum):
    ENTITY = "entity"
    RELATION = "relation"
    EVENT = "event"

    @property
    def base_class(self) -> str:
        return _BASE_CLASS[self]

    @property
    def section(self) -> str:
        return f"{self.value}s" if self != Kind.ENTITY else "entities"


_BASE_CLASS = {Kind.ENTITY: "Entity", Kind.RELATION: "Relation", Kind.EVENT: "Event"}
BASE_CLASSES = frozenset(_BASE_CLASS.values())

_STRICT = ConfigDict(extra="forbid", frozen=True)


class RoleSpec(BaseModel):
    model_config = _STRICT

    name: str
    types: tuple[str, ...] = ()
    description: dict[str, str] = Field(default_factory=dict)
    aliases: dict[str, tuple[str, ...]] = Field(default_factory=dict)  # dataset ("*" = any) -> labels


class AliasSpec(BaseModel):
    """An alias written as a mapping: ``{label: 创始人, swap: true}``.

    ``swap`` (relations only) says the dataset writes the relation the other way round: its
    first argument is the class's tail and its second the head.
    """

    model_config = _STRICT

    label: str
    swap: bool = False


class _TypeSpec(BaseModel):
    model_config = _STRICT

    name: str
    parent: str | None = None
    description: dict[str, str] = Field(default_factory=dict)
    aliases: dict[str, tuple[str | AliasSpec, ...]] = Field(default_factory=dict)


class EntitySpec(_TypeSpec):
    examples: dict[str, tuple[str, ...]] = Field(default_factory=dict)


class RelationSpec(_TypeSpec):
    examples: dict[str, tuple[tuple[str, str], ...]] = Field(default_factory=dict)
    head: tuple[str, ...] = ()
    tail: tuple[str, ...] = ()


class EventSpec(_TypeSpec):
    examples: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    roles: tuple[RoleSpec, ...] = ()
    # released KnowCoder's ED constructor: "arg_names" is ``(self, trigger: str, arg_names, *args)``,
    # "args" is ``(self, trigger: str, *args)``; only the released-template style reads it
    released_init: Literal["arg_names", "args"] = "arg_names"


class _OntologyFile(BaseModel):
    model_config = _STRICT

    name: str = "ontology"
    languages: tuple[str, ...] = ("en",)
    # false: every event class lists all its roles (released KnowCoder's schemas do)
    inherit_roles: bool = True
    entities: tuple[EntitySpec, ...] = ()
    relations: tuple[RelationSpec, ...] = ()
    events: tuple[EventSpec, ...] = ()


_SPEC_BY_KIND: dict[Kind, type[_TypeSpec]] = {
    Kind.ENTITY: EntitySpec,
    Kind.RELATION: RelationSpec,
    Kind.EVENT: EventSpec,
}


@dataclass(frozen=True)
class TypeDef:
    """One class of the ontology, with where it was defined."""

    kind: Kind
    spec: EntitySpec | RelationSpec | EventSpec
    line: int | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def parent(self) -> str:
        return self.spec.parent or self.kind.base_class

    def description(self, lang: str, fallback: str = "en") -> str:
        return _pick_language(self.spec.description, lang, fallback) or ""

    def examples(self, lang: str, fallback: str = "en") -> tuple[Any, ...]:
        return _pick_language(self.spec.examples, lang, fallback) or ()


def _pick_language(values: Mapping[str, Any], lang: str, fallback: str) -> Any:
    if lang in values:
        return values[lang]
    if fallback in values:
        return values[fallback]
    return next(iter(values.values()), None)


def _label_key(label: str) -> str:
    return " ".join(label.split()).casefold()


def _role_key(label: str) -> str:
    return " ".join(label.replace("_", " ").replace("-", " ").split()).casefold()


@dataclass
class Ontology:
    """A validated taxonomy of entity, relation and event classes."""

    name: str
    languages: tuple[str, ...]
    types: dict[str, TypeDef]
    source: str = "<ontology>"
    _aliases: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)
    _swapped: set[tuple[str, str]] = field(default_factory=set, repr=False)
    inherit_roles: bool = True

    # ---- lookups -------------------------------------------------------------------------
    def __contains__(self, name: object) -> bool:
        return name in self.types

    def __getitem__(self, name: str) -> TypeDef:
        try:
            return self.types[name]
        except KeyError:
            raise OntologyError(
                f"unknown type {name!r}; known types: {_preview(self.types)}", path=self.source
            ) from None

    def names(self, kind: Kind) -> list[str]:
        """Type names of one kind in file order."""
        return list(self._names_of_kind[kind])

    def kind_index(self, kind: Kind) -> tuple[tuple[str, ...], dict[str, int]]:
        """The names of one kind in file order, and each one's position among them (cached)."""
        names = self._names_of_kind[kind]
        index = self._kind_positions.get(kind)
        if index is None:
            index = self._kind_positions[kind] = {name: at for at, name in enumerate(names)}
        return names, index

    @cached_property
    def _kind_positions(self) -> dict[Kind, dict[str, int]]:
        return {}

    @cached_property
    def _names_of_kind(self) -> dict[Kind, tuple[str, ...]]:
        names: dict[Kind, list[str]] = {kind: [] for kind in Kind}
        for name, typedef in self.types.items():
            names[typedef.kind].append(name)
        return {kind: tuple(members) for kind, members in names.items()}

    def kind_of(self, name: str) -> Kind | None:
        if name in self.types:
            return self.types[name].kind
        for kind in Kind:
            if kind.base_class == name:
                return kind
        return None

    def ancestors(self, name: str) -> list[str]:
        """Parents of ``name`` from nearest to the kind's base class (excluded)."""
        return list(self._closure(name))

    def _closure(self, name: str) -> tuple[str, ...]:
        """``ancestors`` as a tuple, computed once per class from its parent's."""
        chain = self._closures.get(name)
        if chain is not None:
            return chain
        base_class = self[name].kind.base_class
        # walk up to the first class whose chain is known (parents share the class's kind);
        # an entity class may be named ``Event`` (the released schemas have one): the walk stops
        # at the kind's own base class, never crossing into a class of another kind
        pending = [name]
        current = self.types[name].parent
        while current in self.types and current != base_class and current not in self._closures:
            pending.append(current)
            current = self.types[current].parent
        known = self._closures.get(current, ()) if current in self.types and current != base_class else None
        chain = (current, *known) if known is not None else ()
        for child in reversed(pending):
            self._closures[child] = chain
            chain = (child, *chain)
        return self._closures[name]

    @cached_property
    def _closures(self) -> dict[str, tuple[str, ...]]:
        return {}

    def is_a(self, name: str, ancestor: str) -> bool:
        """True when ``name`` equals ``ancestor`` or descends from it (base classes included)."""
        if name == ancestor:
            return True
        if name not in self.types:
            return False
        if ancestor == self.types[name].kind.base_class:
            return True
        return ancestor in self._closure(name)

    def depth(self, name: str) -> int:
        return len(self._closure(name))

    @cached_property
    def _children(self) -> dict[str, list[str]]:
        children: dict[str, list[str]] = {}
        for name, typedef in self.types.items():
            children.setdefault(typedef.parent, []).append(name)
        return children

    def descendants(self, name: str) -> list[str]:
        out: list[str] = []
        stack = list(reversed(self._children.get(name, [])))
        while stack:
            current = stack.pop()
            out.append(current)
            stack.extend(reversed(self._children.get(current, [])))
        return out

    def roles(self, event: str) -> tuple[RoleSpec, ...]:
        """Roles of an event class, inherited ones first; a child's role overrides its parent's."""
        merged: dict[str, RoleSpec] = {}
        lineage = [*reversed(self.ancestors(event)), event] if self.inherit_roles else [event]
        for name in lineage:
            spec = self.types[name].spec
            for role in getattr(spec, "roles", ()):
                merged[role.name] = role
        return tuple(merged.values())

    def relation_signature(self, relation: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Allowed (head types, tail types) of a relation, inherited from the nearest ancestor."""
        for name in [relation, *self.ancestors(relation)]:
            spec = self.types[name].spec
            if isinstance(spec, RelationSpec) and (spec.head or spec.tail):
                return spec.head, spec.tail
        return (), ()

    def allows_argument(self, allowed: Iterable[str], entity_type: str) -> bool:
        """True when ``entity_type`` fits a constraint list (an empty list allows anything)."""
        allowed = tuple(allowed)
        return not allowed or any(self.is_a(entity_type, a) for a in allowed)

    def resolve_label(self, label: str, dataset: str | None = None) -> str | None:
        """Map a dataset label (any language, any case) to its class name, or ``None``."""
        key = _label_key(label)
        if dataset is not None and (dataset, key) in self._aliases:
            return self._aliases[(dataset, key)]
        return self._aliases.get((ANY_DATASET, key))

    def relation_swapped(self, label: str, dataset: str | None = None) -> bool:
        """True when the alias that ``resolve_label`` used for ``label`` is marked ``swap``."""
        key = _label_key(label)
        if dataset is not None and (dataset, key) in self._aliases:
            return (dataset, key) in self._swapped
        return (ANY_DATASET, key) in self._swapped

    def resolve_role(self, event: str, label: str, dataset: str | None = None) -> str | None:
        """The declared role of ``event`` that a dataset's role label names, or ``None``.

        A label matches a role's name ignoring case and treating spaces, ``-`` and ``_`` alike
        (``compromised data`` -> ``compromised_data``), or one of the role's aliases for the
        dataset (then for ``"*"``).
        """
        key = _role_key(label)
        roles = self.roles(event) if event in self.types else ()
        for role in roles:
            if _role_key(role.name) == key:
                return role.name
        for scope in ([dataset] if dataset is not None else []) + [ANY_DATASET]:
            for role in roles:
                if any(_role_key(alias) == key for alias in role.aliases.get(scope, ())):
                    return role.name
        return None

    def with_types(self, names: Iterable[str]) -> list[str]:
        """``names`` plus all their ancestors, ancestors first, in a deterministic order."""
        wanted: set[str] = set()
        for name in names:
            self[name]  # raises a clear error for an unknown name
            wanted.add(name)
            wanted.update(self.ancestors(name))
        return sorted(wanted, key=lambda n: (self.depth(n), self._order[n]))

    @cached_property
    def _order(self) -> dict[str, int]:
        return {name: index for index, name in enumerate(self.types)}


def _preview(names: Iterable[str], limit: int = 8) -> str:
    items = list(names)
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")


# libyaml when PyYAML has it: a 30k-class file parses in about a second instead of half a minute
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


_MAP_TAG, _SEQ_TAG, _STR_TAG = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:str"


def _parse_yaml(text: str) -> tuple[Any, yaml.Node | None]:
    """The document and its node tree, from one parse (the nodes give line numbers)."""
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        return (_construct(node, loader) if node is not None else None), node
    finally:
        loader.dispose()


def _construct(node: yaml.Node, loader: Any) -> Any:
    """What ``safe_load`` builds, with plain maps, lists and strings built directly (3x faster);
    any other node (numbers, booleans, merge keys, anchors' tags) goes to PyYAML's constructor."""
    tag = node.tag
    if tag == _STR_TAG:
        return node.value
    if tag == _SEQ_TAG:
        return [_construct(item, loader) for item in node.value]
    if tag == _MAP_TAG and all(key.tag == _STR_TAG and key.value != "<<" for key, _ in node.value):
        return {key.value: _construct(value, loader) for key, value in node.value}
    return loader.construct_object(node, deep=True)


def _item_lines(root: yaml.Node | None) -> dict[tuple[str, int], int]:
    """Line numbers (1-based) of each item of the three type lists, for error messages."""
    lines: dict[tuple[str, int], int] = {}
    if not isinstance(root, yaml.MappingNode):
        return lines
    for key_node, value_node in root.value:
        if isinstance(value_node, yaml.SequenceNode):
            for index, item in enumerate(value_node.value):
                lines[(key_node.value, index)] = item.start_mark.line + 1
    return lines


def load_ontology(path: str | Path) -> Ontology:
    """Read and validate an ontology YAML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise OntologyError(f"cannot read ontology: {error.strerror}", path=path) from error
    return parse_ontology(text, source=str(path))


def parse_ontology(text: str, *, source: str = "<ontology>") -> Ontology:
    """Parse and validate ontology YAML text; ``source`` names it in errors."""
    # a large ontology is hundreds of thousands of new objects, none of them garbage: the cyclic
    # collector would walk them again and again while they are made (a 30k-class file loads in
    # 2 s instead of 7 without it)
    paused = gc.isenabled()
    gc.disable()
    try:
        return _parse_ontology(text, source=source)
    finally:
        if paused:
            gc.enable()


def _parse_ontology(text: str, *, source: str) -> Ontology:
    try:
        raw, root = _parse_yaml(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(error, "problem", None) or str(error)
        raise OntologyError(f"invalid YAML: {problem}", path=source, line=line) from error
    if not isinstance(raw, dict):
        raise OntologyError("expected a mapping with entities/relations/events", path=source)
    lines = _item_lines(root)
    try:
        parsed = _OntologyFile.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        loc = first["loc"]
        line = None
        field_name = ".".join(str(p) for p in loc)
        if len(loc) >= 2 and isinstance(loc[1], int):
            line = lines.get((str(loc[0]), loc[1]))
            items = raw.get(str(loc[0])) or []
            if loc[1] < len(items) and isinstance(items[loc[1]], dict):
                name = items[loc[1]].get("name", f"#{loc[1]}")
                field_name = f"{loc[0]}[{name}]" + "".join(f".{p}" for p in loc[2:])
        message = first["msg"]
        if first["type"] == "extra_forbidden":
            message = (
                "unknown key (allowed: name, parent, description, examples, aliases, and head/tail or roles)"
            )
        raise OntologyError(message, path=source, line=line, field=field_name) from error
    return _build(parsed, lines, source)


def _build(parsed: _OntologyFile, lines: dict[tuple[str, int], int], source: str) -> Ontology:
    types: dict[str, TypeDef] = {}
    for kind in Kind:
        for index, spec in enumerate(getattr(parsed, kind.section)):
            line = lines.get((kind.section, index))

            def fail(message: str, *, _spec=spec, _line=line, _kind=kind) -> OntologyError:
                return OntologyError(message, path=source, line=_line, field=f"{_kind.section}[{_spec.name}]")

            if not spec.name.isidentifier() or keyword.iskeyword(spec.name):
                raise fail(f"class name {spec.name!r} is not a valid Python identifier")
            if spec.name == kind.base_class:
                raise fail(f"{spec.name!r} is the base class of {kind.section}; pick another name")
            if spec.name in types:
                other = types[spec.name]
                raise fail(
                    f"duplicate class {spec.name!r} (first defined at line {other.line} "
                    f"under {other.kind.section})"
                )
            if isinstance(spec, EventSpec):
                seen_roles: set[str] = set()
                for role in spec.roles:
                    # keywords (``from``) are allowed: the released schemas use them, and
                    # code that must parse writes them as ``from_``
                    if not role.name.isidentifier():
                        raise fail(f"role name {role.name!r} is not a valid Python identifier")
                    if role.name in {"self", "trigger"}:
                        raise fail(f"role name {role.name!r} is reserved")
                    if role.name in seen_roles:
                        raise fail(f"duplicate role {role.name!r}")
                    seen_roles.add(role.name)
            types[spec.name] = TypeDef(kind=kind, spec=spec, line=line)

    ontology = Ontology(
        name=parsed.name,
        languages=parsed.languages,
        types=types,
        source=source,
        inherit_roles=parsed.inherit_roles,
    )
    _check_hierarchy(ontology, source)
    _check_references(ontology, source)
    ontology._aliases, ontology._swapped = _build_aliases(ontology, source)
    return ontology


def _type_error(message: str, typedef: TypeDef, source: str) -> OntologyError:
    return OntologyError(
        message, path=source, line=typedef.line, field=f"{typedef.kind.section}[{typedef.name}]"
    )


def _check_hierarchy(ontology: Ontology, source: str) -> None:
    for name, typedef in ontology.types.items():
        parent = typedef.parent
        if parent == typedef.kind.base_class:
            continue
        if parent not in ontology.types:
            raise _type_error(f"unknown parent {parent!r}", typedef, source)
        if ontology.types[parent].kind != typedef.kind:
            raise _type_error(
                f"parent {parent!r} is of kind {ontology.types[parent].kind.value!r}, "
                f"but {name!r} is of kind {typedef.kind.value!r}",
                typedef,
                source,
            )
        seen = [name]
        current = parent
        while current in ontology.types:
            if current in seen:
                cycle = " -> ".join([*seen, current])
                raise _type_error(f"inheritance cycle: {cycle}", typedef, source)
            seen.append(current)
            current = ontology.types[current].parent


def _check_references(ontology: Ontology, source: str) -> None:
    entity_names = set(ontology.names(Kind.ENTITY)) | {"Entity"}
    for typedef in ontology.types.values():
        spec = typedef.spec
        constrained: list[tuple[str, tuple[str, ...]]] = []
        if isinstance(spec, RelationSpec):
            constrained = [("head", spec.head), ("tail", spec.tail)]
        elif isinstance(spec, EventSpec):
            constrained = [(f"roles.{role.name}", role.types) for role in spec.roles]
        for label, allowed in constrained:
            for entity in allowed:
                if entity not in entity_names:
                    raise _type_error(f"{label} names unknown entity type {entity!r}", typedef, source)


def _build_aliases(
    ontology: Ontology, source: str
) -> tuple[dict[tuple[str, str], str], set[tuple[str, str]]]:
    aliases: dict[tuple[str, str], str] = {}
    swapped: set[tuple[str, str]] = set()

    def add(dataset: str, label: str, name: str, typedef: TypeDef) -> None:
        key = (dataset, _label_key(label))
        owner = aliases.get(key)
        if owner is not None and owner != name:
            scope = "every dataset" if dataset == ANY_DATASET else f"dataset {dataset!r}"
            raise OntologyError(
                f"alias {label!r} for {scope} maps to both {owner!r} and {name!r}",
                path=source,
                line=typedef.line,
                field=f"{typedef.kind.section}[{name}].aliases",
            )
        aliases[key] = name

    for name, typedef in ontology.types.items():
        add(ANY_DATASET, name, name, typedef)
    for name, typedef in ontology.types.items():
        for dataset, labels in typedef.spec.aliases.items():
            for label in labels:
                if isinstance(label, AliasSpec):
                    if label.swap and typedef.kind != Kind.RELATION:
                        raise _type_error(
                            f"alias {label.label!r}: swap applies to relation aliases only",
                            typedef,
                            source,
                        )
                    add(dataset, label.label, name, typedef)
                    if label.swap:
                        swapped.add((dataset, _label_key(label.label)))
                else:
                    add(dataset, label, name, typedef)
    return aliases, swapped
