"""``knowcoder corpus`` and ``knowcoder train``: the training stages."""

from __future__ import annotations

import argparse
import sys

from knowcoder.cli.common import ontology_from, params_from, print_json
from knowcoder.stages.corpus import build_corpus
from knowcoder.stages.train import STAGES, run_training


def register(commands: argparse._SubParsersAction) -> None:
    corpus = commands.add_parser(
        "corpus",
        help="build a training corpus (pretrain: schema understanding; sft: instructions; "
        "align: cross-lingual)",
        description="Reads the validated inputs of the data stage and writes "
        "<artifacts>/corpus/<stage>.jsonl with a report beside it. Deterministic for corpus.seed.",
    )
    corpus.add_argument("--stage", required=True, choices=STAGES)
    corpus.set_defaults(handler=run_corpus)

    annotate = commands.add_parser(
        "annotate",
        help="weakly label raw sentences from a gazetteer (distant supervision) into canonical shards",
        description="Aho-Corasick matching of gazetteer names (leftmost-longest; whole words in "
        "space-separated languages), optional relations from a knowledge base of name pairs, sharded output "
        "with a coverage report. Add the shards to corpus.pretrain.extra to use them in "
        "schema-understanding pretraining.",
    )
    annotate.add_argument("--input", required=True, help="one sentence per line, or JSONL with a text field")
    annotate.add_argument(
        "--gazetteer", required=True, action="append", help="TSV name<TAB>type[<TAB>lang] or JSONL"
    )
    annotate.add_argument("--relations", action="append", default=[], help="TSV head<TAB>relation<TAB>tail")
    annotate.add_argument("--out-dir", required=True, help="where shard-*.jsonl and coverage.json go")
    annotate.add_argument("--lang", required=True)
    annotate.add_argument("--dataset", required=True)
    annotate.add_argument("--shard-size", type=int, default=100_000)
    annotate.add_argument(
        "--ignore-case", action="store_true", help="fold case when matching (default: exact)"
    )
    annotate.add_argument("--keep-empty", action="store_true", help="also write sentences without mentions")
    annotate.add_argument("--overwrite", action="store_true", help="replace an earlier run's shards")
    annotate.add_argument(
        "--ontology", default=None, help="ontology YAML (default: paths.ontology in params)"
    )
    annotate.set_defaults(handler=run_annotate)

    train = commands.add_parser(
        "train",
        help="train one stage on the transformers Trainer (resumes from its last checkpoint)",
        description="Starts from the previous stage in train.order (the first stage from model.base, or a "
        "tiny model built locally when model.base is empty) and writes <artifacts>/models/<stage>/ with a "
        "metrics JSON beside it. A stage started again after a crash resumes from its last checkpoint.",
    )
    train.add_argument("--stage", required=True, choices=STAGES)
    train.add_argument(
        "--fresh", action="store_true", help="discard the stage's checkpoints instead of resuming"
    )
    train.set_defaults(handler=run_train)


def run_corpus(args: argparse.Namespace) -> int:
    result = build_corpus(params_from(args), args.stage)
    print(f"wrote {result.report['rows']} rows to {result.path}", file=sys.stderr)
    print_json(result.report)
    return 0


def run_annotate(args: argparse.Namespace) -> int:
    from knowcoder.corpus.annotate import Gazetteer, annotate_file

    ontology = ontology_from(args)
    data = params_from(args).data  # where the shards run: data.workers, data.dask_address
    gazetteer = Gazetteer.load(
        args.gazetteer, ontology, relations=args.relations, case_sensitive=not args.ignore_case
    )
    report = annotate_file(
        args.input,
        args.out_dir,
        gazetteer,
        lang=args.lang,
        dataset=args.dataset,
        shard_size=args.shard_size,
        keep_empty=args.keep_empty,
        overwrite=args.overwrite,
        workers=data.workers,
        dask_address=data.dask_address,
        shard_lines=data.shard_size,
    )
    print_json(report.to_dict())
    return 0


def run_train(args: argparse.Namespace) -> int:
    from knowcoder.training.launch import curves_from_env

    # under a distributed launch the flow passes its MLflow run through the environment (rank 0 logs)
    result = run_training(params_from(args), args.stage, fresh=args.fresh, callbacks=curves_from_env())
    summary = {k: v for k, v in result.metrics.items() if k != "curve"}
    print(f"model: {result.model_dir}  metrics: {result.metrics_path}", file=sys.stderr)
    print_json(summary)
    return 0
