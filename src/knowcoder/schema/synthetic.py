"""A Wikidata-like ontology of any size, for scale tests and benchmarks (deterministic for a seed).

Wikidata's class tree is broad at the top and deep in places: tens of root classes, most classes
five to ten levels down. ``synthetic_ontology`` draws each class's depth from a bell over
``1..max_depth`` and hangs it under a random class one level up, so a 30k-class tree has a few
dozen roots and depths up to ``max_depth``. Every class has an English and a Chinese
description, up to three examples and one alias; relations constrain head and tail to entity
classes (often high in the tree, as Wikidata's property constraints do); events have two to four
roles whose types are entity classes.
"""

from __future__ import annotations

import random
from typing import Any

import yaml

_SYLLABLES = ["ka", "lo", "mi", "ra", "ten", "vo", "su", "ne", "di", "pa", "gor", "ul", "shi", "bel"]
_ROLES = ["agent", "patient", "place", "time", "instrument", "origin", "destination", "beneficiary"]


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def _tree(
    count: int, max_depth: int, roots: int, rng: random.Random, prefix: str
) -> list[tuple[str, str | None]]:
    """``(name, parent)`` in an order where every parent comes first."""
    levels: list[list[str]] = [[] for _ in range(max_depth + 1)]
    peak = max(1, (max_depth * 2) // 3)
    weights = [0.0] + [1.0 / (1 + abs(d - peak)) for d in range(1, max_depth + 1)]
    out: list[tuple[str, str | None]] = []
    for index in range(count):
        name = f"{prefix}{_word(rng)}{index}"
        if index < roots:
            depth = 0
        else:
            depth = rng.choices(range(max_depth + 1), weights=weights)[0]
            while not levels[depth - 1]:
                depth -= 1
        parent = rng.choice(levels[depth - 1]) if depth else None
        levels[depth].append(name)
        out.append((name, parent))
    return out


def _common(name: str, parent: str | None, rng: random.Random) -> dict[str, Any]:
    words = " ".join(_word(rng).lower() for _ in range(rng.randint(4, 9)))
    spec: dict[str, Any] = {
        "name": name,
        "description": {"en": f"A kind of thing: {words}.", "zh": f"一种事物:{words}。"},
        "aliases": {"*": [f"{name.lower()}-label"]},
    }
    if parent is not None:
        spec["parent"] = parent
    return spec


def synthetic_ontology(
    *,
    entities: int = 30_000,
    relations: int = 900,
    events: int = 500,
    max_depth: int = 9,
    seed: int = 0,
) -> dict[str, Any]:
    """The ontology as the mapping its YAML file holds (``synthetic_ontology_yaml`` writes it)."""
    rng = random.Random(seed)  # noqa: S311 (test data, not security)
    entity_tree = _tree(entities, max_depth, max(2, entities // 800), rng, "E")
    entity_names = [name for name, _ in entity_tree]
    upper = entity_names[: max(2, len(entity_names) // 20)]  # classes high in the tree
    entity_specs = []
    for name, parent in entity_tree:
        spec = _common(name, parent, rng)
        spec["examples"] = {"en": [f"{_word(rng)} {_word(rng)}" for _ in range(rng.randint(0, 3))]}
        entity_specs.append(spec)
    relation_specs = []
    for name, parent in _tree(relations, min(max_depth, 4), max(2, relations // 60), rng, "R"):
        spec = _common(name, parent, rng)
        if parent is None or rng.random() < 0.3:  # the others inherit their parent's signature
            spec["head"] = rng.sample(upper, rng.randint(1, 2))
            spec["tail"] = rng.sample(upper, rng.randint(1, 2))
        spec["examples"] = {"en": [[_word(rng), _word(rng)]]}
        relation_specs.append(spec)
    event_specs = []
    for name, parent in _tree(events, min(max_depth, 5), max(2, events // 40), rng, "V"):
        spec = _common(name, parent, rng)
        spec["examples"] = {"en": [_word(rng).lower() for _ in range(rng.randint(1, 3))]}
        roles = rng.sample(_ROLES, rng.randint(2, 4)) if parent is None or rng.random() < 0.5 else []
        spec["roles"] = [{"name": role, "types": rng.sample(upper, rng.randint(1, 2))} for role in roles]
        event_specs.append(spec)
    return {
        "name": f"synthetic-{entities}-{relations}-{events}",
        "languages": ["en", "zh"],
        "entities": entity_specs,
        "relations": relation_specs,
        "events": event_specs,
    }


def synthetic_ontology_yaml(**sizes: Any) -> str:
    """The YAML text of ``synthetic_ontology(**sizes)``."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(
        synthetic_ontology(**sizes), Dumper=dumper, allow_unicode=True, sort_keys=False, width=1000
    )
