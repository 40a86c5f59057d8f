"""Deterministic synthetic instances from sentence templates and name fillers (all four tasks, en and zh).

The templates and fillers live in ``synth_lexicon.yaml`` beside this module. A template is a short
sentence with slots (``{person}``, ``{city2}``) and marked triggers (``[[joined]]``), plus the
relations and events it states; rendering fills the slots with names and records every span as
it writes it, so offsets are exact by construction.

Held-out names: every fifth name of a pool (positions 4, 9, 14, ...) is reserved for splits other
than ``train``. Dev and test sentences therefore name people, companies and places the model never
saw in training, so their scores measure copying spans from the sentence rather than remembering
names. A pool too small to leave enough names on both sides (fewer than a template needs) is
shared by all splits instead; ``Lexicon.shared_pools`` lists those.

Determinism: each split draws from its own ``random.Random`` seeded by ``(seed, split)``, so the
same arguments always give the same instances, and changing the train count leaves dev and test
sentences unchanged. Instance ``i`` of a split is in language ``languages[i % len(languages)]``.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from knowcoder.data.instance import Instance
from knowcoder.data.names import generated_name
from knowcoder.errors import ConfigError, DataFormatError, OntologyError
from knowcoder.schema.ontology import Kind, Ontology

DATASET = "synth"
TRAIN_SPLIT = "train"
HELD_OUT_EVERY = 5  # every fifth name of a pool is held out of training
DEFAULT_COUNTS: Mapping[str, int] = {"train": 2000, "dev": 200, "test": 200}
_LEXICON_RESOURCE = "synth_lexicon.yaml"
_MARK = re.compile(r"\{([a-z_]+)(\d*)\}|\[\[([^\[\]]+)\]\]")
_STRICT = ConfigDict(extra="forbid", frozen=True)
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# ---- file format --------------------------------------------------------------------------------
class _PoolFile(BaseModel):
    model_config = _STRICT

    type: str
    names: dict[str, tuple[str, ...]]


class _EventFile(BaseModel):
    model_config = _STRICT

    type: str
    trigger: str
    arguments: dict[str, str] = Field(default_factory=dict)  # role -> slot


class _TemplateFile(BaseModel):
    model_config = _STRICT

    text: str
    relations: tuple[tuple[str, str, str], ...] = ()  # (type, head slot, tail slot)
    events: tuple[_EventFile, ...] = ()


class _LexiconFile(BaseModel):
    model_config = _STRICT

    fillers: dict[str, _PoolFile]
    templates: dict[str, tuple[_TemplateFile, ...]]


# ---- compiled lexicon ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Template:
    """A parsed template: literal text, slots and triggers in order, and what the sentence states."""

    id: str
    lang: str
    pieces: tuple[tuple[str, str], ...]  # ("text", literal) | ("slot", slot name) | ("trigger", word)
    slot_pools: dict[str, str]  # slot name -> pool name, in text order
    pool_slots: tuple[tuple[str, tuple[str, ...]], ...]  # pool -> its slots, for drawing names
    relations: tuple[tuple[str, str, str], ...]
    events: tuple[_EventFile, ...]


@dataclass(frozen=True)
class Lexicon:
    """Filler pools per language, split into training and held-out names, and templates per language."""

    types: dict[str, str]  # pool -> entity class
    train_names: dict[tuple[str, str], tuple[str, ...]]  # (pool, lang) -> names
    held_out_names: dict[tuple[str, str], tuple[str, ...]]
    templates: dict[str, tuple[Template, ...]]
    shared_pools: frozenset[tuple[str, str]]  # (pool, lang) pairs too small to hold names out
    source: str

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self.templates)


def default_lexicon_path() -> Path:
    """Where the bundled lexicon is installed (package data of ``knowcoder.data``)."""
    return Path(str(resources.files("knowcoder.data").joinpath(_LEXICON_RESOURCE)))


def load_lexicon(path: str | Path | None = None) -> Lexicon:
    """Read, validate and compile a lexicon YAML file (the bundled one by default)."""
    source = Path(path) if path is not None else default_lexicon_path()
    try:
        # the C loader, where built, reads the lexicon several times faster
        raw = yaml.load(source.read_text(encoding="utf-8"), Loader=_YAML_LOADER)  # noqa: S506 - a safe loader
    except OSError as error:
        raise DataFormatError(f"cannot read lexicon: {error.strerror}", path=source) from error
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise DataFormatError(f"invalid YAML: {error}", path=source, line=line) from error
    try:
        parsed = _LexiconFile.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "<file>"
        raise DataFormatError(first["msg"], path=source, field=field) from error
    return _compile(parsed, str(source))


def _compile(parsed: _LexiconFile, source: str) -> Lexicon:
    def fail(field: str, message: str) -> DataFormatError:
        return DataFormatError(message, path=source, field=field)

    for pool, pool_spec in parsed.fillers.items():
        for lang, names in pool_spec.names.items():
            for name in names:
                if not name or name != name.strip():
                    raise fail(f"fillers.{pool}.names.{lang}", f"name {name!r} is empty or space-padded")
    templates: dict[str, tuple[Template, ...]] = {}
    need: Counter[tuple[str, str]] = Counter()  # most names one template takes from (pool, lang)
    for lang, specs in parsed.templates.items():
        compiled = []
        for index, template_spec in enumerate(specs):
            template = _compile_template(f"{lang}-{index:02d}", lang, template_spec, parsed, fail)
            for pool, count in Counter(template.slot_pools.values()).items():
                need[(pool, lang)] = max(need[(pool, lang)], count)
            compiled.append(template)
        templates[lang] = tuple(compiled)

    train: dict[tuple[str, str], tuple[str, ...]] = {}
    held_out: dict[tuple[str, str], tuple[str, ...]] = {}
    shared: set[tuple[str, str]] = set()
    for pool, spec in parsed.fillers.items():
        for lang, names in spec.names.items():
            kept = tuple(n for i, n in enumerate(names) if i % HELD_OUT_EVERY != HELD_OUT_EVERY - 1)
            out = tuple(n for i, n in enumerate(names) if i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1)
            wanted = max(need[(pool, lang)], 1)
            if len(names) < wanted:
                raise fail(
                    f"fillers.{pool}.names.{lang}",
                    f"a template takes {wanted} names; give at least that many",
                )
            if len(kept) >= wanted and len(out) >= wanted:
                train[(pool, lang)], held_out[(pool, lang)] = kept, out
            else:
                train[(pool, lang)] = held_out[(pool, lang)] = names
                shared.add((pool, lang))
    types = {pool: spec.type for pool, spec in parsed.fillers.items()}
    return Lexicon(types, train, held_out, templates, frozenset(shared), source)


def _compile_template(
    template_id: str,
    lang: str,
    spec: _TemplateFile,
    parsed: _LexiconFile,
    fail: Callable[[str, str], DataFormatError],
) -> Template:
    field = f"templates.{template_id}"
    pieces: list[tuple[str, str]] = []
    slot_pools: dict[str, str] = {}
    triggers: set[str] = set()
    position = 0
    for match in _MARK.finditer(spec.text):
        if match.start() > position:
            pieces.append(("text", spec.text[position : match.start()]))
        position = match.end()
        if match.group(3) is not None:
            word = match.group(3)
            if word in triggers or word != word.strip():
                raise fail(field, f"trigger [[{word}]] is repeated or space-padded")
            triggers.add(word)
            pieces.append(("trigger", word))
            continue
        pool, slot = match.group(1), match.group(1) + match.group(2)
        if pool not in parsed.fillers:
            raise fail(field, f"slot {{{slot}}} names unknown pool {pool!r}; pools: {sorted(parsed.fillers)}")
        if lang not in parsed.fillers[pool].names:
            raise fail(field, f"pool {pool!r} has no names in language {lang!r}")
        if slot in slot_pools:
            raise fail(field, f"slot {{{slot}}} appears twice; number the second one, e.g. {{{pool}2}}")
        slot_pools[slot] = pool
        pieces.append(("slot", slot))
    if position < len(spec.text):
        pieces.append(("text", spec.text[position:]))
    for relation, head, tail in spec.relations:
        for slot in (head, tail):
            if slot not in slot_pools:
                raise fail(field, f"relation {relation} refers to slot {slot!r}, which the text lacks")
    for event in spec.events:
        if event.trigger not in triggers:
            raise fail(
                field, f"event {event.type} trigger {event.trigger!r} is not marked [[...]] in the text"
            )
        for role, slot in event.arguments.items():
            if slot not in slot_pools:
                raise fail(
                    field, f"event {event.type} role {role} refers to slot {slot!r}, which the text lacks"
                )
    by_pool: dict[str, list[str]] = {}
    for slot, pool in slot_pools.items():
        by_pool.setdefault(pool, []).append(slot)
    pool_slots = tuple((pool, tuple(slots)) for pool, slots in by_pool.items())
    return Template(template_id, lang, tuple(pieces), slot_pools, pool_slots, spec.relations, spec.events)


# ---- ontology check -----------------------------------------------------------------------------
def check_lexicon(lexicon: Lexicon, ontology: Ontology, languages: Sequence[str] | None = None) -> None:
    """Raise ``OntologyError`` if any template would produce a type, role or pair the ontology forbids."""

    def fail(where: str, message: str) -> OntologyError:
        return OntologyError(
            f"{message} (fix the lexicon {lexicon.source} or use an ontology that has these types)",
            path=ontology.source,
            field=where,
        )

    for pool, type_name in lexicon.types.items():
        if type_name not in ontology or ontology.kind_of(type_name) != Kind.ENTITY:
            raise fail(
                f"synth pool {pool}", f"entity type {type_name!r} is not an entity class of the ontology"
            )
    for lang in languages or lexicon.languages:
        for template in lexicon.templates.get(lang, ()):
            where = f"synth template {template.id}"
            slot_type = {slot: lexicon.types[pool] for slot, pool in template.slot_pools.items()}
            for relation, head, tail in template.relations:
                if ontology.kind_of(relation) != Kind.RELATION or relation not in ontology:
                    raise fail(where, f"{relation!r} is not a relation class of the ontology")
                heads, tails = ontology.relation_signature(relation)
                for slot, allowed in ((head, heads), (tail, tails)):
                    if not ontology.allows_argument(allowed, slot_type[slot]):
                        raise fail(
                            where, f"{relation} does not allow {slot_type[slot]} ({slot}); allowed: {allowed}"
                        )
            for event in template.events:
                if ontology.kind_of(event.type) != Kind.EVENT or event.type not in ontology:
                    raise fail(where, f"{event.type!r} is not an event class of the ontology")
                roles = {role.name: role.types for role in ontology.roles(event.type)}
                for role, slot in event.arguments.items():
                    if role not in roles:
                        raise fail(where, f"{event.type} has no role {role!r}; roles: {sorted(roles)}")
                    if not ontology.allows_argument(roles[role], slot_type[slot]):
                        raise fail(where, f"{event.type}.{role} does not allow {slot_type[slot]} ({slot})")


# ---- generation ---------------------------------------------------------------------------------
def synthesize(
    ontology: Ontology,
    *,
    counts: Mapping[str, int] | None = None,
    languages: Sequence[str] = ("en", "zh"),
    seed: int = 0,
    lexicon: Lexicon | None = None,
    generated_names: float = 0.0,
) -> Iterator[Instance]:
    """Yield ``counts[split]`` instances per split (in the mapping's order), ids ``synth-<lang>-NNNNNN``.

    ``generated_names`` is the share of slots filled with generated names, dates or amounts
    (``knowcoder.data.names``; weapons and nationalities have no generator) instead of the
    lexicon's, in every split.
    """
    counts = DEFAULT_COUNTS if counts is None else counts
    lexicon = lexicon if lexicon is not None else load_lexicon()
    languages = tuple(languages)
    if not languages:
        raise ConfigError("no languages given", field="data.synth.languages")
    for lang in languages:
        if lang not in lexicon.templates:
            raise ConfigError(
                f"no synthetic templates for language {lang!r}; available: {', '.join(lexicon.languages)}",
                field="data.synth.languages",
            )
    for split, count in counts.items():
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ConfigError(
                f"count must be a whole number >= 0, got {count!r}", field=f"data.synth.{split}"
            )
    if not 0.0 <= generated_names <= 1.0:
        raise ConfigError(
            f"must be between 0 and 1, got {generated_names}", field="data.synth.generated_names"
        )
    check_lexicon(lexicon, ontology, languages)
    return _generate(lexicon, dict(counts), languages, seed, generated_names)


def _generate(
    lexicon: Lexicon, counts: dict[str, int], languages: tuple[str, ...], seed: int, generated: float
) -> Iterator[Instance]:
    next_id = dict.fromkeys(languages, 0)
    for split, count in counts.items():
        # a string seed is hashed with SHA-512, so it is stable across runs and Python versions
        rng = random.Random(f"knowcoder-synth:{seed}:{split}")  # noqa: S311 - reproducible data, not security
        names = lexicon.train_names if split == TRAIN_SPLIT else lexicon.held_out_names
        for index in range(count):
            lang = languages[index % len(languages)]
            template = rng.choice(lexicon.templates[lang])
            instance_id = f"{DATASET}-{lang}-{next_id[lang]:06d}"
            next_id[lang] += 1
            yield _render(template, names, lexicon.types, rng, instance_id, split, generated)


def _draw_distinct(rng: random.Random, names: tuple[str, ...], count: int) -> list[str]:
    # distinct names within one sentence, so two slots of a pool never read the same;
    # rejection beats rng.sample here (its per-call type checks dominated generation time)
    picked: list[str] = []
    while len(picked) < count:
        name = rng.choice(names)
        if name not in picked:
            picked.append(name)
    return picked


def _render(
    template: Template,
    names: dict[tuple[str, str], tuple[str, ...]],
    types: dict[str, str],
    rng: random.Random,
    instance_id: str,
    split: str,
    generated: float = 0.0,
) -> Instance:
    lang = template.lang
    filler: dict[str, str] = {}
    for pool, slots in template.pool_slots:
        filler.update(zip(slots, _draw_distinct(rng, names[(pool, lang)], len(slots)), strict=True))
        if generated > 0:
            for slot in slots:
                if rng.random() < generated:
                    fresh = generated_name(types[pool], lang, rng)
                    if fresh is not None and fresh not in filler.values():
                        filler[slot] = fresh

    parts: list[str] = []
    offset = 0
    spans: dict[str, dict[str, int | str]] = {}  # slot -> span, in text order
    triggers: dict[str, dict[str, int | str]] = {}
    for kind, value in template.pieces:
        piece = filler[value] if kind == "slot" else value
        if kind == "slot":
            spans[value] = {"start": offset, "end": offset + len(piece), "text": piece}
        elif kind == "trigger":
            triggers[value] = {"start": offset, "end": offset + len(piece), "text": piece}
        parts.append(piece)
        offset += len(piece)

    slot_type = {slot: types[pool] for slot, pool in template.slot_pools.items()}
    index = {slot: i for i, slot in enumerate(spans)}
    # one validation of plain data is several times faster than building each sub-model in Python
    return Instance.model_validate(
        {
            "id": instance_id,
            "dataset": DATASET,
            "lang": lang,
            "text": "".join(parts),
            "entities": [{**span, "type": slot_type[slot]} for slot, span in spans.items()],
            "relations": [
                {"type": kind, "head": index[head], "tail": index[tail]}
                for kind, head, tail in template.relations
            ],
            "events": [
                {
                    "type": event.type,
                    "trigger": triggers[event.trigger],
                    "arguments": [
                        {**spans[slot], "role": role, "type": slot_type[slot]}
                        for role, slot in event.arguments.items()
                    ],
                }
                for event in template.events
            ],
            "split": split,
            "meta": {"template": template.id},
        }
    )
