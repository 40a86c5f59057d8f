"""ED levels: ``classification`` items are (type, trigger), ``identification`` items (trigger,)."""

from __future__ import annotations

import pytest

from knowcoder.evaluation.metrics import Scorer
from knowcoder.records import TriggerRecord
from knowcoder.tasks.ed.metrics import METRICS


def test_levels_and_their_items():
    classification, identification = METRICS.levels
    record = TriggerRecord("Attack", "shelled")
    assert (classification.name, classification.items(record)) == ("classification", [("Attack", "shelled")])
    assert (identification.name, identification.items(record)) == ("identification", [("shelled",)])
    assert (METRICS.record, METRICS.headline, METRICS.confusion) == (TriggerRecord, "classification", False)


def test_a_trigger_of_the_wrong_type_still_counts_for_identification():
    gold = [TriggerRecord("Attack", "shelled"), TriggerRecord("EndPosition", "left")]
    pred = [
        TriggerRecord("Bombing", "shelled"),
        TriggerRecord("EndPosition", "left"),
        TriggerRecord("Attack", "on"),
    ]
    scorer = Scorer()
    scorer.add("ed", gold, pred, dataset="sample", lang="en")
    flat = scorer.result().to_dict()
    # classification: TP 1 (EndPosition left), FP 2 (Bombing shelled, Attack on), FN 1 (Attack shelled)
    assert (flat["ed.classification.tp"], flat["ed.classification.fp"], flat["ed.classification.fn"]) == (
        1,
        2,
        1,
    )
    assert flat["ed.f1"] == pytest.approx(2 * 1 / (2 * 1 + 2 + 1))  # 0.4
    # identification: TP 2 (shelled, left), FP 1 (on), FN 0
    assert (flat["ed.identification.tp"], flat["ed.identification.fp"], flat["ed.identification.fn"]) == (
        2,
        1,
        0,
    )
    assert flat["ed.identification.f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 0))  # 0.8
