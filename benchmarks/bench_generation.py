"""Generation throughput of the extractor: batched vs one at a time, and with vs without constraints.

Usage: python benchmarks/bench_generation.py [--model DIR] [--types dataset|instance] [--new-tokens N]
                                            [--batch-size B] [--batch-tokens T] [--repeats R] [--json OUT]

Prompts are the sample test split's, for all four tasks, with the classes evaluation would give
them (``--types``, default ``evaluation.types``: the dataset's classes; ``instance``: each
sentence's own). Batches are cut as evaluation cuts them (``--batch-size`` and ``--batch-tokens``
default to ``evaluation.batch_size`` and ``evaluation.batch_tokens``, with ``--new-tokens`` as
the cap on new tokens). Without ``--model`` a tiny model of the default size (hidden 256,
4 layers) is built with random weights: throughput does not depend on what the weights learned.

Batched vs one at a time uses exactly ``--new-tokens`` steps per prompt on both sides
(``min_new_tokens``; checked from the generated ids), so only the cost per token differs. Both
sides are ``Extractor.generate`` as it is: batched, that includes computing an opening that
prompts of a batch share (the task's instructions and class definitions) once, which one prompt
at a time cannot do. The two sides alternate ``--repeats`` times and the median of the per-pair
speedups is reported, as a shared machine's speed drifts by tens of percent within a minute.

Constrained vs plain: each batch is decoded with constraints first, and then without them for
exactly as many steps as the constrained run took (counted from the generated ids, not from
re-tokenized text: the constraint may pick a spelling that re-tokenizes shorter), so the overhead
compares equal work (prefill and decode steps) and not outputs of different lengths; that
comparison also runs ``--repeats`` times and reports the median overhead (and the seconds of the
repeat nearest it). Wall-clock seconds, with torch's default threads unless the caller pins them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from knowcoder.config import EvaluationConfig
from knowcoder.data.jsonl import read_instances
from knowcoder.inference.extract import Extractor, requests_for
from knowcoder.prompts import PromptBuilder, PromptOptions
from knowcoder.schema.ontology import load_ontology
from knowcoder.tasks import TASKS

REPO = Path(__file__).resolve().parents[1]


def tiny_model_dir(builder: PromptBuilder, requests: list) -> Path:
    from knowcoder.modeling.tiny import build_tiny_model, save_model_dir
    from knowcoder.modeling.tokenizer import train_tokenizer

    texts = [builder.prompt(r.text, r.task, r.types) for r in requests] * 4
    tokenizer = train_tokenizer(texts, vocab_size=2048)
    path = Path(tempfile.mkdtemp(prefix="bench-gen-")) / "model"
    save_model_dir(build_tiny_model(tokenizer), tokenizer, path)
    return path


class StepCounter:
    """Stands in for ``model.generate`` and keeps how many new tokens each call made."""

    def __init__(self, model: Any) -> None:
        self.generate = model.generate
        self.steps: list[int] = []
        model.generate = self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        output = self.generate(*args, **kwargs)
        self.steps.append(output.shape[1] - kwargs["input_ids"].shape[1])
        return output

    def check(self, expected: int, side: str) -> None:
        """Fail unless every call since the last check made ``expected`` new tokens."""
        steps, self.steps = self.steps, []
        if any(n != expected for n in steps):
            raise RuntimeError(
                f"{side}: calls made {sorted(set(steps))} new tokens, not {expected}; a stop string "
                "ended them early, so the two sides would not do equal work"
            )


def timed(extractor: Extractor, requests: list) -> float:
    """Seconds to generate for all requests."""
    start = time.perf_counter()
    extractor.generate(requests)
    return time.perf_counter() - start


def median_pair(pairs: list[tuple[float, float]], ratio: Any) -> tuple[float, tuple[float, float]]:
    """The median of ``ratio(a, b)`` over ``pairs``, and the pair whose ratio is nearest it."""
    values = [ratio(a, b) for a, b in pairs]
    middle = statistics.median(values)
    return middle, min(pairs, key=lambda pair: abs(ratio(*pair) - middle))


def main() -> None:
    defaults = EvaluationConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--types", choices=("dataset", "instance"), default=defaults.types)
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--batch-tokens", type=int, default=defaults.batch_tokens, help="0: no budget")
    parser.add_argument("--repeats", type=int, default=3, help="alternations of each comparison")
    parser.add_argument(
        "--skip-batching",
        action="store_true",
        help="only the constrained vs plain comparison (a real model one prompt at a time takes long)",
    )
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]

    ontology = load_ontology(REPO / "data/ontology.yaml")
    builder = PromptBuilder(ontology, PromptOptions(system=False, descriptions=False))
    instances = [
        i
        for name in ("en", "zh")
        for i in read_instances(REPO / f"data/raw/sample/{name}.jsonl")
        if i.split == "test"
    ]
    requests = [r for task in TASKS for r in requests_for(instances, task, ontology, types=args.types)]
    model_dir = Path(args.model) if args.model else tiny_model_dir(builder, requests)
    extractor = Extractor.load(
        model_dir,
        builder,
        batch_size=args.batch_size,
        batch_tokens=args.batch_tokens or None,
        max_new_tokens=args.new_tokens,
    )
    lengths = [len(extractor.prompt_ids(r)[0]) for r in requests]
    batches = extractor.batches(lengths)

    # fixed-length generation: both sides do exactly new_tokens steps per prompt
    fixed = extractor.model.generation_config
    fixed.min_new_tokens = args.new_tokens
    extractor.generate(requests[: args.batch_size])  # warm-up
    counter = StepCounter(extractor.model)
    sides = []  # (batched seconds, one-at-a-time seconds) per repeat
    for _ in range(0 if args.skip_batching else args.repeats):
        extractor.batch_size, extractor.batch_tokens = args.batch_size, args.batch_tokens or None
        batched_s = timed(extractor, requests)
        counter.check(args.new_tokens, "batched")
        extractor.batch_size, extractor.batch_tokens = 1, None
        single_s = timed(extractor, requests)
        counter.check(args.new_tokens, "one at a time")
        sides.append((batched_s, single_s))
    if args.skip_batching:
        sides = [(float("nan"), float("nan"))]
    speedups = [single / batched for batched, single in sides]
    speedup, (batched_s, single_s) = median_pair(sides, lambda batched, single: single / batched)
    fixed.min_new_tokens = None
    steps = len(requests) * args.new_tokens

    extractor.batch_size, extractor.batch_tokens = args.batch_size, args.batch_tokens or None
    extractor.constrained = True
    extractor.generate(requests[: args.batch_size])  # warm-up (builds the token trie)
    counter.steps = []
    repeats = []  # (constrained seconds, plain seconds) per repeat
    for _ in range(args.repeats):
        constrained_s = plain_s = 0.0
        decoded = 0  # tokens per side: rows x steps (greedy, so the same in every repeat)
        for indices in batches:
            batch = [requests[i] for i in indices]
            extractor.constrained = True
            constrained_s += timed(extractor, batch)
            (run,) = counter.steps
            counter.steps = []
            decoded += len(batch) * run
            extractor.constrained = False
            fixed.min_new_tokens, extractor.max_new_tokens = run, run
            plain_s += timed(extractor, batch)
            counter.check(run, "plain")
            fixed.min_new_tokens, extractor.max_new_tokens = None, args.new_tokens
        repeats.append((constrained_s, plain_s))
    overheads = [c / p - 1 for c, p in repeats]
    overhead, (constrained_s, plain_s) = median_pair(repeats, lambda c, p: c / p - 1)

    figures = {
        "requests": len(requests),
        "types": args.types,
        "prompt_tokens_min_median_max": [min(lengths), int(statistics.median(lengths)), max(lengths)],
        "new_tokens": args.new_tokens,
        "batch_size": args.batch_size,
        "batch_tokens": args.batch_tokens or None,
        "batches": [len(b) for b in batches],
        "threads": torch.get_num_threads(),
        "batched_tokens_per_s": round(steps / batched_s, 1),
        "one_at_a_time_tokens_per_s": round(steps / single_s, 1),
        "batching_speedup": round(speedup, 2),
        "batching_speedup_spread": [round(min(speedups), 2), round(max(speedups), 2)],
        "plain_s_same_steps": round(plain_s, 3),
        "constrained_s": round(constrained_s, 3),
        "plain_tokens_per_s": round(decoded / plain_s, 1),
        "constrained_tokens_per_s": round(decoded / constrained_s, 1),
        "constraint_overhead": round(overhead, 4),
        "constraint_overhead_spread": [round(min(overheads), 4), round(max(overheads), 4)],
        "load_avg_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "python": platform.python_version(),
    }
    for key, value in figures.items():
        print(f"{key:>32}: {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
