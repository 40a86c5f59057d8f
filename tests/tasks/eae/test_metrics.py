"""EAE levels, one item per argument: ``classification`` keeps the role, ``identification`` drops it."""

from __future__ import annotations

import pytest

from knowcoder.evaluation.metrics import Scorer
from knowcoder.records import ArgumentRecord, EventRecord
from knowcoder.tasks.eae.metrics import METRICS

ATTACKER = ArgumentRecord("attacker", "Organization", "Northern Front")
TARGET = ArgumentRecord("target", "Facility", "Goma International Airport")


def test_levels_and_their_items():
    classification, identification = METRICS.levels
    event = EventRecord("Attack", "shelled", (ATTACKER, TARGET))
    assert (classification.name, classification.items(event)) == (
        "classification",
        [
            ("Attack", "shelled", "attacker", "Northern Front"),
            ("Attack", "shelled", "target", "Goma International Airport"),
        ],
    )
    assert (identification.name, identification.items(event)) == (
        "identification",
        [("Attack", "shelled", "Northern Front"), ("Attack", "shelled", "Goma International Airport")],
    )
    # an event without arguments gives no item on either level
    assert classification.items(EventRecord("Attack", "shelled")) == []
    assert (METRICS.record, METRICS.headline, METRICS.confusion) == (EventRecord, "classification", False)


def test_a_wrong_role_costs_classification_but_not_identification():
    gold = [EventRecord("Attack", "shelled", (ATTACKER, TARGET))]
    # the attacker given the role target; the target missed; an extra argument
    pred = [
        EventRecord(
            "Attack",
            "shelled",
            (
                ArgumentRecord("target", "Organization", "Northern Front"),
                ArgumentRecord("time", "Date", "12 May"),
            ),
        )
    ]
    scorer = Scorer()
    scorer.add("eae", gold, pred, dataset="sample", lang="en")
    flat = scorer.result().to_dict()
    # classification: TP 0, FP 2, FN 2
    assert (flat["eae.classification.tp"], flat["eae.classification.fp"], flat["eae.classification.fn"]) == (
        0,
        2,
        2,
    )
    assert flat["eae.f1"] == 0.0
    # identification: TP 1 (Northern Front), FP 1 (12 May), FN 1 (the airport)
    assert (flat["eae.identification.tp"], flat["eae.identification.fp"], flat["eae.identification.fn"]) == (
        1,
        1,
        1,
    )
    assert flat["eae.identification.f1"] == pytest.approx(0.5)
