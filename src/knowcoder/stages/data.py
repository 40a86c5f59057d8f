"""The data stage: synthesize, validate every input, and summarize what the next stages get.

Plain functions of ``Params``, so the CLI, ``dvc repro`` and the Prefect flow all call the
same code. Every input is validated even when an earlier one fails, so one run shows every
problem; the stage then fails naming the first failing input.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from knowcoder.artifacts import Layout
from knowcoder.config import Params
from knowcoder.data.jsonl import atomic_open, read_instances, write_instances
from knowcoder.data.parallel import read_pairs
from knowcoder.data.synth import synthesize
from knowcoder.prompts import PromptBuilder, PromptOptions
from knowcoder.schema.ontology import Ontology, load_ontology
from knowcoder.stages.base import DataInfo, LogContext, StageContext, StageOutput
from knowcoder.tasks import TASKS
from knowcoder.validation import ValidationFailed, ValidationResult, validate_file


@dataclass
class PreparedData:
    """Where the data stage put its outputs and what it found."""

    out_dir: Path
    synth_path: Path
    results: dict[str, ValidationResult] = field(default_factory=dict)
    parallel_pairs: int = 0

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.results.values())

    def valid_paths(self) -> dict[str, Path]:
        return {name: result.valid_path for name, result in self.results.items() if result.passed}


def input_name(path: str | Path) -> str:
    """A short, stable name for an input: ``data/raw/sample/en.jsonl`` → ``sample-en``."""
    path = Path(path)
    return f"{path.parent.name}-{path.stem}" if path.parent.name not in ("", ".") else path.stem


def write_synthetic(params: Params, ontology: Ontology, path: Path) -> int:
    config = params.data.synth
    instances = synthesize(
        ontology,
        counts={"train": config.train, "dev": config.dev, "test": config.test},
        languages=tuple(config.languages),
        seed=config.seed,
        generated_names=config.generated_names,
    )
    return write_instances(path, instances)


def prepare_data(params: Params) -> PreparedData:
    """Synthesize, validate the raw and synthetic data, check the parallel pairs, write a summary."""
    ontology = load_ontology(params.paths.ontology)
    layout = Layout(params)
    prepared = PreparedData(out_dir=layout.data, synth_path=layout.synth)
    write_synthetic(params, ontology, prepared.synth_path)
    prepared.parallel_pairs = sum(1 for _ in read_pairs(params.paths.parallel))

    first_failure: ValidationFailed | None = None
    sources = {input_name(path): Path(path) for path in params.paths.raw}
    sources["synth"] = prepared.synth_path
    for name, source in sources.items():
        try:
            result = validate_file(
                source,
                ontology,
                out_dir=layout.validated_dir(name),
                known_languages=params.validation.known_languages,
                min_split_sizes=params.validation.min_split_sizes,
                max_reject_share=params.validation.max_reject_share,
            )
        except ValidationFailed as failure:
            result = failure.result
            first_failure = first_failure or failure
        prepared.results[name] = result

    _write_summary(prepared, params)
    if prepared.passed:
        _write_sample_prompts(prepared, ontology, params)
    if first_failure is not None:
        raise first_failure
    return prepared


def _write_summary(prepared: PreparedData, params: Params) -> None:
    inputs: dict[str, Any] = {}
    for name, result in prepared.results.items():
        entry: dict[str, Any] = {
            "input": str(result.input_path),
            "passed": result.passed,
            "records": result.total_records,
            "valid": result.valid_records,
            "rejected": result.rejected_records,
            "reject_share": round(result.reject_share, 6),
            "splits": dict(result.split_sizes),
        }
        if result.passed:
            entry.update(_annotation_counts(result.valid_path))
        inputs[name] = entry
    summary = {
        "params_digest": params.digest(),
        "passed": prepared.passed,
        "parallel_pairs": prepared.parallel_pairs,
        "inputs": inputs,
    }
    with atomic_open(Layout(params).data_summary) as handle:
        json.dump(summary, handle, ensure_ascii=False, indent=2)
        handle.write("\n")


def _annotation_counts(path: Path) -> dict[str, Any]:
    languages: Counter[str] = Counter()
    mentions: Counter[str] = Counter()
    for instance in read_instances(path):
        languages[instance.lang] += 1
        mentions["entities"] += len(instance.entities or [])
        mentions["relations"] += len(instance.relations or [])
        mentions["events"] += len(instance.events or [])
        mentions["arguments"] += sum(len(e.arguments) for e in instance.events or [])
    return {"languages": dict(languages), "mentions": dict(mentions)}


def _write_sample_prompts(prepared: PreparedData, ontology: Ontology, params: Params) -> None:
    """One prompt and target per task from the first valid input, for reviewers to read."""
    builder = PromptBuilder(ontology, PromptOptions(**params.prompt.model_dump()))
    first = next(iter(prepared.valid_paths().values()))
    instance = next(iter(read_instances(first)))
    parts = [f"# Sample prompts\n\nInstance `{instance.id}` ({instance.lang}): {instance.text}\n"]
    for task in TASKS.values():
        if task.gold_records(instance, ontology) is None:
            continue
        prompt, target = builder.example(instance, task)
        parts.append(f"## {task.name}\n\n```python\n{prompt}{target}\n```\n")
    with atomic_open(Layout(params).sample_prompts) as handle:
        handle.write("\n".join(parts))


# ---- the pipeline's data stage -----------------------------------------------------------------
def run(context: StageContext) -> StageOutput[DataInfo]:
    """Synthesize and validate every input; the outputs are the validated files by input name."""
    import time

    started = time.perf_counter()
    prepared = prepare_data(context.params)
    outputs = {name: str(path) for name, path in prepared.valid_paths().items()}
    metrics = {
        f"valid_records.{name}": float(result.valid_records) for name, result in prepared.results.items()
    }
    metrics["parallel_pairs"] = float(prepared.parallel_pairs)
    info = DataInfo(versions=context.versions, summary=str(Layout(context.params).data_summary))
    return StageOutput("data", context.fingerprint, outputs, metrics, info, time.perf_counter() - started)


def log(context: LogContext, output: StageOutput[DataInfo]) -> None:
    """The summary, the sample prompts, and each input's validation report."""
    layout = Layout(context.params)
    context.stage.artifact(layout.data_summary)
    context.stage.artifact(layout.sample_prompts)
    for name in output.outputs:
        for report in ("report.md", "report.json"):
            context.stage.artifact(layout.validated_dir(name) / report, f"validation/{name}")
