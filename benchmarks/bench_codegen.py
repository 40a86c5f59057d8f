"""Throughput of prompt rendering and output parsing on one core.

Usage: python benchmarks/bench_codegen.py [--ontology O] [--data D.jsonl ...] [--seconds S] [--json OUT]

Prompts are rendered for every instance and task of the data (the bundled sample by default),
each with its positive types, as the corpus builders do. "cached" reuses the schema text of a
type set already seen (the normal case: a dataset has few distinct type sets); "cold" clears
the cache before each prompt, so every prompt renders its classes from the ontology. Outputs are
the gold targets, parsed with the sentence and schema checks on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

from knowcoder.data.jsonl import read_instances
from knowcoder.parser import parse_results
from knowcoder.prompts import PromptBuilder
from knowcoder.schema.ontology import load_ontology
from knowcoder.tasks import TASKS

REPO = Path(__file__).resolve().parents[1]


def rate(work: Callable[[], int], seconds: float) -> float:
    """Items per second of ``work`` (which returns how many items it did), best of repeated runs."""
    best = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        count = work()
        best = max(best, count / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ontology", default=str(REPO / "data/ontology.yaml"))
    parser.add_argument(
        "--data",
        nargs="+",
        default=[str(REPO / "data/raw/sample/en.jsonl"), str(REPO / "data/raw/sample/zh.jsonl")],
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per figure")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    ontology = load_ontology(args.ontology)
    instances = [i for path in args.data for i in read_instances(path)]
    builder = PromptBuilder(ontology)

    jobs = []  # (task, instance, types, target, allowed)
    for instance in instances:
        for task in TASKS.values():
            gold = task.gold_records(instance, ontology)
            if gold is None:
                continue
            types = task.positive_types(instance) or ontology.names(task.kind)[:3]
            target = builder.target(gold, task)
            jobs.append((task, instance, types, target, builder.allowed(task, types, instance.text)))

    def render_cached() -> int:
        for task, instance, types, _, _ in jobs:
            builder.prompt(instance.text, task, types, dataset=instance.dataset)
        return len(jobs)

    def render_cold() -> int:
        for task, instance, types, _, _ in jobs:
            builder._cache.clear()
            builder.prompt(instance.text, task, types, dataset=instance.dataset)
        return len(jobs)

    def parse() -> int:
        for task, _, _, target, allowed in jobs:
            parse_results(target, task, allowed)
        return len(jobs)

    figures = {
        "jobs": len(jobs),
        "mean_target_chars": round(sum(len(j[3]) for j in jobs) / len(jobs), 1),
        "prompts_per_s_cached": round(rate(render_cached, args.seconds)),
        "prompts_per_s_cold": round(rate(render_cold, args.seconds)),
        "outputs_per_s_parsed": round(rate(parse, args.seconds)),
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
    }
    for key, value in figures.items():
        print(f"{key:>24}: {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
