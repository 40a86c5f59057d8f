"""Fuzz the output parser: crashes, audit events and the worst parse time over many outputs.

Usage: python benchmarks/bench_fuzz.py [--outputs 1000000] [--seed 0] [--json OUT]

Outputs are valid KnowCoder outputs of the four tasks, mutated (insertions of hostile fragments,
deletions, repeats, deep nesting, cuts), plus one in 500 built to be expensive at ``max_chars``
(tests/faults/fuzz.py). Each is parsed on one core with an audit hook that counts every exec,
import, open or process event: a crash or an event is a failure. Parse times are CPU time of the
parsing thread (what the 50 ms bound is about) and wall time (what a busy machine adds).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the fuzzer lives with the fault suite

from tests.faults.fuzz import run_fuzz  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outputs", type=int, default=1_000_000, help="how many outputs (all 4 tasks)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    report = run_fuzz(args.outputs, seed=args.seed)
    figures = {"python": platform.python_version(), "seed": args.seed, **report.to_dict()}
    print(json.dumps(figures, indent=2, ensure_ascii=False))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
    if report.crashes or report.audit_events:
        sys.exit(1)


if __name__ == "__main__":
    main()
