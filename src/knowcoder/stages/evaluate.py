"""Evaluation: score predictions against gold, or generate with a model and then score.

Predictions files hold one JSON object per instance and task: ``{"id": "<instance id>:<task>",
"task", "records": [...]}`` and/or ``"output"`` (raw model code, parsed here when ``records``
is absent). Everything the stage writes goes to one directory: ``predictions.jsonl`` (when it
generated), ``metrics.json``, ``headline.json``, ``per_type.csv``, ``report.md``, ``report.html``
and plots. Each headline F1 (task-level and per language) comes with a 95 % bootstrap interval over
sentences (``<task>.f1_ci_low`` / ``<task>.f1_ci_high``, see ``knowcoder.evaluation.bootstrap``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from knowcoder.artifacts import Layout
from knowcoder.config import EvaluationConfig, Params, SuiteConfig
from knowcoder.data.instance import Instance
from knowcoder.data.jsonl import iter_jsonl, read_instances, write_jsonl
from knowcoder.errors import DataFormatError
from knowcoder.evaluation.bootstrap import Bootstrap
from knowcoder.evaluation.metrics import TASK_METRICS, EvaluationResult, Scorer
from knowcoder.parser import ParseReport, parse_results
from knowcoder.prompts import PromptBuilder, PromptOptions
from knowcoder.records import Record, record_from_dict
from knowcoder.schema.ontology import Ontology
from knowcoder.stages.base import EvaluateInfo, LogContext, StageContext, StageOutput
from knowcoder.tasks import Allowed, get_task

if TYPE_CHECKING:
    from knowcoder.inference.extract import Extractor


@dataclass
class EvaluationRun:
    result: EvaluationResult
    out_dir: Path
    examples: list[dict[str, Any]]


#: intervals drawn when the caller names no settings (``evaluation.bootstrap_*`` defaults)
DEFAULT_BOOTSTRAP = Bootstrap()


def bootstrap_from(config: EvaluationConfig) -> Bootstrap | None:
    """The interval settings of ``config``; None when ``bootstrap_resamples`` is 0."""
    if config.bootstrap_resamples == 0:
        return None
    return Bootstrap(resamples=config.bootstrap_resamples, seed=config.bootstrap_seed)


def read_gold(paths: Iterable[str | Path], split: str | None) -> list[Instance]:
    return [i for path in paths for i in read_instances(path) if split is None or i.split in (None, split)]


def read_predictions(
    path: str | Path, *, max_chars: int = 65_536
) -> dict[str, tuple[list[Record], ParseReport | None, str | None]]:
    """Records (and parse report, raw output) per ``"<instance id>:<task>"`` key."""
    out: dict[str, tuple[list[Record], ParseReport | None, str | None]] = {}
    for line, row in iter_jsonl(path):
        key, task = row.get("id"), row.get("task")
        if not isinstance(key, str) or not isinstance(task, str):
            raise DataFormatError(
                "each prediction needs string fields id and task", path=path, line=line, field="id"
            )
        if key in out:
            raise DataFormatError(f"duplicate prediction {key!r}", path=path, line=line, field="id")
        output = row.get("output")
        try:
            if "records" in row:
                records = [record_from_dict(task, r) for r in row["records"]]
                report = None
            elif isinstance(output, str):
                parsed = parse_results(output, task, Allowed(), max_chars=max_chars)
                records, report = parsed.records, parsed.report
            else:
                raise DataFormatError("needs records or output", path=path, line=line, field="records")
        except (KeyError, TypeError, ValueError) as error:
            raise DataFormatError(
                f"malformed record ({error})", path=path, line=line, field="records"
            ) from error
        out[key] = (records, report, output if isinstance(output, str) else None)
    return out


Predictions = Mapping[str, tuple[list[Record], ParseReport | None, str | None]]


def score(
    gold: Sequence[Instance],
    predictions: Predictions,
    ontology: Ontology | None,
    *,
    tasks: Sequence[str],
    lenient: bool = False,
    truncated: frozenset[str] = frozenset(),
    bootstrap: Bootstrap | None = DEFAULT_BOOTSTRAP,
) -> tuple[EvaluationResult, list[dict[str, Any]]]:
    """Score every annotated (instance, task); a missing prediction counts as an empty one.

    ``truncated``: prediction ids whose prompt was cut to fit the model (counted per task).
    ``bootstrap``: how each headline F1's interval is drawn; None: no intervals.
    """
    scorer = Scorer(ontology, lenient=lenient, bootstrap=bootstrap)
    examples = []
    for instance in gold:
        for name in tasks:
            task = get_task(name)
            expected = task.gold_records(instance, ontology)
            if expected is None:
                continue
            records, report, output = predictions.get(f"{instance.id}:{task.name}", ([], None, None))
            key = f"{instance.id}:{task.name}"
            scorer.add(
                task.name,
                expected,
                records,
                dataset=instance.dataset,
                lang=instance.lang,
                report=report,
                truncated_prompt=key in truncated,
            )
            examples.append(
                {
                    "id": instance.id,
                    "task": task.name,
                    "dataset": instance.dataset,
                    "lang": instance.lang,
                    "text": instance.text,
                    "gold": [r.to_dict() for r in expected],
                    "pred": [r.to_dict() for r in records],
                    "output": output,
                    "report": report.to_dict() if report is not None else None,
                }
            )
    return scorer.result(), examples


def headline(metrics: Mapping[str, float]) -> dict[str, float]:
    """Task-level, per-language and parse metrics: the numbers to compare runs by.

    A name may start with a report suite's name (``sample-test.ner.f1``); the rest decides.
    """
    return {k: v for k, v in metrics.items() if _is_headline(_without_suite(k))}


def _without_suite(name: str) -> str:
    first, _, rest = name.partition(".")
    return rest if rest and first not in TASK_METRICS and first != "parse" else name


def _is_headline(name: str) -> bool:
    return name.count(".") == 1 or (".lang." in name and name.count(".") == 3) or name.startswith("parse.")


def write_outputs(
    result: EvaluationResult, examples: list[dict[str, Any]], out_dir: Path, *, title: str, worst: int
) -> None:
    """The full report, plus ``headline.json`` (the metrics ``dvc exp show`` and reviewers compare)."""
    from knowcoder.data.jsonl import atomic_open
    from knowcoder.evaluation.report import write_report

    write_report(result, examples, out_dir, title=title, worst=worst)
    numbers = {k: v for k, v in result.to_dict().items() if isinstance(v, int | float)}
    with atomic_open(out_dir / "headline.json") as handle:
        json.dump(headline(numbers), handle, indent=2, sort_keys=True)
        handle.write("\n")


def evaluate_predictions(
    pred_path: str | Path,
    gold_paths: Sequence[str | Path],
    out_dir: str | Path,
    *,
    ontology: Ontology | None,
    tasks: Sequence[str],
    split: str | None = None,
    lenient: bool = False,
    worst: int = 20,
) -> EvaluationRun:
    gold = read_gold(gold_paths, split)
    result, examples = score(gold, read_predictions(pred_path), ontology, tasks=tasks, lenient=lenient)
    write_outputs(result, examples, Path(out_dir), title=f"Evaluation of {Path(pred_path).name}", worst=worst)
    return EvaluationRun(result, Path(out_dir), examples)


def load_extractor(
    model: str | Path, builder: PromptBuilder, params: Params, *, constrained: bool | None = None
) -> Extractor:
    """An extractor for ``model`` with the loading, generation and parser settings of ``params``."""
    from knowcoder.inference.extract import Extractor

    return Extractor.from_config(
        model,
        builder,
        params.evaluation,
        params.parser,
        constrained=constrained,
        trust_remote_code=params.model.trust_remote_code,
        use_safetensors=params.model.use_safetensors,
        dtype=params.model.dtype,
    )


def evaluate_model(
    model: str | Path,
    gold_paths: Sequence[str | Path],
    out_dir: str | Path,
    *,
    params: Params,
    ontology: Ontology,
    constrained: bool | None = None,
    progress: bool = True,
) -> EvaluationRun:
    """Generate with ``model`` for every instance and task of the gold data, then score."""
    builder = PromptBuilder(ontology, PromptOptions(**params.prompt.model_dump()))
    extractor = load_extractor(model, builder, params, constrained=constrained)
    return _generate_and_score(extractor, gold_paths, out_dir, params.evaluation, ontology, model, progress)


def evaluate_suites(
    model: str | Path,
    suites: Mapping[str, tuple[SuiteConfig, Sequence[str | Path]]],
    out_root: str | Path,
    *,
    params: Params,
    ontology: Ontology,
    progress: bool = True,
) -> dict[str, EvaluationRun]:
    """Evaluate ``model`` on each named suite (its split and tasks, its validated inputs), loaded once.

    Each suite's report goes to ``out_root/<name>``.
    """
    builder = PromptBuilder(ontology, PromptOptions(**params.prompt.model_dump()))
    extractor = load_extractor(model, builder, params)
    runs = {}
    for name, (suite, gold_paths) in suites.items():
        config = params.evaluation.model_copy(
            update={"split": suite.split, "tasks": suite.tasks or params.evaluation.tasks}
        )
        out_dir = Path(out_root) / name
        runs[name] = _generate_and_score(extractor, gold_paths, out_dir, config, ontology, model, progress)
    return runs


def _generate_and_score(
    extractor: Extractor,
    gold_paths: Sequence[str | Path],
    out_dir: str | Path,
    config: EvaluationConfig,
    ontology: Ontology,
    model: str | Path,
    progress: bool,
) -> EvaluationRun:
    from knowcoder.inference.extract import requests_for

    out_dir = Path(out_dir)
    gold = read_gold(gold_paths, config.split)
    requests = [r for task in config.tasks for r in requests_for(gold, task, ontology, types=config.types)]
    predictions = extractor.extract(requests, progress=progress)
    write_jsonl(out_dir / "predictions.jsonl", (p.to_dict() for p in predictions))
    by_key = {p.request.id: (p.records, p.report, p.output) for p in predictions}
    truncated = frozenset(p.request.id for p in predictions if p.truncated_prompt)
    result, examples = score(
        gold,
        by_key,
        ontology,
        tasks=config.tasks,
        lenient=config.lenient,
        truncated=truncated,
        bootstrap=bootstrap_from(config),
    )
    write_outputs(result, examples, out_dir, title=f"Evaluation of {model}", worst=config.worst_examples)
    return EvaluationRun(result, out_dir, examples)


# ---- the pipeline's evaluate stage ---------------------------------------------------------------
def run(context: StageContext) -> StageOutput[EvaluateInfo]:
    """Score the headline suite (``evaluation.suite``) and each of ``evaluation.report_suites``.

    The model is the last trained stage's (the upstream rule puts it last). Each suite reports into
    ``evaluation/<suite>/``. The headline suite's metrics keep their names (``ner.f1``: the registry
    gate's); a report suite's headline metrics are prefixed with its name (``sample-test.ner.f1``,
    logged to MLflow as ``sample-test/ner/f1``).
    """
    import time

    from knowcoder.schema.ontology import load_ontology

    params = context.params
    started = time.perf_counter()
    model_dir = context.upstream[-1].outputs["model"]
    layout = Layout(params)
    config = params.evaluation
    names = [config.suite, *config.report_suites]
    suites = {}
    for name in names:
        suite = config.resolve_suite(name)
        suites[name] = (suite, [layout.validated(data) for data in suite.data])
    runs = evaluate_suites(
        model_dir,
        suites,
        layout.evaluations,
        params=params,
        ontology=load_ontology(params.paths.ontology),
        progress=True,
    )
    metrics = {
        k: float(v) for k, v in runs[config.suite].result.to_dict().items() if isinstance(v, int | float)
    }
    out_dir = layout.evaluation(config.suite)
    outputs = {
        "report": str(out_dir),
        "predictions": str(out_dir / "predictions.jsonl"),
        "model": str(model_dir),
    }
    for name in config.report_suites:
        numbers = {k: float(v) for k, v in runs[name].result.to_dict().items() if isinstance(v, int | float)}
        metrics.update({f"{name}.{k}": v for k, v in headline(numbers).items()})
        outputs[f"report.{name}"] = str(layout.evaluation(name))
    info = EvaluateInfo(suites=names)
    return StageOutput("evaluate", context.fingerprint, outputs, metrics, info, time.perf_counter() - started)


def log(context: LogContext, output: StageOutput[EvaluateInfo]) -> None:
    """The reports, sample predictions beside gold, and the headline metrics on the parent run."""
    params = context.params
    context.stage.artifact(output.outputs["report"], "evaluation")
    for name in output.info.suites[1:]:  # report suites, each in a folder of its own
        context.stage.artifact(output.outputs[f"report.{name}"], f"evaluation/{name}")
    rows = prediction_rows(Path(output.outputs["predictions"]), params.pipeline.sample_predictions, params)
    context.stage.table(rows, "sample_predictions.json")
    context.parent.metrics(headline(output.metrics))
    raw = [version for version in context.versions if version.path in params.paths.raw]
    context.parent.datasets(raw, context=f"evaluation:{params.evaluation.suite}")


def prediction_rows(path: Path, limit: int, params: Params) -> list[dict[str, Any]]:
    """Up to ``limit`` predictions, taken in turn from every task, each beside its gold records."""
    from knowcoder.schema.ontology import load_ontology

    if not path.is_file() or limit <= 0:
        return []
    by_task: dict[str, list[dict[str, Any]]] = {}
    for _, item in iter_jsonl(path):
        by_task.setdefault(item["task"], []).append(item)
    picked: list[dict[str, Any]] = []
    queues = [list(reversed(items)) for items in by_task.values()]
    while len(picked) < limit and any(queues):
        for queue in queues:
            if queue and len(picked) < limit:
                picked.append(queue.pop())
    wanted = {item["id"] for item in picked}
    gold: dict[str, Any] = {}
    layout = Layout(params)
    for name in params.evaluation.resolve_suite().data:
        source = layout.validated(name)
        if source.is_file():
            gold.update((i.id, i) for i in read_instances(source) if i.id in wanted)
    ontology = load_ontology(params.paths.ontology)
    rows = []
    for item in picked:
        instance = gold.get(item["id"])
        records = get_task(item["task"]).gold_records(instance, ontology) if instance is not None else None
        rows.append(
            {
                "id": item["id"],
                "task": item["task"],
                "lang": item.get("lang"),
                "text": item["text"],
                "output": item["output"],
                "records": json.dumps(item["records"], ensure_ascii=False),
                "gold": json.dumps([r.to_dict() for r in records or []], ensure_ascii=False),
            }
        )
    return rows
