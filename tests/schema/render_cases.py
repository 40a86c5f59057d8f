"""Every rendering and sampling output of an ontology, for the before/after comparison test.

``python -m tests.schema.render_cases`` rewrites ``tests/fixtures/ontology_outputs.json`` (the
sha256 of each case's output as JSON) from the current code; the test compares the code against
it, so a speed-up cannot change a byte. The file was written before the ontology's lookups were
cached; regenerate it only for an intended change of output.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from pathlib import Path
from typing import Any

from knowcoder.corpus.sft import (
    NegativeSampling,
    example_rng,
    instruction_examples,
    negative_pool,
    sample_classes,
)
from knowcoder.data.jsonl import read_instances
from knowcoder.prompts import PromptBuilder, PromptOptions
from knowcoder.schema.ontology import Kind, Ontology, load_ontology
from knowcoder.schema.render import STYLES, SchemaOptions, render_schema
from knowcoder.tasks import TASKS

REPO = Path(__file__).resolve().parents[2]
OUTPUTS = REPO / "tests" / "fixtures" / "ontology_outputs.json"
_TASK_KINDS = {"ner": (Kind.ENTITY,), "re": (Kind.RELATION,), "ed": (Kind.EVENT,), "eae": (Kind.EVENT,)}


def outputs(ontology: Ontology, instances_path: Path) -> dict[str, Any]:
    """Lookups, schemas, negative pools, samples and instruction examples, keyed by case."""
    out: dict[str, Any] = {}
    for name in ontology.types:
        out[f"lookup:{name}"] = [
            ontology.ancestors(name),
            ontology.descendants(name),
            ontology.depth(name),
            ontology.with_types([name]),
            [role.name for role in ontology.roles(name)],
            [list(side) for side in ontology.relation_signature(name)],
        ]
    rng = random.Random(7)
    for task, kinds in _TASK_KINDS.items():
        names = [n for kind in kinds for n in ontology.names(kind)]
        subsets = [names, *([n] for n in names)]
        subsets += [rng.sample(names, min(len(names), rng.randint(1, 6))) for _ in range(20)]
        for style in STYLES:
            for lang in ("en", "zh"):
                for descriptions in (True, False):
                    for order in ("ontology", "given"):
                        options = SchemaOptions(
                            style=style, lang=lang, descriptions=descriptions, order=order
                        )
                        memo: dict[Any, str] = {}
                        for k, subset in enumerate(subsets):
                            types = TASKS[task].schema_types(subset, ontology)
                            key = f"schema:{task}:{style}:{lang}:{descriptions}:{order}:{k}"
                            out[key] = render_schema(ontology, types, task, options, memo=memo)
        for k, subset in enumerate(subsets):
            out[f"pool:{task}:{k}"] = negative_pool(ontology, TASKS[task], subset[:3])
            sample_rng = example_rng(0, task, str(k))
            out[f"sample:{task}:{k}"] = sample_classes(
                ontology, TASKS[task], subset[:3], sample_rng, NegativeSampling(ratio=1.5)
            )
    for shuffled in (False, True):
        options = PromptOptions(class_order="given" if shuffled else "ontology")
        builder = PromptBuilder(ontology, options)
        examples = instruction_examples(
            read_instances(instances_path), ontology, builder, sampling=NegativeSampling(ratio=1.5), seed=3
        )
        out[f"sft:{shuffled}"] = [example.to_dict() for example in examples]
    return out


def digest(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def bundled_digests() -> dict[str, str]:
    cases = outputs(load_ontology(REPO / "data/ontology.yaml"), REPO / "data/raw/sample/en.jsonl")
    return {key: digest(value) for key, value in cases.items()}


if __name__ == "__main__":
    OUTPUTS.write_text(json.dumps(bundled_digests(), indent=0) + "\n", encoding="utf-8")
    print(f"wrote {OUTPUTS} ({OUTPUTS.stat().st_size} bytes)", file=sys.stderr)
