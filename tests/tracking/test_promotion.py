from __future__ import annotations

import pytest

from knowcoder.config import RegistryConfig
from knowcoder.tracking.promotion import decide

GATE = RegistryConfig(
    primary_metric="ner.f1", tolerance=0.02, guarded_metrics=["ner.f1", "re.f1", "ed.f1"], min_improvement=0.0
)


def verdicts(decision):
    return {row.metric: row.verdict for row in decision.comparisons}


def test_the_first_candidate_becomes_champion():
    decision = decide({"ner.f1": 0.1, "re.f1": 0.0}, None, GATE)
    assert decision.promote
    assert decision.reason == "there is no champion yet"
    assert verdicts(decision) == {
        "ner.f1": "no champion value",
        "re.f1": "no champion value",
        "ed.f1": "no champion value",
    }


def test_a_better_primary_without_regressions_is_promoted():
    # ner 0.50 > 0.40; re falls 0.01 (within 0.02); ed rises
    decision = decide(
        {"ner.f1": 0.5, "re.f1": 0.29, "ed.f1": 0.2}, {"ner.f1": 0.4, "re.f1": 0.3, "ed.f1": 0.1}, GATE
    )
    assert decision.promote
    assert verdicts(decision) == {"ner.f1": "better", "re.f1": "ok", "ed.f1": "ok"}
    assert decision.comparisons[0].delta == pytest.approx(0.1)


def test_a_regression_beyond_the_tolerance_blocks_promotion_even_with_a_better_primary():
    # re falls 0.03 > 0.02
    decision = decide(
        {"ner.f1": 0.9, "re.f1": 0.27, "ed.f1": 0.1}, {"ner.f1": 0.4, "re.f1": 0.3, "ed.f1": 0.1}, GATE
    )
    assert not decision.promote
    assert [r.metric for r in decision.regressions] == ["re.f1"]
    assert "re.f1" in decision.reason


def test_an_equal_primary_does_not_take_the_champion_alias():
    decision = decide({"ner.f1": 0.4, "re.f1": 0.3}, {"ner.f1": 0.4, "re.f1": 0.3}, GATE)
    assert not decision.promote
    assert decision.regressions == []
    assert verdicts(decision)["ner.f1"] == "tie"


def test_min_improvement_raises_the_bar():
    gate = GATE.model_copy(update={"min_improvement": 0.05})
    assert not decide({"ner.f1": 0.44}, {"ner.f1": 0.4}, gate).promote  # +0.04 is not > 0.05
    assert decide({"ner.f1": 0.46}, {"ner.f1": 0.4}, gate).promote


def test_a_metric_the_candidate_lacks_counts_as_a_regression_and_one_the_champion_lacks_is_skipped():
    decision = decide({"ner.f1": 0.5, "ed.f1": 0.1}, {"ner.f1": 0.4, "re.f1": 0.3}, GATE)
    assert verdicts(decision) == {"ner.f1": "better", "re.f1": "regressed", "ed.f1": "no champion value"}
    assert not decision.promote


def test_a_candidate_without_the_primary_metric_is_never_promoted():
    decision = decide({"re.f1": 0.9}, None, GATE)
    assert not decision.promote
    assert "ner.f1" in decision.reason


def test_the_markdown_table_has_one_row_per_compared_metric():
    table = decide(
        {"ner.f1": 0.5, "re.f1": 0.2, "ed.f1": 0.1}, {"ner.f1": 0.4, "re.f1": 0.3, "ed.f1": 0.1}, GATE
    ).markdown()
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [row.split("|")[1].strip() for row in rows] == ["ner.f1", "re.f1", "ed.f1"]
    assert "| re.f1 | guarded | 0.2000 | 0.3000 | -0.1000 | regressed |" in table


def test_a_tie_on_the_primary_metric_is_not_a_win():
    # given the champion's exact ner.f1, and a candidate that scores exactly the same
    champion = {"ner.f1": 0.123456789, "re.f1": 0.3, "ed.f1": 0.1}
    # when the gate compares them (min_improvement 0)
    decision = decide(dict(champion), champion, GATE)
    # then nothing is promoted, and the table says tie, not better
    assert not decision.promote
    assert verdicts(decision) == {"ner.f1": "tie", "re.f1": "ok", "ed.f1": "ok"}
    assert decision.reason == "ner.f1 ties the champion's (0.123456789); a tie is not a win"
    assert decision.comparisons[0].delta == 0.0


def test_a_difference_below_the_old_six_decimal_rounding_still_counts():
    # 0.1234564 and 0.1234556 both rounded to "0.123456" in the old tags: a false tie (or win)
    decision = decide({"ner.f1": 0.1234556}, {"ner.f1": 0.1234564}, GATE)
    assert not decision.promote and verdicts(decision)["ner.f1"] == "not better"
