"""Run a benchmark suite: import the user's files, validate them, score each dataset, tabulate.

Per dataset, in ``<out_dir>/<dataset>/``: ``gold.jsonl`` (the import), ``validated/`` (the
Great Expectations reports and ``valid.jsonl``), and the evaluation report of its tasks
(``metrics.json``, ``report.md`` ... and ``predictions.jsonl`` when a model generated). The
suite table itself is written by ``knowcoder.suites.report``.

Predictions come from a model (loaded once for the whole suite; each dataset gets a prompt
builder over its own ontology) or from earlier outputs: a predictions JSONL keyed
``<instance id>:<task>`` or a previous run's output directory (``<dataset>/predictions.jsonl``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from knowcoder.config import Params
from knowcoder.data.importers import import_dataset
from knowcoder.data.jsonl import write_instances, write_jsonl
from knowcoder.errors import ConfigError, LabelError
from knowcoder.evaluation.metrics import EvaluationResult
from knowcoder.stages.evaluate import (
    Predictions,
    load_extractor,
    read_gold,
    read_predictions,
    score,
    write_outputs,
)
from knowcoder.suites.definition import DataFile, Suite, SuiteDataset, label_set


@dataclass
class DatasetRun:
    """What happened to one dataset of a suite."""

    name: str
    status: str  # "scored", or "missing" when none of its files is in the data directory
    file: str | None = None
    format: str | None = None
    imported: int = 0
    ignored_labels: dict[str, int] = field(default_factory=dict)  # dropped on purpose, per label
    rejected: int = 0
    scored: int = 0
    metrics: dict[str, float] = field(default_factory=dict)  # flat evaluation metrics
    expected: list[str] = field(default_factory=list)  # accepted file names (for "missing")

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "file": self.file,
            "format": self.format,
            "imported": self.imported,
            "ignored_labels": self.ignored_labels,
            "rejected": self.rejected,
            "scored": self.scored,
            "expected": self.expected,
        }


@dataclass
class SuiteRun:
    suite: Suite
    out_dir: Path
    source: str  # the model, or the predictions that were scored
    datasets: list[DatasetRun]


def find_file(dataset: SuiteDataset, data_dir: Path) -> DataFile | None:
    """The first of the dataset's accepted files that exists under ``data_dir``."""
    return next((f for f in dataset.files if (data_dir / f.path).is_file()), None)


def import_gold(
    suite: Suite, dataset: SuiteDataset, chosen: DataFile, data_dir: Path, out: Path, *, limit: int | None
) -> tuple[Path, int, dict[str, int]]:
    """Import the dataset's file as canonical JSONL; returns the path, count and ignored labels.

    Labels in ``ignore_labels`` are dropped as the benchmark does; any other unmapped label is
    an error naming it, as in ``knowcoder data import``.
    """
    ontology = suite.load_ontology(dataset)
    instances, report = import_dataset(
        chosen.format,
        data_dir / chosen.path,
        ontology=ontology,
        dataset=dataset.name,
        lang=dataset.lang,
        drop_unmapped=bool(dataset.ignore_labels),
        split=suite.split,
        **chosen.options,
    )
    path = out / "gold.jsonl"
    count = write_instances(path, itertools.islice(instances, limit))
    ignored = {label.casefold() for label in dataset.ignore_labels}
    unexpected = sorted(label for label in report.dropped if label.casefold() not in ignored)
    if unexpected:
        raise LabelError(
            f"label(s) {unexpected} map to no class of {suite.ontology_path(dataset)} and are not in "
            f"the suite's ignore_labels for {dataset.name!r}; add them to a class's aliases there",
            path=data_dir / chosen.path,
        )
    return path, count, dict(sorted(report.dropped.items()))


def validate_gold(path: Path, suite: Suite, dataset: SuiteDataset, params: Params) -> tuple[Path, int]:
    """Run the validation suite; returns ``valid.jsonl`` and the number of rejected records."""
    from knowcoder.validation import validate_file  # Great Expectations loads only when needed

    result = validate_file(
        path,
        suite.load_ontology(dataset),
        out_dir=path.parent / "validated",
        known_languages=params.validation.known_languages,
        min_split_sizes={suite.split: 1},
        max_reject_share=params.validation.max_reject_share,
    )
    return result.valid_path, result.rejected_records


# (suite, dataset, gold path, output dir) -> predictions keyed "<instance id>:<task>", truncated ids
PredictionSource = Callable[[Suite, SuiteDataset, Path, Path], tuple[Predictions, frozenset[str]]]


def stored_predictions(path: str | Path) -> PredictionSource:
    """Predictions read from a JSONL file, or from ``<dataset>/predictions.jsonl`` under a folder."""
    path = Path(path)
    cache: dict[Path, Predictions] = {}

    def source(
        suite: Suite, dataset: SuiteDataset, gold: Path, out: Path
    ) -> tuple[Predictions, frozenset[str]]:
        file = path / dataset.name / "predictions.jsonl" if path.is_dir() else path
        if not file.is_file():
            raise ConfigError(
                f"no predictions for dataset {dataset.name!r}: {file} does not exist", field="--pred"
            )
        if file not in cache:
            cache[file] = read_predictions(file)
        return cache[file], frozenset()

    return source


def model_predictions(
    model: str | Path, params: Params, *, constrained: bool | None = None
) -> PredictionSource:
    """Generate with ``model`` (loaded on first use, once); each dataset's prompts define its label set."""
    from knowcoder.inference.extract import Extractor, requests_for
    from knowcoder.prompts import PromptBuilder, PromptOptions

    options = PromptOptions(**params.prompt.model_dump())
    loaded: list[Extractor] = []

    def source(
        suite: Suite, dataset: SuiteDataset, gold: Path, out: Path
    ) -> tuple[Predictions, frozenset[str]]:
        ontology = suite.load_ontology(dataset)
        builder = PromptBuilder(ontology, options)
        if not loaded:
            loaded.append(load_extractor(model, builder, params, constrained=constrained))
        extractor = loaded[0]
        extractor.builder = builder  # the vocabulary trie for constrained decoding stays shared
        instances = read_gold([gold], None)
        requests = [
            request
            for task in dataset.tasks
            for request in requests_for(instances, task, ontology, types=label_set(ontology, task))
        ]
        predictions = extractor.extract(requests, progress=True)
        write_jsonl(out / "predictions.jsonl", (p.to_dict() for p in predictions))
        by_key = {p.request.id: (p.records, p.report, p.output) for p in predictions}
        return by_key, frozenset(p.request.id for p in predictions if p.truncated_prompt)

    return source


def run_suite(
    suite: Suite,
    data_dir: str | Path,
    out_dir: str | Path,
    predictions: PredictionSource,
    *,
    params: Params,
    source: str,
    lenient: bool = False,
    limit: int | None = None,
) -> SuiteRun:
    """Import, validate and score every dataset of ``suite`` found in ``data_dir``.

    A dataset none of whose files exists is reported as missing, not an error; the caller
    decides whether that is acceptable. ``limit`` keeps the first N instances of each dataset
    (a smoke test, not a benchmark score).
    """
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    if not data_dir.is_dir():
        raise ConfigError(f"data directory {data_dir} does not exist", field="--data-dir")
    runs = []
    for dataset in suite.datasets:
        chosen = find_file(dataset, data_dir)
        expected = [f.path for f in dataset.files]
        if chosen is None:
            runs.append(DatasetRun(dataset.name, "missing", expected=expected))
            continue
        out = out_dir / dataset.name
        gold, imported, ignored = import_gold(suite, dataset, chosen, data_dir, out, limit=limit)
        valid, rejected = validate_gold(gold, suite, dataset, params)
        by_key, truncated = predictions(suite, dataset, valid, out)
        result, examples = score(
            read_gold([valid], None),
            by_key,
            suite.load_ontology(dataset),
            tasks=dataset.tasks,
            lenient=lenient,
            truncated=truncated,
        )
        write_outputs(
            result,
            examples,
            out,
            title=f"{suite.name} / {dataset.name}: {source}",
            worst=params.evaluation.worst_examples,
        )
        runs.append(
            DatasetRun(
                dataset.name,
                "scored",
                file=chosen.path,
                format=chosen.format,
                imported=imported,
                ignored_labels=ignored,
                rejected=rejected,
                scored=imported - rejected,
                metrics=_numbers(result),
                expected=expected,
            )
        )
    return SuiteRun(suite, out_dir, source, runs)


def check_found(run: SuiteRun, data_dir: str | Path, *, require_all: bool, field: str) -> None:
    """Fail when no dataset of the run had a file, or (``require_all``) when any had none."""
    missing = [d for d in run.datasets if d.status == "missing"]
    if missing and require_all:
        names = "; ".join(f"{d.name} (one of {', '.join(d.expected)})" for d in missing)
        raise ConfigError(f"missing under {data_dir}: {names}", field=field)
    if len(missing) == len(run.datasets):
        expected = "; ".join(f"{d.name}: {', '.join(d.expected)}" for d in missing)
        raise ConfigError(
            f"no file of suite {run.suite.name!r} under {data_dir}; expected {expected}", field=field
        )


def _numbers(result: EvaluationResult) -> dict[str, float]:
    return {k: v for k, v in result.to_dict().items() if isinstance(v, int | float)}
