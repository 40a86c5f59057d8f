"""Multiset matching of gold and predicted items, with the counts worked out by hand."""

from __future__ import annotations

import pytest

from knowcoder.evaluation.matching import Counts, match_items

ANCESTORS = {"Company": {"Company", "Organization"}, "Organization": {"Organization"}, "Person": {"Person"}}


def lenient(gold_type: str, pred_type: str) -> bool:
    """A prediction of an ancestor of the gold type counts."""
    return pred_type in ANCESTORS.get(gold_type, {gold_type})


def test_counts_give_precision_recall_and_f1():
    # TP=3, FP=1, FN=2: P = 3/4, R = 3/5, F1 = 6/9
    counts = Counts(3, 1, 2)
    assert counts.stats() == {"tp": 3, "fp": 1, "fn": 2, "precision": 0.75, "recall": 0.6, "f1": 6 / 9}
    assert Counts(1, 0, 0) + Counts(0, 2, 3) == Counts(1, 2, 3)
    assert Counts().stats() == {"tp": 0, "fp": 0, "fn": 0, "precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_a_duplicate_prediction_is_one_tp_and_one_fp():
    gold = [("Person", "Ada")]
    pred = [("Person", "Ada"), ("Person", "Ada")]
    pairs, missed, spurious = match_items(gold, pred)
    assert pairs == [(("Person", "Ada"), ("Person", "Ada"))]
    assert missed == []
    assert spurious == [("Person", "Ada")]


def test_strict_matching_leaves_a_wrong_type_unmatched():
    pairs, missed, spurious = match_items([("Company", "Acme")], [("Organization", "Acme")])
    assert (pairs, missed, spurious) == ([], [("Company", "Acme")], [("Organization", "Acme")])


def test_lenient_matching_pairs_an_ancestor_type_once_per_gold_item():
    gold = [("Company", "Acme"), ("Person", "Ada")]
    pred = [("Organization", "Acme"), ("Organization", "Acme"), ("Person", "Ada")]
    pairs, missed, spurious = match_items(gold, pred, lenient, entity_slots=(0,))
    assert pairs == [(("Person", "Ada"), ("Person", "Ada")), (("Company", "Acme"), ("Organization", "Acme"))]
    assert missed == []
    assert spurious == [("Organization", "Acme")]


def test_lenient_matching_needs_the_other_slots_equal():
    pairs, missed, spurious = match_items(
        [("Company", "Acme")], [("Organization", "Acme Corp")], lenient, (0,)
    )
    assert (pairs, missed, spurious) == ([], [("Company", "Acme")], [("Organization", "Acme Corp")])


def test_lenient_matching_finds_the_maximum_matching():
    # C fits gold A or B, D fits only A: C takes A first, then D's augmenting path moves C to B
    accepted = {("A", "C"), ("B", "C"), ("A", "D")}
    gold = [("A", "x"), ("B", "x")]
    pred = [("C", "x"), ("D", "x")]
    pairs, missed, spurious = match_items(gold, pred, lambda g, p: (g, p) in accepted, (0,))
    assert pairs == [(("A", "x"), ("D", "x")), (("B", "x"), ("C", "x"))]
    assert (missed, spurious) == ([], [])


@pytest.mark.parametrize(("slots", "matched"), [((0,), True), ((0, 2), True), ((2,), False), ((), False)])
def test_relation_items_relax_only_the_entity_slots(slots, matched):
    # the head type differs (Organization for Company): only a relaxed slot 0 lets it match
    gold = [("Company", "Acme", "Person", "Ada", "Employment")]
    pred = [("Organization", "Acme", "Person", "Ada", "Employment")]
    pairs, missed, spurious = match_items(gold, pred, lenient, slots)
    if matched:
        assert (pairs, missed, spurious) == ([(gold[0], pred[0])], [], [])
    else:
        assert (pairs, missed, spurious) == ([], gold, pred)
