"""Benchmark suites: the settings of KnowCoder's tables, applied to the user's own files."""

from knowcoder.suites.definition import Suite, SuiteDataset, bundled_suites, label_set, load_suite
from knowcoder.suites.report import suite_metrics, suite_summary, write_suite_report
from knowcoder.suites.runner import (
    DatasetRun,
    SuiteRun,
    check_found,
    model_predictions,
    run_suite,
    stored_predictions,
)

__all__ = [
    "DatasetRun",
    "Suite",
    "SuiteDataset",
    "SuiteRun",
    "bundled_suites",
    "check_found",
    "label_set",
    "load_suite",
    "model_predictions",
    "run_suite",
    "stored_predictions",
    "suite_metrics",
    "suite_summary",
    "write_suite_report",
]
