"""Percentile bootstrap intervals for micro F1, resampling sentences.

A test set of a few hundred sentences gives an F1 that moves by several points when other
sentences of the same kind are drawn. The interval shows how far: draw ``resamples`` test sets of
the same size from the scored sentences, with replacement, recompute micro F1 from the drawn
sentences' TP/FP/FN each time, and take the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2``
percentiles of those F1 values (numpy's linear interpolation). Sentences, not items, are the unit:
the items of one sentence are not independent.

The draws come from ``numpy.random.default_rng(seed)``, started afresh for every interval, so an
interval depends only on its counts and the settings, never on what was computed before it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

#: resampled sentences held in memory at once (indices), whatever the test set's size
_CHUNK_CELLS = 1_000_000


@dataclass(frozen=True)
class Bootstrap:
    """How intervals are drawn: ``resamples`` test sets from generator ``seed``, at ``confidence``."""

    resamples: int = 1000
    seed: int = 0
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if self.resamples < 1:
            raise ValueError(f"resamples={self.resamples}; draw at least 1 test set")
        if not 0.0 < self.confidence < 1.0:
            raise ValueError(f"confidence={self.confidence}; pass a share between 0 and 1, e.g. 0.95")

    def draws(self, sentences: int) -> Iterator[np.ndarray]:
        """The drawn test sets, ``resamples`` rows of ``sentences`` indices in all, a chunk at a time."""
        if sentences < 1:
            raise ValueError("no sentences to resample; an interval needs at least one scored sentence")
        rng = np.random.default_rng(self.seed)
        rows = max(1, _CHUNK_CELLS // sentences)
        for start in range(0, self.resamples, rows):
            yield rng.integers(0, sentences, size=(min(rows, self.resamples - start), sentences))

    def f1_interval(self, counts: Sequence[tuple[int, int, int]] | np.ndarray) -> tuple[float, float]:
        """The interval of micro F1 over sentences whose (TP, FP, FN) are ``counts``, one row each."""
        table = np.asarray(counts, dtype=np.int64).reshape(-1, 3)
        f1 = np.concatenate([resampled_f1(table, chunk) for chunk in self.draws(len(table))])
        tail = 100 * (1 - self.confidence) / 2
        low, high = np.percentile(f1, [tail, 100 - tail])
        return float(low), float(high)


def resampled_f1(counts: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Micro F1 of each drawn test set (a row of ``indices`` into the rows of ``counts``).

    F1 is ``2 TP / (2 TP + FP + FN)``, 0.0 when nothing was predicted nor expected, as in
    :class:`knowcoder.evaluation.matching.Counts`.
    """
    # one contiguous column at a time: gathering (draws, sentences, 3) and summing is ~5x slower
    tp, fp, fn = (np.ascontiguousarray(counts[:, j])[indices].sum(axis=1) for j in range(3))
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros(len(indices)), where=denominator > 0)
