"""Matching gold and predicted items of one instance as multisets, and the counts that gives.

An *item* is a tuple of type names and span texts. Equal items match one for one, so an item
predicted twice with one gold copy is 1 TP + 1 FP. With a ``lenient`` type test, the leftovers
then get a maximum bipartite matching, so duplicates still count once per gold item.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass

Item = tuple[str, ...]


@dataclass(frozen=True)
class Counts:
    """True positives, false positives and false negatives, with the scores they give."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else 0.0

    def stats(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in ("tp", "fp", "fn", "precision", "recall", "f1")}


def match_items(
    gold: list[Item],
    pred: list[Item],
    lenient: Callable[[str, str], bool] | None = None,
    entity_slots: tuple[int, ...] = (),
) -> tuple[list[tuple[Item, Item]], list[Item], list[Item]]:
    """Matched (gold, pred) pairs, unmatched gold and unmatched predictions, as multisets.

    Equal items match first. With ``lenient(gold_type, pred_type)``, leftovers that agree outside
    ``entity_slots`` and whose slot types ``lenient`` accepts then get a maximum matching; taking
    the equal pairs first loses nothing there, because the ancestor relation is transitive.
    """
    gold_counts, pred_counts = Counter(gold), Counter(pred)
    common = gold_counts & pred_counts
    pairs = [(item, item) for item, n in common.items() for _ in range(n)]
    missed = list((gold_counts - common).elements())
    spurious = list((pred_counts - common).elements())
    if lenient is None or not missed or not spurious:
        return pairs, missed, spurious

    def rest(item: Item) -> Item:  # what must still be equal
        return tuple(value for i, value in enumerate(item) if i not in entity_slots)

    by_rest: dict[Item, list[int]] = defaultdict(list)
    for g, gold_item in enumerate(missed):
        by_rest[rest(gold_item)].append(g)
    candidates = [
        [g for g in by_rest.get(rest(p), []) if all(lenient(missed[g][i], p[i]) for i in entity_slots)]
        for p in spurious
    ]
    owner: dict[int, int] = {}  # gold index -> pred index

    def claim(p: int, seen: set[int]) -> bool:  # Kuhn's augmenting path; depth <= golds sharing a span
        for g in candidates[p]:
            if g not in seen:
                seen.add(g)
                if g not in owner or claim(owner[g], seen):
                    owner[g] = p
                    return True
        return False

    for p in range(len(spurious)):
        if candidates[p]:
            claim(p, set())
    pairs += [(missed[g], spurious[p]) for g, p in sorted(owner.items())]
    taken = set(owner.values())
    return (
        pairs,
        [item for g, item in enumerate(missed) if g not in owner],
        [item for p, item in enumerate(spurious) if p not in taken],
    )
