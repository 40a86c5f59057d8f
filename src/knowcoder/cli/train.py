"""``knowcoder corpus`` and ``knowcoder train``: the training stages."""

from __future__ import annotations

import argparse
import sys

from knowcoder.cli.common import params_from, print_json
from knowcoder.stages.train import STAGES, build_corpus, run_training


def register(commands: argparse._SubParsersAction) -> None:
    corpus = commands.add_parser(
        "corpus",
        help="build a training corpus (pretrain: schema understanding; sft: instructions; align: cross-lingual)",
        description="Reads the validated inputs of the data stage and writes <artifacts>/corpus/<stage>.jsonl "
        "with a report beside it. Deterministic for corpus.seed.",
    )
    corpus.add_argument("--stage", required=True, choices=STAGES)
    corpus.set_defaults(handler=run_corpus)

    train = commands.add_parser(
        "train",
        help="train one stage on the transformers Trainer (resumes from its last checkpoint)",
        description="Starts from the previous stage in train.order (the first stage from model.base, or a "
        "tiny model built locally when model.base is empty) and writes <artifacts>/models/<stage>/ with a "
        "metrics JSON beside it. A stage started again after a crash resumes from its last checkpoint.",
    )
    train.add_argument("--stage", required=True, choices=STAGES)
    train.add_argument("--fresh", action="store_true", help="discard the stage's checkpoints instead of resuming")
    train.set_defaults(handler=run_train)


def run_corpus(args: argparse.Namespace) -> int:
    result = build_corpus(params_from(args), args.stage)
    print(f"wrote {result.report['rows']} rows to {result.path}", file=sys.stderr)
    print_json(result.report)
    return 0


def run_train(args: argparse.Namespace) -> int:
    result = run_training(params_from(args), args.stage, fresh=args.fresh)
    summary = {k: v for k, v in result.metrics.items() if k != "curve"}
    print(f"model: {result.model_dir}  metrics: {result.metrics_path}", file=sys.stderr)
    print_json(summary)
    return 0
