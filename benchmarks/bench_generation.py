"""Generation throughput of the extractor: batched vs one at a time, and with vs without constraints.

Usage: python benchmarks/bench_generation.py [--model DIR] [--new-tokens N] [--batch-size B] [--json OUT]

Prompts are the sample test split's, for all four tasks, with each instance's classes. Without
``--model`` a tiny model of the default size (vocab 2048, hidden 256, 4 layers) is built with
random weights: throughput does not depend on what the weights learned. Batched vs one at a
time uses exactly ``--new-tokens`` steps per prompt on both sides (``min_new_tokens``), so only
the cost per token differs. Constrained vs plain: each batch is decoded with constraints first,
and then without them for exactly as many steps as the constrained run took, so the overhead
compares equal work (prefill and decode steps) and not outputs of different lengths.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

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


def timed(extractor: Extractor, requests: list) -> tuple[float, list[int]]:
    """Seconds for all requests, and the number of tokens generated for each."""
    start = time.perf_counter()
    outputs = extractor.generate(requests)
    seconds = time.perf_counter() - start
    tokenize = extractor.tokenizer
    return seconds, [len(tokenize(text, add_special_tokens=False)["input_ids"]) for text, _, _ in outputs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

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
    batched_s, _ = timed(extractor, requests)
    extractor.batch_size = 1
    single_s, _ = timed(extractor, requests)
    fixed.min_new_tokens = None
    steps = len(requests) * args.new_tokens

    extractor.batch_size = args.batch_size
    extractor.constrained = True
    extractor.generate(requests[: args.batch_size])  # warm-up (builds the token trie)
    constrained_s = plain_s = 0.0
    ordered = sorted(requests, key=lambda r: len(extractor.prompt_ids(r)[0]), reverse=True)
    for start in range(0, len(ordered), args.batch_size):
        batch = ordered[start : start + args.batch_size]
        extractor.constrained = True
        seconds, lengths = timed(extractor, batch)
        constrained_s += seconds
        run = 1 + max(lengths)  # the longest row, plus its end-of-sequence token
        extractor.constrained = False
        fixed.min_new_tokens, extractor.max_new_tokens = run, run
        seconds, _ = timed(extractor, batch)
        plain_s += seconds
        fixed.min_new_tokens, extractor.max_new_tokens = None, args.new_tokens

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
        "python": platform.python_version(),
    }
    figures["constraint_overhead"] = round(constrained_s / plain_s - 1, 4)
    for key, value in figures.items():
        print(f"{key:>32}: {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
