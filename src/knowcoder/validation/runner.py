"""The one place that runs Great Expectations: an ephemeral context validating one table per call.

GX is imported lazily (it takes seconds to import), with usage statistics off: nothing here may
reach the network.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from knowcoder.validation.suite import Check, SuiteInputs
from knowcoder.validation.tables import ROW


@dataclass(frozen=True)
class CheckOutcome:
    """What GX found for one check: its verdict and the failing rows with their explanations."""

    check: Check
    expectation_type: str
    success: bool
    element_count: int
    unexpected_count: int
    failing: pd.DataFrame  # the failing rows of the check's table, in table order
    messages: tuple[str, ...]  # one per row of ``failing`` (one in all for a table-level check)


class GxRunner:
    """An ephemeral, in-memory GX context with one pandas data source; one validation per table."""

    def __init__(self) -> None:
        # set before GX is first imported; the context config below covers an earlier import
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
        import great_expectations as gx
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )

        self._gx = gx
        config = DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(),
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
        )
        self._context = gx.get_context(mode="ephemeral", project_config=config)
        self._source = self._context.data_sources.add_pandas("knowcoder")

    def validate(
        self, table: str, frame: pd.DataFrame, checks: Sequence[Check], inputs: SuiteInputs
    ) -> list[CheckOutcome]:
        """Run every check of ``table`` on ``frame`` in one GX validation."""
        suite = self._gx.ExpectationSuite(name=f"knowcoder-{table}")
        for check in checks:
            expectation = check.expectation(self._gx.expectations, inputs)
            expectation.meta = {"check": check.name}
            suite.add_expectation(expectation)
        asset = self._source.add_dataframe_asset(f"{table}-{len(self._source.assets)}")
        batch = asset.add_batch_definition_whole_dataframe("all").get_batch(
            batch_parameters={"dataframe": frame}
        )
        # rows come back as index values of the named ``row`` index: one list, no per-row lookups
        result = batch.validate(
            suite,
            result_format={
                "result_format": "COMPLETE",
                "unexpected_index_column_names": [ROW],
                "exclude_unexpected_values": True,
            },
        )
        by_name = {check.name: check for check in checks}
        outcomes = {}
        for item in result.results:
            config = item.expectation_config
            if config is None or not config.meta or config.meta.get("check") not in by_name:
                raise RuntimeError(f"GX returned a result for an unknown expectation: {config}")
            check = by_name[config.meta["check"]]
            info = item.exception_info or {}
            if info.get("raised_exception"):
                raise RuntimeError(f"GX expectation {check.name} crashed: {info.get('exception_message')}")
            rows = _failing_rows(item.result.get("unexpected_index_list") or [])
            failing = frame.loc[rows]
            outcomes[check.name] = CheckOutcome(
                check=check,
                expectation_type=config.type,
                success=bool(item.success),
                element_count=int(item.result.get("element_count", len(frame))),
                unexpected_count=int(item.result.get("unexpected_count", 0)),
                failing=failing,
                messages=() if item.success else tuple(check.explain(failing, inputs)),
            )
        return [outcomes[check.name] for check in checks]


def _failing_rows(index_list: list[Any]) -> list[int]:
    """Row numbers from ``unexpected_index_list``, in either shape GX may return it."""
    rows: list[int] = []
    for item in index_list:
        value = item[ROW] if isinstance(item, dict) else item
        # with exclude_unexpected_values GX packs all rows into one {"row": [...]} entry
        rows.extend(int(v) for v in (value if isinstance(value, list) else [value]))
    return sorted(set(rows))


def run_checks(
    runner: GxRunner, tables: dict[str, pd.DataFrame], checks: Sequence[Check], inputs: SuiteInputs
) -> list[CheckOutcome]:
    """Validate each table once with its checks; outcomes come back in ``checks`` order."""
    outcomes: dict[str, CheckOutcome] = {}
    for table, frame in tables.items():
        mine = [check for check in checks if check.table == table]
        if mine:
            outcomes.update((o.check.name, o) for o in runner.validate(table, frame, mine, inputs))
    return [outcomes[check.name] for check in checks]
