"""RE levels: ``strict`` items carry both entity types, ``boundary`` items only the texts."""

from __future__ import annotations

import pytest

from knowcoder.evaluation.metrics import Scorer
from knowcoder.records import EntityRecord, RelationRecord
from knowcoder.tasks.relation.metrics import METRICS

CAPITAL = RelationRecord("CapitalOf", EntityRecord("City", "Paris"), EntityRecord("Country", "France"))


def test_levels_and_their_items():
    strict, boundary = METRICS.levels
    assert (strict.name, strict.items(CAPITAL), strict.entity_slots) == (
        "strict",
        [("CapitalOf", "City", "Paris", "Country", "France")],
        (1, 3),
    )
    assert (boundary.name, boundary.items(CAPITAL), boundary.entity_slots) == (
        "boundary",
        [("CapitalOf", "Paris", "France")],
        (),
    )
    assert (METRICS.record, METRICS.headline, METRICS.confusion) == (RelationRecord, "strict", False)


def test_a_wrong_entity_type_costs_strict_but_not_boundary():
    located = RelationRecord("LocatedIn", EntityRecord("City", "Lyon"), EntityRecord("Country", "France"))
    gold = [CAPITAL, located]
    # CapitalOf with the head typed Location; LocatedIn missed; an extra LocatedIn(Paris, France)
    pred = [
        RelationRecord("CapitalOf", EntityRecord("Location", "Paris"), EntityRecord("Country", "France")),
        RelationRecord("LocatedIn", EntityRecord("City", "Paris"), EntityRecord("Country", "France")),
    ]
    scorer = Scorer()
    scorer.add("re", gold, pred, dataset="sample", lang="en")
    flat = scorer.result().to_dict()
    # strict: TP 0, FP 2, FN 2
    assert (flat["re.strict.tp"], flat["re.strict.fp"], flat["re.strict.fn"]) == (0, 2, 2)
    assert flat["re.f1"] == 0.0
    # boundary: TP 1 (CapitalOf Paris France), FP 1 (LocatedIn Paris), FN 1 (LocatedIn Lyon)
    assert (flat["re.boundary.tp"], flat["re.boundary.fp"], flat["re.boundary.fn"]) == (1, 1, 1)
    assert flat["re.boundary.f1"] == pytest.approx(2 * 1 / (2 * 1 + 1 + 1))  # 0.5
