"""The results table of a document (the README), rendered from one evaluation's ``headline.json``.

The table sits between two markers, so that it is written by a command and never typed::

    <!-- results:begin -->
    | task | F1 [95% CI] | en | zh | n |
    | --- | --- | --- | --- | --- |
    | NER | 0.52 [0.45, 0.59] | 0.60 [0.50, 0.70] | 0.44 [0.35, 0.53] | 200 |
    <!-- results:end -->

One row per task with a headline F1 (in ``TASK_METRICS`` order), one column per language found in
the metrics (sorted), ``n`` the sentences scored. Scores are fractions with two decimals; the
bracket is the bootstrap interval (``<task>.f1_ci_low``/``_high``), left out when the metrics
carry none; a language a task was not scored in shows ``-``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path

from knowcoder.errors import DataFormatError
from knowcoder.evaluation.metrics import TASK_METRICS

BEGIN = "<!-- results:begin -->"
END = "<!-- results:end -->"
_LANG_F1 = re.compile(r"^(?P<task>[^.]+)\.lang\.(?P<lang>[^.]+)\.f1$")
#: a score cell: ``0.52`` or ``0.52 [0.45, 0.59]``; ``-`` where there is none
CELL = re.compile(r"^(?:-|\d\.\d\d(?: \[\d\.\d\d, \d\.\d\d\])?)$")


def read_headline(path: str | Path) -> dict[str, float]:
    """The metrics of a ``headline.json`` (or ``metrics.json``); each value must be a number."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise DataFormatError(f"not JSON ({error.msg})", path=path, line=error.lineno) from error
    if not isinstance(data, dict):
        raise DataFormatError("expected an object of metric names to numbers", path=path)
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DataFormatError(f"{value!r} is not a number", path=path, field=key)
    if not any(f"{task}.f1" in data for task in TASK_METRICS):
        raise DataFormatError(
            f"no task F1 ({', '.join(f'{t}.f1' for t in TASK_METRICS)}); pass the headline.json "
            "that `knowcoder evaluate` or the pipeline wrote",
            path=path,
        )
    return {key: float(value) for key, value in data.items()}


def _score(metrics: Mapping[str, float], prefix: str) -> str:
    value = metrics.get(f"{prefix}.f1")
    if value is None:
        return "-"
    low, high = metrics.get(f"{prefix}.f1_ci_low"), metrics.get(f"{prefix}.f1_ci_high")
    if low is None or high is None:
        return f"{value:.2f}"
    return f"{value:.2f} [{low:.2f}, {high:.2f}]"


def render_table(metrics: Mapping[str, float]) -> str:
    """The markdown table (header, separator, a row per task), each line ending in a newline."""
    tasks = [task for task in TASK_METRICS if f"{task}.f1" in metrics]
    langs = sorted({m["lang"] for key in metrics if (m := _LANG_F1.match(key)) and m["task"] in tasks})
    header = ["task", "F1 [95% CI]", *langs, "n"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for task in tasks:
        instances = metrics.get(f"{task}.instances", math.nan)
        n = str(int(instances)) if math.isfinite(instances) else "-"
        by_lang = [_score(metrics, f"{task}.lang.{lang}") for lang in langs]
        cells = [task.upper(), _score(metrics, task), *by_lang, n]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _block_span(text: str, source: str | Path) -> tuple[int, int]:
    """Where the text between the markers starts and ends (just after BEGIN's line, at END)."""
    begins, ends = text.count(BEGIN), text.count(END)
    if begins != 1 or ends != 1:
        raise DataFormatError(
            f"needs exactly one {BEGIN} and one {END} line around the results table "
            f"(found {begins} and {ends})",
            path=source,
        )
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    if end < start:
        raise DataFormatError(f"{END} comes before {BEGIN}", path=source)
    if text[start : start + 1] == "\n":
        start += 1
    return start, end


def current_block(text: str, source: str | Path = "<text>") -> str:
    """What stands between the markers now."""
    start, end = _block_span(text, source)
    return text[start:end]


def replace_block(text: str, table: str, source: str | Path = "<text>") -> str:
    """``text`` with the table between the markers replaced by ``table``."""
    start, end = _block_span(text, source)
    return text[:start] + table + text[end:]


def parse_table(block: str, source: str | Path = "<text>") -> tuple[list[str], list[list[str]]]:
    """Header and rows of a rendered table; an error names the line that does not fit the format."""
    lines = block.strip("\n").split("\n")

    def cells(number: int, line: str) -> list[str]:
        if not (line.startswith("| ") and line.endswith(" |")):
            raise DataFormatError(f"not a table row: {line!r}", path=source, line=number)
        return [cell.strip() for cell in line[2:-2].split(" | ")]

    if len(lines) < 2:
        raise DataFormatError("the results table needs a header and a separator line", path=source)
    header = cells(1, lines[0])
    if header[:2] != ["task", "F1 [95% CI]"] or header[-1] != "n":
        raise DataFormatError(f"header {header} is not task, F1 [95% CI], languages..., n", path=source)
    if lines[1] != "|" + " --- |" * len(header):
        raise DataFormatError(f"separator {lines[1]!r} does not fit the header", path=source, line=2)
    rows = []
    for number, line in enumerate(lines[2:], start=3):
        row = cells(number, line)
        if len(row) != len(header):
            raise DataFormatError(f"{len(row)} cells for {len(header)} columns", path=source, line=number)
        if row[0].lower() not in TASK_METRICS:
            raise DataFormatError(f"unknown task {row[0]!r}", path=source, line=number, field="task")
        bad = [cell for cell in row[1:-1] if not CELL.match(cell)]
        if bad or not (row[-1].isdigit() or row[-1] == "-"):
            raise DataFormatError(f"cell {(bad or row[-1:])[0]!r} is not a score", path=source, line=number)
        rows.append(row)
    return header, rows
