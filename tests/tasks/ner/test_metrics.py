"""NER levels: ``classification`` items are (type, text), ``identification`` items (text,)."""

from __future__ import annotations

import pytest

from knowcoder.evaluation.metrics import Scorer
from knowcoder.records import EntityRecord
from knowcoder.tasks.ner.metrics import METRICS


def test_levels_and_their_items():
    classification, identification = METRICS.levels
    record = EntityRecord("Person", "Kenji Watanabe")
    assert (classification.name, classification.items(record), classification.entity_slots) == (
        "classification",
        [("Person", "Kenji Watanabe")],
        (0,),
    )
    assert (identification.name, identification.items(record)) == ("identification", [("Kenji Watanabe",)])
    assert (METRICS.record, METRICS.headline, METRICS.confusion) == (EntityRecord, "classification", True)


def test_scores_a_wrong_type_a_miss_and_an_extra():
    gold = [
        EntityRecord("Person", "Kenji Watanabe"),
        EntityRecord("Company", "Orion Systems"),
        EntityRecord("Date", "March 2021"),
    ]
    # Person right; Orion Systems typed Organization; the date missed; "Kenji" extra
    pred = [
        EntityRecord("Person", "Kenji Watanabe"),
        EntityRecord("Organization", "Orion Systems"),
        EntityRecord("Person", "Kenji"),
    ]
    scorer = Scorer()
    scorer.add("ner", gold, pred, dataset="sample", lang="en")
    flat = scorer.result().to_dict()
    # classification: TP 1, FP 2 (Organization/Orion Systems, Person/Kenji), FN 2 (Company, Date)
    assert (flat["ner.classification.tp"], flat["ner.classification.fp"], flat["ner.classification.fn"]) == (
        1,
        2,
        2,
    )
    assert flat["ner.classification.f1"] == pytest.approx(2 / (2 + 2 + 2))
    # identification: TP 2 (Kenji Watanabe, Orion Systems), FP 1 (Kenji), FN 1 (March 2021)
    assert (flat["ner.identification.tp"], flat["ner.identification.fp"], flat["ner.identification.fn"]) == (
        2,
        1,
        1,
    )
    assert flat["ner.f1"] == flat["ner.classification.f1"]
    # the confusion count, (gold type, predicted type) per span text both sides name
    assert scorer.result().tasks["ner"].confusion == {("Company", "Organization"): 1, ("Person", "Person"): 1}
