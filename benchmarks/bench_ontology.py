"""The ontology at library scale: a Wikidata-like 30k entity / 900 relation / 500 event class tree.

Generates the ontology (``knowcoder.schema.synthetic``, depths up to 9) into a temporary file and
measures, in CPU seconds of this process (wall seconds beside them: they include waiting for a
core on a shared machine):

* load + validate (``load_ontology``: one libyaml parse, the checks, the alias table);
* prompt rendering with cold type sets: ``PromptBuilder.schema`` for ``--prompts`` random sets of
  8 entity classes each (never seen before, so the set cache misses), first with an empty class
  memo (every class rendered from scratch), then warm; classes rendered (with ancestors) per second;
* negative sampling: ``sample_classes`` for random positives, per sample.

Usage: python benchmarks/bench_ontology.py [--entities 30000] [--relations 900] [--events 500]
       [--prompts 2000] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from knowcoder.corpus.sft import NegativeSampling, example_rng, sample_classes
from knowcoder.prompts import PromptBuilder, PromptOptions
from knowcoder.schema.ontology import Kind, load_ontology
from knowcoder.schema.synthetic import synthetic_ontology_yaml
from knowcoder.tasks import TASKS


def timed(run: Callable[[], Any]) -> tuple[Any, float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    value = run()
    return value, time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entities", type=int, default=30_000)
    parser.add_argument("--relations", type=int, default=900)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--prompts", type=int, default=2000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sizes = {"entities": args.entities, "relations": args.relations, "events": args.events}
    result: dict[str, Any] = {"sizes": sizes}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ontology.yaml"
        path.write_text(synthetic_ontology_yaml(**sizes), encoding="utf-8")
        result["yaml_mb"] = round(path.stat().st_size / 1e6, 2)
        ontology, cpu, wall = timed(lambda: load_ontology(path))
    result["load_validate"] = {"cpu_s": round(cpu, 2), "wall_s": round(wall, 2)}
    entities = ontology.names(Kind.ENTITY)
    result["max_depth"] = max(ontology.depth(name) for name in entities)
    rng = random.Random(0)
    builder = PromptBuilder(ontology, PromptOptions(class_order="given"))
    for label in ("render_cold_memo", "render_warm_memo"):
        sets = [rng.sample(entities, 8) for _ in range(args.prompts)]
        if label == "render_cold_memo":
            builder = PromptBuilder(ontology, PromptOptions(class_order="given"))

        def render(sets: list[list[str]] = sets, builder: PromptBuilder = builder) -> int:
            return sum(builder.schema("ner", types).count("\nclass ") + 1 for types in sets)

        classes, cpu, wall = timed(render)
        result[label] = {
            "classes_rendered": classes,
            "classes_per_cpu_s": round(classes / cpu),
            "classes_per_wall_s": round(classes / wall),
            "ms_per_prompt_cpu": round(cpu / args.prompts * 1e3, 3),
        }
    samples = [rng.sample(entities, 2) for _ in range(1000)]

    def sample() -> None:
        for k, positives in enumerate(samples):
            sample_classes(ontology, TASKS["ner"], positives, example_rng(0, str(k)), NegativeSampling(1.5))

    _, cpu, wall = timed(sample)
    result["negative_sampling"] = {"ms_per_sample_cpu": round(cpu, 3), "ms_per_sample_wall": round(wall, 3)}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
