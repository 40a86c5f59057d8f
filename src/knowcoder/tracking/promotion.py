"""The promotion gate: does a candidate beat the champion without regressing any task?

Pure logic over two metric dicts, so the rule is testable without a registry. The candidate
becomes champion when there is none yet, or when its primary metric beats the champion's by
more than ``min_improvement`` and no guarded metric falls more than ``tolerance`` below the
champion's. Values are compared exactly as evaluation computed them: a tie is not a win, so a
model evaluated against itself never replaces itself. A guarded metric the champion never had
is not compared (nothing to regress from); one the candidate lacks while the champion has it
counts as a regression.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from knowcoder.config import RegistryConfig


@dataclass(frozen=True)
class MetricComparison:
    metric: str
    candidate: float | None
    champion: float | None
    role: str  # "primary" or "guarded"
    verdict: str  # "better", "tie", "not better", "ok", "regressed", "no champion value"

    @property
    def delta(self) -> float | None:
        if self.candidate is None or self.champion is None:
            return None
        return self.candidate - self.champion


@dataclass
class Decision:
    promote: bool
    reason: str
    comparisons: list[MetricComparison] = field(default_factory=list)

    @property
    def regressions(self) -> list[MetricComparison]:
        return [c for c in self.comparisons if c.verdict == "regressed"]

    def markdown(self) -> str:
        """The comparison table and the decision, for run artifacts and version descriptions."""
        lines = [
            f"**Decision:** {'promote to champion' if self.promote else 'keep the current champion'} "
            f"({self.reason})",
            "",
            "| metric | role | candidate | champion | delta | verdict |",
            "|---|---|---:|---:|---:|---|",
        ]
        for row in self.comparisons:
            lines.append(
                f"| {row.metric} | {row.role} | {_fmt(row.candidate)} | {_fmt(row.champion)} | "
                f"{_fmt(row.delta, signed=True)} | {row.verdict} |"
            )
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, object]:
        return {
            "promote": self.promote,
            "reason": self.reason,
            "comparisons": [asdict(c) | {"delta": c.delta} for c in self.comparisons],
        }


def _fmt(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def decide(
    candidate: Mapping[str, float], champion: Mapping[str, float] | None, config: RegistryConfig
) -> Decision:
    """Apply the gate of ``config`` to a candidate's metrics and the champion's (None: no champion)."""
    primary = config.primary_metric
    guarded = [m for m in config.guarded_metrics if m != primary]
    if primary not in candidate:
        return Decision(False, f"the candidate has no {primary!r} metric", [])
    if champion is None:
        rows = [MetricComparison(m, candidate.get(m), None, "guarded", "no champion value") for m in guarded]
        rows.insert(0, MetricComparison(primary, candidate[primary], None, "primary", "no champion value"))
        return Decision(True, "there is no champion yet", rows)

    rows = []
    champion_primary = champion.get(primary)
    if champion_primary is None:
        better = True
        rows.append(MetricComparison(primary, candidate[primary], None, "primary", "no champion value"))
    else:
        better = candidate[primary] > champion_primary + config.min_improvement
        tie = candidate[primary] == champion_primary
        verdict = "better" if better else "tie" if tie else "not better"
        rows.append(MetricComparison(primary, candidate[primary], champion_primary, "primary", verdict))
    for metric in guarded:
        theirs, ours = champion.get(metric), candidate.get(metric)
        if theirs is None:
            verdict = "no champion value"
        elif ours is None or ours < theirs - config.tolerance:
            verdict = "regressed"
        else:
            verdict = "ok"
        rows.append(MetricComparison(metric, ours, theirs, "guarded", verdict))
    regressed = [r.metric for r in rows if r.verdict == "regressed"]
    if regressed:
        return Decision(False, f"regressed beyond {config.tolerance}: {', '.join(regressed)}", rows)
    if not better and rows[0].verdict == "tie":
        return Decision(
            False, f"{primary} ties the champion's ({candidate[primary]!r}); a tie is not a win", rows
        )
    if not better:
        needed = f" by more than {config.min_improvement}" if config.min_improvement else ""
        return Decision(False, f"{primary} does not beat the champion's{needed}", rows)
    return Decision(True, f"{primary} beats the champion and no task regressed", rows)
