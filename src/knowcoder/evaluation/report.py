"""Evaluation reports for the reviewers who promote or reject a model on its scores.

``write_report`` writes, into one folder: ``metrics.json`` (the flat metric names), ``per_type.csv``,
``report.md``, ``report.html`` (the same content, one standalone page) and PNG plots: per-type F1,
and ``confusion_<task>.png`` for each task whose metrics count type confusion (NER). Scores in
the tables are percentages with two decimals. Model outputs are untrusted: the page escapes every
string and forbids scripts; in markdown, text is escaped and raw outputs sit in code fences they
cannot close. Rows and keys are sorted, so two reports of the same model diff cleanly. When the
result carries bootstrap intervals, the headline and per-language tables end with a column
``F1 [95% CI]``: the F1 and its interval, e.g. ``52.00 [45.00, 59.00]``.

Worst examples are ranked per task by example-level F1 of the headline level (``example_counts``),
lowest first, ties broken by most errors, then by id. Only examples with at least one error are
listed. The ranking matches strictly even when the result was scored leniently.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import astuple, dataclass
from io import BytesIO
from itertools import zip_longest
from pathlib import Path
from typing import Any, Literal

from knowcoder.data.jsonl import atomic_open
from knowcoder.evaluation.matching import Counts
from knowcoder.evaluation.metrics import (
    EvaluationResult,
    ParseCounts,
    ScopeScores,
    TaskScores,
    match_items,
)
from knowcoder.records import (
    Record,
    record_from_dict,
)
from knowcoder.tasks import TASKS, get_task

PER_TYPE_COLUMNS = ("task", "type", "tp", "fp", "fn", "precision", "recall", "f1")
_SCORE_HEADER = ("P", "R", "F1", "TP", "FP", "FN")


@dataclass(frozen=True)
class ReportPaths:
    """The files one report wrote; a plot is ``None`` when there was no data to draw it.

    ``confusion``: task -> its confusion plot, for every task whose metrics count type confusion.
    """

    metrics: Path
    per_type: Path
    markdown: Path
    html: Path
    per_type_f1: Path | None
    confusion: Mapping[str, Path | None]

    @property
    def confusion_ner(self) -> Path | None:
        return self.confusion.get("ner")


# ---- records of one example ---------------------------------------------------------------
def example_counts(task: str, gold: Sequence[Record], pred: Sequence[Record]) -> Counts:
    """TP/FP/FN of one example on the headline level of ``task``, matched strictly as multisets."""
    level = get_task(task).metrics.levels[0]
    gold_items = [item for record in gold for item in level.items(record)]
    pred_items = [item for record in pred for item in level.items(record)]
    pairs, missed, spurious = match_items(gold_items, pred_items)
    return Counts(len(pairs), len(spurious), len(missed))


def example_f1(task: str, gold: Sequence[Record], pred: Sequence[Record]) -> float:
    """Example-level F1 on the headline level; 0.0 when there is neither gold nor prediction."""
    return example_counts(task, gold, pred).f1


@dataclass(frozen=True)
class _Example:
    raw: Mapping[str, Any]
    task: str
    gold: list[Record]
    pred: list[Record]
    counts: Counts


def _read_examples(examples: Iterable[Mapping[str, Any]]) -> list[_Example]:
    read = []
    for index, raw in enumerate(examples):
        missing = [key for key in ("id", "task", "dataset", "lang", "text", "gold", "pred") if key not in raw]
        if missing:
            raise ValueError(f"example {index} has no {', '.join(missing)}; see write_report for the keys")
        if raw["gold"] is None:  # task not annotated: nothing to rank it by
            continue
        task = get_task(raw["task"]).name
        try:
            gold = [record_from_dict(task, d) for d in raw["gold"]]
            pred = [record_from_dict(task, d) for d in raw["pred"]]
        except ValueError as error:
            raise ValueError(f"example {raw['id']!r}: {error}") from error
        read.append(_Example(raw, task, gold, pred, example_counts(task, gold, pred)))
    return read


def _worst(examples: list[_Example], worst: int) -> dict[str, list[_Example]]:
    ranked = sorted(
        (e for e in examples if e.counts.fp + e.counts.fn),
        key=lambda e: (e.counts.f1, -(e.counts.fp + e.counts.fn), str(e.raw["id"])),
    )
    tasks = [task for task in TASKS if any(e.task == task for e in ranked)]
    return {task: [e for e in ranked if e.task == task][:worst] for task in tasks} if worst else {}


# ---- a document that renders to markdown and to HTML --------------------------------------
@dataclass(frozen=True)
class _Block:
    """A heading (``level``), paragraph, table (``rows``, header first), code, or image (``text``: file)."""

    kind: Literal["heading", "para", "table", "code", "image"]
    text: str = ""
    level: int = 0
    rows: Sequence[tuple[str, ...]] = ()


def _heading(level: int, text: str) -> _Block:
    return _Block("heading", text, level)


def _table(header: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> _Block:
    return _Block("table", rows=[header, *rows])


def _md(text: str) -> str:
    # Escaping <, > and & keeps markdown viewers from rendering HTML a model wrote.
    return html.escape(text, quote=False).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _markdown(blocks: list[_Block]) -> str:
    out = []
    for block in blocks:
        if block.kind == "heading":
            out.append(f"{'#' * block.level} {_md(block.text)}")
        elif block.kind == "table":
            lines = ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in block.rows]
            lines.insert(1, "|" + "---|" * len(block.rows[0]))
            out.append("\n".join(lines))
        elif block.kind == "code":
            # A fence longer than any backtick run in the output, so the output cannot close it.
            fence = "`" * max(3, 1 + max((len(run) for run in re.findall("`+", block.text)), default=0))
            out.append(f"{fence}text\n{block.text}\n{fence}")
        elif block.kind == "image":
            out.append(f"![{_md(block.text)}]({block.text})")
        else:
            out.append(_md(block.text))
    return "\n\n".join(out) + "\n"


_CSS = (
    "body{font-family:sans-serif;max-width:72em;margin:2em auto;padding:0 1em}"
    "table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #bbb;padding:.2em .5em;"
    "text-align:left;vertical-align:top}pre{background:#f4f4f4;padding:.5em;white-space:pre-wrap}"
    "img{max-width:100%}"
)
# No script may run and nothing may load from outside, whatever a model output smuggles in.
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _html(title: str, blocks: list[_Block], images: Mapping[str, bytes]) -> str:
    esc = html.escape
    parts = []
    for block in blocks:
        if block.kind == "heading":
            parts.append(f"<h{block.level}>{esc(block.text)}</h{block.level}>")
        elif block.kind == "table":
            head = "".join(f"<th>{esc(cell)}</th>" for cell in block.rows[0])
            body = "".join(
                "\n<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in block.rows[1:]
            )
            parts.append(
                f"<table><thead><tr>{head}</tr></thead><tbody>{body}\n</tbody></table>"
            )  # a line a row
        elif block.kind == "code":
            parts.append(f"<pre><code>{esc(block.text)}</code></pre>")
        elif block.kind == "image":
            data = base64.b64encode(images[block.text]).decode("ascii")
            parts.append(f'<img alt="{esc(block.text)}" src="data:image/png;base64,{data}">')
        else:
            parts.append(f"<p>{esc(block.text)}</p>")
    return (
        f'<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        f"<title>{esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(parts)
        + "\n</body>\n</html>\n"
    )


# ---- plots ------------------------------------------------------------------------------
def _png(figure: Any) -> bytes:
    # An explicit Agg canvas instead of pyplot: headless, and the caller's pyplot backend is left alone.
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})  # no version: clean diffs
    return buffer.getvalue()


def _per_type_plot(result: EvaluationResult) -> bytes | None:
    tables = [(task, result.per_type_rows(task)) for task, scores in result.tasks.items() if scores.per_type]
    if not tables:
        return None
    from matplotlib.figure import Figure

    sizes = [len(rows) for _, rows in tables]
    figure = Figure(figsize=(8, 1 + 0.35 * sum(sizes) + 0.8 * len(tables)), layout="constrained")
    axes = figure.subplots(len(tables), 1, squeeze=False, gridspec_kw={"height_ratios": sizes})[:, 0]
    for ax, (task, rows) in zip(axes, tables, strict=True):
        f1 = [100 * float(row["f1"]) for row in rows]  # percent, as in the tables
        ax.barh(range(len(rows)), f1, color="tab:blue")
        ax.set_yticks(range(len(rows)), [str(row["type"]) for row in rows])
        ax.invert_yaxis()  # first type on top, as in the tables
        ax.set(xlim=(0, 110), xlabel="F1 (%)", title=f"{task}: per-type F1 ({result.tasks[task].headline})")
        for y, value in enumerate(f1):
            ax.text(value + 1, y, f"{value:.2f}", va="center", fontsize=8)
    return _png(figure)


def _confusion_file(task: str) -> str:
    return f"confusion_{task}.png"


def _confusion_tasks() -> list[str]:
    return [name for name, task in TASKS.items() if task.metrics.confusion]


def _confusion_plot(task: str, scores: TaskScores | None) -> bytes | None:
    if scores is None or not scores.confusion:
        return None
    from matplotlib.figure import Figure

    # One sorted axis for both sides, so the diagonal is the right type.
    types = sorted({name for pair in scores.confusion for name in pair})
    grid = [[scores.confusion.get((gold, pred), 0) for pred in types] for gold in types]
    peak = max(max(row) for row in grid)
    size = max(4.0, 1.5 + 0.6 * len(types))
    figure = Figure(figsize=(size + 1, size), layout="constrained")
    ax = figure.subplots()
    ax.imshow(grid, cmap="Blues", vmin=0)
    ax.set_xticks(range(len(types)), types, rotation=45, ha="right")
    ax.set_yticks(range(len(types)), types)
    ax.set(
        xlabel="predicted type", ylabel="gold type", title=f"{task.upper()} type confusion on the same span"
    )
    for i, row in enumerate(grid):
        for j, count in enumerate(row):
            color = "white" if count > peak / 2 else "black"
            ax.text(j, i, str(count), ha="center", va="center", color=color)
    return _png(figure)


# ---- the report -------------------------------------------------------------------------
def _pct(value: float) -> str:
    return f"{100 * value:.2f}"


def _score_cells(c: Counts) -> tuple[str, ...]:
    return (*map(_pct, (c.precision, c.recall, c.f1)), *map(str, (c.tp, c.fp, c.fn)))


def _has_intervals(result: EvaluationResult) -> bool:
    return any(s.overall.f1_interval is not None for s in result.tasks.values())


def _interval_cell(scope: ScopeScores, headline: str) -> str:
    if scope.f1_interval is None:
        return ""
    low, high = scope.f1_interval
    return f"{_pct(scope.levels[headline].f1)} [{_pct(low)}, {_pct(high)}]"


_CI_HEADER = "F1 [95% CI]"


def _scope_table(result: EvaluationResult, label: str, pick: str) -> _Block:
    rows = []
    ci = _has_intervals(result) and pick == "by_lang"
    for task, scores in result.tasks.items():
        scoped: dict[str, ScopeScores] = getattr(scores, pick)
        for name, scope in sorted(scoped.items()):
            row = (task, name, *_score_cells(scope.levels[scores.headline]), str(scope.instances))
            rows.append((*row, _interval_cell(scope, scores.headline)) if ci else row)
    return _table(("task", label, *_SCORE_HEADER, "instances", *([_CI_HEADER] if ci else [])), rows)


def _headline_table(scored: Mapping[str, TaskScores], ci: bool) -> _Block:
    rows = []
    for task, scores in scored.items():
        for level, counts in scores.overall.levels.items():
            row = (task, level, *_score_cells(counts))
            interval = _interval_cell(scores.overall, level) if level == scores.headline else ""
            rows.append((*row, interval) if ci else row)
    return _table(("task", "level", *_SCORE_HEADER, *([_CI_HEADER] if ci else [])), rows)


def _records_table(example: _Example) -> _Block:
    task = get_task(example.task)
    level, render = task.metrics.levels[0], task.render_record
    items = [[item for r in records for item in level.items(r)] for records in (example.gold, example.pred)]
    matched = Counter(items[0]) & Counter(items[1])

    def cells(records: list[Record]) -> list[str]:
        pool, out = Counter(matched), []
        for record in records:  # a record is right when all its items matched (EAE: all arguments)
            ok = all(pool[item] > 0 for item in level.items(record))
            pool.subtract(level.items(record))
            out.append(("✓ " if ok else "✗ ") + render(record))
        return out

    return _table(("gold", "prediction"), zip_longest(cells(example.gold), cells(example.pred), fillvalue=""))


def _example_blocks(example: _Example) -> list[_Block]:
    raw, c, report = example.raw, example.counts, example.raw.get("report")
    parse = "no parse report"
    if report is not None:
        parse = "parseable" if report.get("parseable") else "unparseable"
        types, spans = sum(report.get("unknown_types", {}).values()), report.get("spans_not_found", 0)
        parse += f"; hallucinated types {types}; hallucinated spans {spans}"
    meta = [
        ("dataset", str(raw["dataset"])),
        ("language", str(raw["lang"])),
        ("text", str(raw["text"])),
        ("example F1", f"{_pct(c.f1)} (TP {c.tp}, FP {c.fp}, FN {c.fn})"),
        ("parse", parse),
    ]
    blocks = [_heading(4, str(raw["id"])), _table(("field", "value"), meta), _records_table(example)]
    if raw.get("output") is not None:
        blocks += [_Block("para", "Raw output:"), _Block("code", str(raw["output"]))]
    return blocks


def _document(
    result: EvaluationResult, examples: list[_Example], title: str, worst: int, plots: Mapping[str, object]
) -> list[_Block]:
    scored = {task: s for task, s in result.tasks.items() if s.overall.instances}
    mode = "lenient (an ancestor of the gold entity type counts)" if result.lenient else "strict"
    parse_header = tuple(name.replace("_", " ") for name in ParseCounts.__dataclass_fields__)
    blocks = [
        _heading(1, title),
        _Block("para", f"Scores are micro P/R/F1 in percent; matching is {mode}; headline level first."),
        _heading(2, "Headline scores"),
        _headline_table(scored, _has_intervals(result)),
        _heading(2, "By dataset"),
        _scope_table(result, "dataset", "by_dataset"),
        _heading(2, "By language"),
        _scope_table(result, "language", "by_lang"),
        _heading(2, "Parse counts"),
        _table(
            ("task", "instances", "unannotated", *parse_header),
            [
                tuple(map(str, (t, s.overall.instances, s.unannotated, *astuple(s.parse))))
                for t, s in result.tasks.items()
            ],
        ),
        _heading(2, "Per type"),
    ]
    for task, scores in scored.items():
        rows = [(name, *_score_cells(counts)) for name, counts in sorted(scores.per_type.items())]
        blocks += [_heading(3, f"{task} ({scores.headline})"), _table(("type", *_SCORE_HEADER), rows)]
    blocks.append(_heading(2, "Plots"))
    confusion = [(_confusion_file(task), f"{task.upper()} type confusion") for task in _confusion_tasks()]
    for file, what in (("per_type_f1.png", "Per-type F1"), *confusion):
        blocks.append(
            _Block("image", file) if plots[file] else _Block("para", f"{what}: no data, not drawn.")
        )
    blocks.append(_heading(2, f"Worst examples (up to {worst} per task, lowest example F1 first)"))
    picked = _worst(examples, worst)
    if not picked:
        blocks.append(_Block("para", "No example with an error to show."))
    for task, chosen in picked.items():
        blocks.append(_heading(3, task))
        for example in chosen:
            blocks += _example_blocks(example)
    return blocks


def write_report(
    result: EvaluationResult,
    examples: Iterable[Mapping[str, Any]],
    out_dir: str | Path,
    *,
    title: str,
    worst: int = 20,
) -> ReportPaths:
    """Write metrics.json, per_type.csv, report.md, report.html and the plots into ``out_dir``.

    ``examples``: dicts with ``id``, ``task``, ``dataset``, ``lang``, ``text``, ``gold`` and ``pred``
    (lists of ``record.to_dict()``; ``gold`` ``None`` when not annotated), and optionally the raw
    ``output`` and the parse ``report`` (``ParseReport.to_dict()``).
    """
    if worst < 0:
        raise ValueError(f"worst={worst} is negative; pass how many examples to show per task (0 for none)")
    out = Path(out_dir)
    read = _read_examples(examples)
    with atomic_open(out / "metrics.json") as handle:
        handle.write(json.dumps(result.to_dict(), sort_keys=True, indent=2) + "\n")
    with atomic_open(out / "per_type.csv") as handle:
        writer = csv.DictWriter(handle, PER_TYPE_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({"task": task, **row} for task in result.tasks for row in result.per_type_rows(task))
    plots = {"per_type_f1.png": _per_type_plot(result)}
    for task in _confusion_tasks():
        plots[_confusion_file(task)] = _confusion_plot(task, result.tasks.get(task))
    for file, data in plots.items():
        if data is None:
            (out / file).unlink(missing_ok=True)  # a plot left by an earlier report would mislead
            continue
        with atomic_open(out / file, "wb") as handle:
            handle.write(data)
    blocks = _document(result, read, title, worst, plots)
    with atomic_open(out / "report.md") as handle:
        handle.write(_markdown(blocks))
    with atomic_open(out / "report.html") as handle:
        handle.write(_html(title, blocks, {f: d for f, d in plots.items() if d is not None}))
    drawn = {file: out / file if data else None for file, data in plots.items()}
    return ReportPaths(
        out / "metrics.json",
        out / "per_type.csv",
        out / "report.md",
        out / "report.html",
        drawn["per_type_f1.png"],
        {task: drawn[_confusion_file(task)] for task in _confusion_tasks()},
    )
