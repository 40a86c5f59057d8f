"""Synthetic-data generation speed: instances per second for a 10k-instance set.

Usage: python benchmarks/bench_synth.py [--count N] [--repeat R]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from knowcoder.data.synth import load_lexicon, synthesize
from knowcoder.schema.ontology import load_ontology

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    ontology = load_ontology(REPO / "data/ontology.yaml")
    lexicon = load_lexicon()
    counts = {
        "train": args.count * 8 // 10,
        "dev": args.count // 10,
        "test": args.count - args.count * 9 // 10,
    }
    best = float("inf")
    for _ in range(args.repeat):
        start = time.perf_counter()
        made = sum(1 for _ in synthesize(ontology, counts=counts, lexicon=lexicon))
        best = min(best, time.perf_counter() - start)
    print(f"{'instances':>20}: {made}")
    print(f"{'seconds (best)':>20}: {best:.3f}")
    print(f"{'instances_per_s':>20}: {made / best:.0f}")


if __name__ == "__main__":
    main()
