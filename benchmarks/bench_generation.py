"""Generation throughput of the extractor: batched vs one at a time, and with vs without constraints.

Usage: python benchmarks/bench_generation.py [--model DIR] [--new-tokens N] [--batch-size B] [--repeats R]
                                            [--json OUT]

Prompts are the sample test split's, for all four tasks, with each instance's classes. Without
``--model`` a tiny model of the default size (vocab 2048, hidden 256, 4 layers) is built with
random weights: throughput does not depend on what the weights learned. Batched vs one at a
time uses exactly ``--new-tokens`` steps per prompt on both sides (``min_new_tokens``; checked
from the generated ids), so only the cost per token differs. Both sides are ``Extractor.generate``
as it is: batched, that includes computing an opening that prompts of a batch share (the task's
instructions and class definitions) once, which one prompt at a time cannot do. Constrained vs
plain: each batch is decoded with constraints first, and then without them for exactly as many
steps as the constrained run took (counted from the generated ids, not from re-tokenized text:
the constraint may pick a spelling that re-tokenizes shorter), so the overhead compares equal
work (prefill and decode steps) and not outputs of different lengths; that comparison runs
``--repeats`` times and reports the median overhead (and the seconds of the repeat nearest it),
as a few percent is easily lost in a busy machine's noise. Wall-clock seconds, with torch's default
threads unless the caller pins them.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3, help="constrained vs plain comparisons")
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
    requests = [r for task in TASKS for r in requests_for(instances, task, ontology, types="instance")]
    model_dir = Path(args.model) if args.model else tiny_model_dir(builder, requests)
    extractor = Extractor.load(model_dir, builder, batch_size=args.batch_size, max_new_tokens=args.new_tokens)

    # fixed-length generation: both sides do exactly new_tokens steps per prompt
    fixed = extractor.model.generation_config
    fixed.min_new_tokens = args.new_tokens
    extractor.generate(requests[: args.batch_size])  # warm-up
    counter = StepCounter(extractor.model)
    batched_s = timed(extractor, requests)
    counter.check(args.new_tokens, "batched")
    extractor.batch_size = 1
    single_s = timed(extractor, requests)
    counter.check(args.new_tokens, "one at a time")
    fixed.min_new_tokens = None
    steps = len(requests) * args.new_tokens

    extractor.batch_size = args.batch_size
    extractor.constrained = True
    extractor.generate(requests[: args.batch_size])  # warm-up (builds the token trie)
    counter.steps = []
    ordered = sorted(requests, key=lambda r: len(extractor.prompt_ids(r)[0]), reverse=True)
    repeats = []  # (constrained seconds, plain seconds) per repeat
    for _ in range(args.repeats):
        constrained_s = plain_s = 0.0
        for start in range(0, len(ordered), args.batch_size):
            batch = ordered[start : start + args.batch_size]
            extractor.constrained = True
            constrained_s += timed(extractor, batch)
            (run,) = counter.steps
            counter.steps = []
            extractor.constrained = False
            fixed.min_new_tokens, extractor.max_new_tokens = run, run
            plain_s += timed(extractor, batch)
            counter.check(run, "plain")
            fixed.min_new_tokens, extractor.max_new_tokens = None, args.new_tokens
        repeats.append((constrained_s, plain_s))
    overheads = [c / p - 1 for c, p in repeats]
    constrained_s, plain_s = min(repeats, key=lambda r: abs(r[0] / r[1] - 1 - statistics.median(overheads)))

    figures = {
        "requests": len(requests),
        "new_tokens": args.new_tokens,
        "batch_size": args.batch_size,
        "threads": torch.get_num_threads(),
        "batched_tokens_per_s": round(steps / batched_s, 1),
        "one_at_a_time_tokens_per_s": round(steps / single_s, 1),
        "batching_speedup": round(single_s / batched_s, 2),
        "plain_s_same_steps": round(plain_s, 3),
        "constrained_s": round(constrained_s, 3),
        "load_avg_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "python": platform.python_version(),
    }
    figures["constraint_overhead_spread"] = [round(min(overheads), 4), round(max(overheads), 4)]
    figures["constraint_overhead"] = round(statistics.median(overheads), 4)
    for key, value in figures.items():
        print(f"{key:>32}: {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
