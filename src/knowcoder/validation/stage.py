"""The data-validation stage: check an instance file with Great Expectations, keep what passes.

Writes into ``out_dir``: ``rejects.jsonl``, ``report.json``, ``report.md`` and, only when the
stage passes, ``valid.jsonl``. The input file is only ever read.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from knowcoder.data.instance import Instance
from knowcoder.data.jsonl import atomic_open, write_instances, write_jsonl
from knowcoder.errors import ConfigError, InputError
from knowcoder.schema.ontology import Ontology
from knowcoder.validation.runner import CheckOutcome, GxRunner, run_checks
from knowcoder.validation.suite import RECORD_CHECKS, SPLIT_CHECK, SuiteInputs
from knowcoder.validation.tables import iter_lines, parse_line, read_tables, split_table

VALID_FILE = "valid.jsonl"
REJECTS_FILE = "rejects.jsonl"
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
FIRST_REJECTS = 20  # rejects shown in the reports; rejects.jsonl has them all


@dataclass(frozen=True)
class ExpectationSummary:
    """One expectation's verdict: ``unexpected`` of ``checked`` rows of ``table`` failed it."""

    check: str
    table: str
    expectation: str
    success: bool
    checked: int
    unexpected: int
    rejects_records: bool


@dataclass(frozen=True)
class Reject:
    line: int
    id: str | None
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class ValidationResult:
    """Counts and verdicts of one run; ``failures`` says why the stage failed (empty: it passed)."""

    input_path: Path
    out_dir: Path
    total_records: int
    valid_records: int
    rejected_records: int
    reject_share: float
    max_reject_share: float
    split_sizes: dict[str, int]  # valid records per split
    min_split_sizes: dict[str, int]
    expectations: tuple[ExpectationSummary, ...]
    reject_counts: dict[str, int]  # records rejected by each check
    first_rejects: tuple[Reject, ...]
    failures: tuple[str, ...] = field(default=())
    notes: tuple[str, ...] = field(default=())  # what was not checked, and why

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def valid_path(self) -> Path:
        return self.out_dir / VALID_FILE

    @property
    def rejects_path(self) -> Path:
        return self.out_dir / REJECTS_FILE

    @property
    def report_path(self) -> Path:
        return self.out_dir / REPORT_MD

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["input_path"] = str(self.input_path)
        data["out_dir"] = str(self.out_dir)
        data["passed"] = self.passed
        return data


class ValidationFailed(InputError):
    """Too many records were rejected or a split is below its minimum; ``result`` says which."""

    def __init__(self, message: str, *, path: str | Path, result: ValidationResult) -> None:
        super().__init__(message, path=path)
        self.result = result


def validate_file(
    path: str | Path,
    ontology: Ontology,
    *,
    out_dir: str | Path,
    known_languages: Sequence[str],
    min_split_sizes: Mapping[str, int],
    max_reject_share: float,
) -> ValidationResult:
    """Validate an instance file; write valid records, rejects and reports into ``out_dir``.

    Raises ``ValidationFailed`` (after writing rejects and reports, without ``valid.jsonl``)
    when more than ``max_reject_share`` of the records are rejected or a split named in
    ``min_split_sizes`` has fewer valid records than its minimum.
    """
    path, out_dir = Path(path), Path(out_dir)
    minimums = _check_arguments(path, out_dir, known_languages, min_split_sizes, max_reject_share)
    # a stale valid.jsonl from an earlier run must never pass for this run's output
    with contextlib.suppress(FileNotFoundError):
        (out_dir / VALID_FILE).unlink()

    inputs = SuiteInputs(ontology=ontology, known_languages=tuple(known_languages))
    result, reasons = _run_suites(path, out_dir, inputs, minimums, max_reject_share)
    write_jsonl(out_dir / REJECTS_FILE, _reject_rows(path, reasons))
    if result.passed:
        write_instances(out_dir / VALID_FILE, _valid_instances(path, reasons))
    with atomic_open(out_dir / REPORT_JSON) as handle:
        json.dump(result.to_dict(), handle, ensure_ascii=False, indent=2)
        handle.write("\n")
    with atomic_open(out_dir / REPORT_MD) as handle:
        handle.write(render_report(result))
    if not result.passed:
        raise ValidationFailed(
            f"validation failed: {'; '.join(result.failures)}; reject share {result.reject_share:.2%} "
            f"(threshold {max_reject_share:.2%}); see {result.report_path}",
            path=path,
            result=result,
        )
    return result


def _run_suites(
    path: Path, out_dir: Path, inputs: SuiteInputs, minimums: dict[str, int], max_reject_share: float
) -> tuple[ValidationResult, dict[int, list[str]]]:
    """Validate the record tables, then the split sizes of what survived; reasons by line."""
    tables = read_tables(path, inputs.ontology)
    runner = GxRunner()
    outcomes = run_checks(runner, {name: tables.table(name) for name in tables.names}, RECORD_CHECKS, inputs)
    reasons = _reasons_by_line(outcomes)
    lines = [int(line) for line in tables.records["line"]]
    notes: list[str] = []
    if minimums and len(tables.instances) and not tables.instances["split"].notna().any():
        # imported files carry no split until one is set; their minimums cannot apply
        notes.append(
            f"no record has a split, so the split minimums {dict(minimums)} were not checked; "
            "set one with `knowcoder data import --split NAME` (or validation.min_split_sizes={})"
        )
        minimums = {}
    splits = split_table(tables.instances, set(lines) - set(reasons), minimums)
    outcomes += run_checks(runner, {"splits": splits}, [SPLIT_CHECK], inputs)

    total, rejected = len(lines), len(reasons)
    share = rejected / total if total else 0.0
    failures = [message for o in outcomes if not o.check.rejects_records for message in o.messages]
    if share > max_reject_share:
        failures.insert(0, f"{rejected} of {total} records rejected")
    # pandas stores a missing id as NaN; only real string ids name a reject
    ids = {
        line: value if isinstance(value, str) else None
        for line, value in zip(lines, tables.records["id"], strict=True)
    }
    result = ValidationResult(
        input_path=path,
        out_dir=out_dir,
        total_records=total,
        valid_records=total - rejected,
        rejected_records=rejected,
        reject_share=share,
        max_reject_share=max_reject_share,
        split_sizes={
            str(name): int(count)
            for name, count in zip(splits["split"], splits["count"], strict=True)
            if count
        },
        min_split_sizes=minimums,
        expectations=tuple(_summary(o) for o in outcomes),
        reject_counts={
            o.check.name: len(set(o.failing["line"])) for o in outcomes if o.check.rejects_records
        },
        first_rejects=tuple(
            Reject(line=line, id=ids.get(line), reasons=tuple(reasons[line]))
            for line in sorted(reasons)[:FIRST_REJECTS]
        ),
        failures=tuple(failures),
        notes=tuple(notes),
    )
    return result, reasons


def _check_arguments(
    path: Path,
    out_dir: Path,
    known_languages: Sequence[str],
    min_split_sizes: Mapping[str, int],
    max_reject_share: float,
) -> dict[str, int]:
    if not 0.0 <= max_reject_share <= 1.0:
        raise ConfigError(
            f"must be a share between 0 and 1, got {max_reject_share!r}", field="max_reject_share"
        )
    if not known_languages:
        raise ConfigError("is empty; list the language codes records may carry", field="known_languages")
    for split, minimum in min_split_sizes.items():
        if isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 0:
            raise ConfigError(
                f"must be a whole number >= 0, got {minimum!r}", field=f"min_split_sizes.{split}"
            )
    outputs = {(out_dir / name).resolve() for name in (VALID_FILE, REJECTS_FILE, REPORT_JSON, REPORT_MD)}
    if path.resolve() in outputs:
        raise ConfigError(
            f"input {path} is one of the stage's own outputs; pick another out_dir", field="out_dir"
        )
    return dict(min_split_sizes)


def _reasons_by_line(outcomes: Sequence[CheckOutcome]) -> dict[int, list[str]]:
    """Map each rejected line to ``"check: explanation"`` reasons, in check order."""
    reasons: dict[int, list[str]] = {}
    for outcome in outcomes:
        if not outcome.check.rejects_records:
            continue
        for line, message in zip(outcome.failing["line"], outcome.messages, strict=True):
            reasons.setdefault(int(line), []).append(f"{outcome.check.name}: {message}")
    return reasons


def _summary(outcome: CheckOutcome) -> ExpectationSummary:
    return ExpectationSummary(
        check=outcome.check.name,
        table=outcome.check.table,
        expectation=outcome.expectation_type,
        success=outcome.success,
        checked=outcome.element_count,
        unexpected=outcome.unexpected_count,
        rejects_records=outcome.check.rejects_records,
    )


def _reject_rows(path: Path, reasons: dict[int, list[str]]) -> Iterator[dict[str, Any]]:
    for lineno, text, _ in iter_lines(path):
        if lineno not in reasons:
            continue
        try:
            record: Any = json.loads(text)
        except json.JSONDecodeError:
            record = text
        record_id = record.get("id") if isinstance(record, dict) else None
        yield {
            "line": lineno,
            "id": record_id if isinstance(record_id, str) else None,
            "reasons": reasons[lineno],
            "record": record,
        }


def _valid_instances(path: Path, reasons: dict[int, list[str]]) -> Iterator[Instance]:
    for lineno, text, _ in iter_lines(path):
        if lineno in reasons:
            continue
        instance, field_name, message = parse_line(text)
        if instance is None:  # the file changed under us, or a check let a broken line through
            raise InputError(f"line passed validation but does not parse now ({message})",
                             path=path, line=lineno, field=field_name)  # fmt: skip
        yield instance


def render_report(result: ValidationResult) -> str:
    """The human-readable report: verdict, expectations, split sizes, first rejects."""
    verdict = "PASSED" if result.passed else "FAILED: " + "; ".join(result.failures)
    lines = [
        f"# Data validation: `{result.input_path}`",
        "",
        f"**{verdict}**",
        "",
        "| records | valid | rejected | reject share | max reject share |",
        "|---:|---:|---:|---:|---:|",
        f"| {result.total_records} | {result.valid_records} | {result.rejected_records} "
        f"| {result.reject_share:.2%} | {result.max_reject_share:.2%} |",
        "",
        *[f"> Note: {note}" for note in result.notes],
        *([""] if result.notes else []),
        "## Expectations",
        "",
        "A failed record check rejects the records it names; the stage fails only when the reject "
        "share passes its maximum, a split is below its minimum, or the file is empty.",
        "",
        "| check | table | GX expectation | result | unexpected / checked | records rejected |",
        "|---|---|---|---|---:|---:|",
    ]
    for exp in result.expectations:
        rejected = result.reject_counts.get(exp.check, 0) if exp.rejects_records else "-"
        lines.append(
            f"| {exp.check} | {exp.table} | {exp.expectation} | {'pass' if exp.success else 'FAIL'} "
            f"| {exp.unexpected} / {exp.checked} | {rejected} |"
        )
    lines += ["", "## Split sizes (valid records)", "", "| split | records | minimum | result |"]
    lines.append("|---|---:|---:|---|")
    for split in dict.fromkeys([*result.min_split_sizes, *result.split_sizes]):
        count, minimum = result.split_sizes.get(split, 0), result.min_split_sizes.get(split, 0)
        lines.append(f"| {split} | {count} | {minimum} | {'ok' if count >= minimum else 'TOO SMALL'} |")
    shown = len(result.first_rejects)
    lines += ["", f"## First rejects ({shown} of {result.rejected_records})", ""]
    for reject in result.first_rejects:
        lines.append(f"- line {reject.line}" + (f" (id `{reject.id}`)" if reject.id else ""))
        lines += [f"  - {reason}" for reason in reject.reasons]
    if not shown:
        lines.append("None.")
    return "\n".join(lines) + "\n"
