"""Score released KnowCoder outputs (or a model answering released prompts) on released data.

The prompts are the release's own, rendered again from each record's instance and the
imported schema (byte for byte, see ``tests/released``), the outputs are read as the released
readers read them, and the scores are the project's strict micro P/R/F1 (lenient on request).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from knowcoder.errors import DataFormatError
from knowcoder.evaluation.metrics import EvaluationResult, Scorer
from knowcoder.parser import parse_results
from knowcoder.prompts import PromptBuilder, PromptOptions
from knowcoder.records import Record
from knowcoder.released.data import ReleasedExample, examples_with_schema
from knowcoder.released.schema import SchemaImport, check_ed_mapping, import_class_defs, load_ed_mapping
from knowcoder.schema.ontology import Ontology
from knowcoder.tasks import get_task


def load_released(
    data: str | Path,
    *,
    class_defs: Sequence[str | Path] = (),
    mapping: str | Path | None = None,
    setting: str = "zero-shot",
    style: str = "released",
) -> tuple[list[ReleasedExample], Ontology, PromptBuilder]:
    """Released records, the schema their prompts (and ``class_defs``) define, and a builder."""
    examples, schema = examples_with_schema(data, setting=setting)
    if class_defs:
        merged = import_class_defs(class_defs, SchemaImport())
        for cls in schema.classes.values():
            merged.add(cls)
        schema = merged
    ontology = schema.ontology(source=str(data))
    ed_mapping = load_ed_mapping(mapping) if mapping else None
    if ed_mapping:
        check_ed_mapping(ed_mapping, ontology, source=str(mapping))
    builder = PromptBuilder(ontology, PromptOptions(style=style), ed_mapping=ed_mapping)
    return examples, ontology, builder


def released_prompt(builder: PromptBuilder, example: ReleasedExample) -> str:
    """The full model input for ``example``: its classes, in its order, with the system wrapper."""
    task = get_task(example.task)
    given = task.gold_records(example.instance, builder.ontology) if task.given_by else ()
    return builder.prompt(example.instance.text, task, list(example.classes), given=given or ())


def output_field(record: Mapping[str, Any], name: str) -> Any:
    """``record[name]``, or the dotted path ``name`` (``one-stage.output``)."""
    if name in record:
        return record[name]
    value: Any = record
    for key in name.split("."):
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def score_released(
    examples: Sequence[ReleasedExample],
    outputs: Sequence[str],
    builder: PromptBuilder,
    *,
    lenient: bool = False,
) -> EvaluationResult:
    """Parse each output like the released readers and score it against its record's gold."""
    scorer = Scorer(builder.ontology, lenient=lenient)
    for example, output in zip(examples, outputs, strict=True):
        task = get_task(example.task)
        parsed = parse_results(output, task)
        gold: list[Record] | None = task.gold_records(example.instance, builder.ontology)
        if gold is not None and builder.ed_mapping and task.uses_ed_mapping:
            gold = _coarse(gold, builder.ed_mapping)
        scorer.add(
            task.name, gold, parsed.records, dataset=example.instance.dataset, lang="en", report=parsed.report
        )
    return scorer.result()


def _coarse(records: list[Record], mapping: Mapping[str, str]) -> list[Record]:
    from knowcoder.records import TriggerRecord

    return [
        TriggerRecord(mapping.get(r.type, r.type), r.trigger) if isinstance(r, TriggerRecord) else r
        for r in records
    ]


def outputs_from_field(path: str | Path, name: str) -> list[str]:
    """The released outputs stored in field ``name`` of every record of ``path``."""
    from knowcoder.data.jsonl import iter_json_records

    outputs = []
    for line, record in iter_json_records(path):
        value = output_field(record, name)
        if not isinstance(value, str):
            raise DataFormatError(
                f"expected the output as a string, got {value!r}", path=path, line=line, field=name
            )
        outputs.append(value)
    return outputs
