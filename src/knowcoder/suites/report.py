"""The suite's score table, laid out like the paper's, with the paper's rows above this run's.

``suite.json`` holds every number (F1 in percent, one decimal as the papers print them, plus
precision, recall and TP/FP/FN per column); ``suite.md`` is the table a reviewer sets beside
the paper's. The average is the plain mean of the columns' F1 (as KnowCoder's zero-shot table
averages its seven datasets) and only exists when every column was scored.
"""

from __future__ import annotations

import json
from typing import Any

from knowcoder.data.jsonl import atomic_open
from knowcoder.suites.definition import AVERAGE
from knowcoder.suites.runner import SuiteRun
from knowcoder.tasks import get_task


def column_scores(run: SuiteRun) -> dict[str, dict[str, float]]:
    """``<dataset>.<task>`` -> f1, precision, recall (percent) and tp, fp, fn, instances."""
    out: dict[str, dict[str, float]] = {}
    for dataset_run, dataset in zip(run.datasets, run.suite.datasets, strict=True):
        if dataset_run.status != "scored":
            continue
        metrics = dataset_run.metrics
        for task in dataset.tasks:
            if f"{task}.f1" not in metrics:  # no instance annotated for the task
                continue
            level = get_task(task).metrics.headline
            out[f"{dataset.name}.{task}"] = {
                "f1": round(100 * metrics[f"{task}.f1"], 1),
                "precision": round(100 * metrics[f"{task}.precision"], 1),
                "recall": round(100 * metrics[f"{task}.recall"], 1),
                "tp": metrics[f"{task}.{level}.tp"],
                "fp": metrics[f"{task}.{level}.fp"],
                "fn": metrics[f"{task}.{level}.fn"],
                "instances": metrics[f"{task}.instances"],
            }
    return out


def suite_summary(run: SuiteRun) -> dict[str, Any]:
    """Everything ``suite.json`` holds."""
    suite = run.suite
    columns = column_scores(run)
    keys = suite.column_keys()
    ours: dict[str, float | None] = {key: columns[key]["f1"] if key in columns else None for key in keys}
    missing = [key for key in keys if ours[key] is None]
    if suite.average:
        # mean of the unrounded F1s, so it does not depend on the columns' rounding
        exact = [run_f1(run, key) for key in keys]
        ours[AVERAGE] = None if missing else round(100 * sum(exact) / len(exact), 1)  # type: ignore[arg-type]
    return {
        "suite": suite.name,
        "title": suite.title,
        "reference": suite.reference,
        "setting": suite.setting,
        "source": run.source,
        "columns": suite.column_titles(),
        "scores": ours,
        "details": columns,
        "missing": missing,
        "paper": [row.model_dump() for row in suite.paper],
        "datasets": {d.name: d.to_dict() for d in run.datasets},
    }


def run_f1(run: SuiteRun, key: str) -> float | None:
    name, task = key.rsplit(".", 1)
    for dataset_run in run.datasets:
        if dataset_run.name == name and dataset_run.status == "scored":
            return dataset_run.metrics.get(f"{task}.f1")
    return None


def suite_metrics(summary: dict[str, Any]) -> dict[str, float]:
    """The summary's scores as MLflow metrics: ``suite/<suite>/<dataset>/<task>/{f1,precision,recall}``.

    Percent, as in the table; ``suite/<suite>/average/f1`` when the suite averages and every
    column was scored. Columns that were not scored have no metric.
    """
    prefix = f"suite/{summary['suite']}"
    out: dict[str, float] = {}
    for key, details in summary["details"].items():
        dataset, task = key.rsplit(".", 1)
        for measure in ("f1", "precision", "recall"):
            out[f"{prefix}/{dataset}/{task}/{measure}"] = float(details[measure])
    average = summary["scores"].get(AVERAGE)
    if average is not None:
        out[f"{prefix}/{AVERAGE}/f1"] = float(average)
    return out


def render_markdown(summary: dict[str, Any]) -> str:
    titles: dict[str, str] = dict(summary["columns"])
    if AVERAGE in summary["scores"]:
        titles[AVERAGE] = "Average"
    header = ["Model", *titles.values()]
    lines = [
        f"# {summary['title']}",
        "",
        f"Suite `{summary['suite']}`, scored: `{summary['source']}`. F1 in percent, strict micro.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for row in summary["paper"]:
        name = row["model"] + (f" ({row['note']})" if row.get("note") else "")
        lines.append("| " + " | ".join([name, *(_cell(row["scores"].get(k)) for k in titles)]) + " |")
    lines.append(
        "| "
        + " | ".join(["**this run**", *(f"**{_cell(summary['scores'].get(k))}**" for k in titles)])
        + " |"
    )
    lines += ["", f"Paper rows: {summary['reference']}.", "", f"Setting: {summary['setting']}", ""]
    if summary["missing"]:
        lines += [
            f"Not scored (no file found): {', '.join(summary['missing'])}"
            + ("; the average needs every column." if AVERAGE in summary["scores"] else "."),
            "",
        ]
    lines += [
        "## Per column",
        "",
        "| column | F1 | P | R | TP | FP | FN | instances |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, d in summary["details"].items():
        lines.append(
            f"| {key} | {d['f1']} | {d['precision']} | {d['recall']} | {d['tp']} | {d['fp']} | {d['fn']} "
            f"| {d['instances']} |"
        )
    lines += [
        "",
        "## Data",
        "",
        "| dataset | file | format | imported | ignored labels | rejected | scored |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, d in summary["datasets"].items():
        if d["status"] != "scored":
            lines.append(f"| {name} | missing: one of {', '.join(d['expected'])} | | | | | |")
            continue
        ignored = ", ".join(f"{k}: {v}" for k, v in d["ignored_labels"].items()) or "-"
        lines.append(
            f"| {name} | {d['file']} | {d['format']} | {d['imported']} | {ignored} | {d['rejected']} "
            f"| {d['scored']} |"
        )
    lines += [
        "",
        "Each dataset's full report (per type, parse counts, worst examples): `<dataset>/report.md`.",
        "",
    ]
    return "\n".join(lines)


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def write_suite_report(run: SuiteRun) -> dict[str, Any]:
    """Write ``suite.json`` and ``suite.md`` into the run's output directory; returns the summary."""
    summary = suite_summary(run)
    run.out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_open(run.out_dir / "suite.json") as handle:
        json.dump(summary, handle, ensure_ascii=False, indent=2)
        handle.write("\n")
    with atomic_open(run.out_dir / "suite.md") as handle:
        handle.write(render_markdown(summary))
    return summary
