"""Generation throughput of the tiny model with and without schema-constrained decoding.

Usage: python benchmarks/bench_constrained.py [--batch B] [--max-new-tokens N] [--repeats R] [--json OUT]
       python benchmarks/bench_constrained.py --tokenizer PATH [--json OUT]

Prompts are the bundled sample (every instance and task, positive types), answered greedily in
one left-padded batch by a random-weight tiny model of the default profile (byte-level BPE of
about 2k tokens trained on those prompts, hidden 256, 4 layers). Each repeat runs the constrained
batch with fresh grammars (cold caches, as for new sentences), then the same prompts unconstrained
for exactly as many steps, so both sides do the same model work; the overhead is the ratio of
their median wall times. One CPU thread, so the figure does not depend on what else runs.

With ``--tokenizer PATH`` (a Hugging Face directory or tokenizer.json's folder) it instead times
what a real vocabulary costs before decoding starts: deriving the byte table of every token
from the tokenizer's model and decoder, building the byte trie, and the first masks of one
grammar (the trie's nodes are made lazily, so the first walks make the top of it). Median of
``--repeats`` cold builds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from transformers import AutoTokenizer, LogitsProcessorList

from knowcoder.data.jsonl import read_instances
from knowcoder.inference.constrained import SchemaConstraint, TokenTrie, _derive
from knowcoder.inference.grammar import ResultsGrammar
from knowcoder.modeling.tiny import build_tiny_model
from knowcoder.modeling.tokenizer import train_tokenizer
from knowcoder.prompts import PromptBuilder
from knowcoder.schema.ontology import load_ontology
from knowcoder.tasks import TASKS

REPO = Path(__file__).resolve().parents[1]


class TimedConstraint(SchemaConstraint):
    """A SchemaConstraint that adds up the time spent in its own calls."""

    seconds = 0.0

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        start = time.perf_counter()
        try:
            return super().__call__(input_ids, scores)
        finally:
            self.seconds += time.perf_counter() - start


def generate(model: Any, batch: Any, processors: LogitsProcessorList, steps: int, *, exact: bool) -> Any:
    """Greedy ids for ``batch``; ``exact`` forces all ``steps`` (no stop at EOS)."""
    with torch.inference_mode():
        return model.generate(
            **batch,
            max_new_tokens=steps,
            min_new_tokens=steps if exact else 0,
            do_sample=False,
            logits_processor=processors,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ontology", default=str(REPO / "data/ontology.yaml"))
    parser.add_argument(
        "--data",
        nargs="+",
        default=[str(REPO / "data/raw/sample/en.jsonl"), str(REPO / "data/raw/sample/zh.jsonl")],
    )
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--vocab-size", type=int, default=2048)
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    parser.add_argument("--tokenizer", default=None, help="time the byte table of this tokenizer instead")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.tokenizer:
        report(table_figures(args.tokenizer, args.repeats), args.json)
        return
    load_before = os.getloadavg()

    ontology = load_ontology(args.ontology)
    builder = PromptBuilder(ontology)
    jobs = []  # (task, sentence, types, prompt, target)
    for instance in (i for path in args.data for i in read_instances(path)):
        for task in TASKS.values():
            gold = task.gold_records(instance, ontology)
            if gold is None:
                continue
            types = task.positive_types(instance) or ontology.names(task.kind)[:3]
            prompt = builder.prompt(instance.text, task, types, given=gold)
            jobs.append((task.name, instance.text, types, prompt, builder.target(gold, task)))
    tokenizer = train_tokenizer([text for job in jobs for text in job[3:]], vocab_size=args.vocab_size)
    model = build_tiny_model(
        tokenizer,
        hidden_size=256,
        num_layers=4,
        num_heads=4,
        intermediate_size=688,
        max_position_embeddings=1024,
    ).eval()
    start = time.perf_counter()
    trie = TokenTrie.from_tokenizer(tokenizer)
    trie_seconds = time.perf_counter() - start

    picked = jobs[:: max(1, len(jobs) // args.batch)][: args.batch]  # spread over instances and tasks
    batch = tokenizer([job[3] for job in picked], return_tensors="pt", padding=True, padding_side="left")
    prompt_length = batch["input_ids"].shape[1]
    generate(model, batch, LogitsProcessorList(), 4, exact=True)  # warm up kernels and caches

    timings: dict[str, list[float]] = {"constrained": [], "plain": [], "processor": []}
    steps = tokens = 0
    for _ in range(args.repeats):
        grammars = [ResultsGrammar.for_prompt(builder, task, types, text) for task, text, types, *_ in picked]
        constraint = TimedConstraint(
            grammars, trie, tokenizer.eos_token_id, max_new_tokens=args.max_new_tokens
        )
        start = time.perf_counter()
        output = generate(model, batch, LogitsProcessorList([constraint]), args.max_new_tokens, exact=False)
        timings["constrained"].append(time.perf_counter() - start)
        timings["processor"].append(constraint.seconds)
        new = output[:, prompt_length:]
        steps = new.shape[1]
        tokens = int((new != tokenizer.pad_token_id).sum())
        start = time.perf_counter()
        generate(model, batch, LogitsProcessorList(), steps, exact=True)
        timings["plain"].append(time.perf_counter() - start)

    constrained, plain = statistics.median(timings["constrained"]), statistics.median(timings["plain"])
    figures = {
        "batch": len(picked),
        "prompt_tokens": prompt_length,
        "vocab": len(tokenizer),
        "steps": steps,
        "trie_build_s": round(trie_seconds, 3),
        "plain_tokens_per_s": round(len(picked) * steps / plain, 1),
        "constrained_tokens_per_s": round(tokens / constrained, 1),
        "plain_ms_per_step": round(1000 * plain / steps, 2),
        "constrained_ms_per_step": round(1000 * constrained / steps, 2),
        "overhead_pct": round(100 * (constrained / plain - 1), 1),
        "processor_share_pct": round(100 * statistics.median(timings["processor"]) / constrained, 1),
        "load_avg_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "python": platform.python_version(),
        "torch_threads": torch.get_num_threads(),
    }
    report(figures, args.json)


def table_figures(path: str, repeats: int) -> dict[str, Any]:
    """Cold build times of a tokenizer's byte table, its trie and a grammar's first masks."""
    load_before = os.getloadavg()
    tokenizer = AutoTokenizer.from_pretrained(path)
    grammar_args = ("ner", ["Person", "Company"], 'Ada Park joined "Acme Corp" in 上海, Paris.')
    table_s, trie_s, masks_s = [], [], []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        table = _derive(tokenizer)  # uncached, as the first use in a process
        table_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        trie = TokenTrie(table.tokens)
        trie_s.append(time.perf_counter() - start)
        grammar = ResultsGrammar(*grammar_args)
        constraint = SchemaConstraint([grammar], trie, tokenizer.eos_token_id or 0, max_new_tokens=64)
        ids: Any = torch.zeros(1, 1, dtype=torch.long)
        start = time.perf_counter()
        for token in [None, *tokenizer('results = [Person("Ada Park"), Company("')["input_ids"]]:
            if token is not None:
                ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
            constraint(ids, torch.zeros(1, len(tokenizer)))
        masks_s.append(time.perf_counter() - start)
    reasons: dict[str, int] = {}
    for reason in table.excluded.values():
        reasons[reason] = reasons.get(reason, 0) + 1
    return {
        "tokenizer": path,
        "kind": table.kind,
        "vocab": len(tokenizer),
        "included": len(table.tokens),
        "excluded": reasons,
        "table_build_s": round(statistics.median(table_s), 3),
        "trie_build_s": round(statistics.median(trie_s), 3),
        "first_masks_s": round(statistics.median(masks_s), 3),
        "load_avg_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "python": platform.python_version(),
    }


def report(figures: dict[str, Any], out: str | None) -> None:
    for key, value in figures.items():
        print(f"{key:>26}: {value}")
    if out:
        Path(out).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
