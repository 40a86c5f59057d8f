"""Bootstrap intervals of micro F1 over sentences: properties, a pure-Python reference, the scorer's names."""

from __future__ import annotations

import random

import numpy as np
import pytest

from knowcoder.evaluation.bootstrap import Bootstrap, resampled_f1
from knowcoder.evaluation.matching import Counts
from knowcoder.evaluation.metrics import Scorer
from knowcoder.records import EntityRecord
from knowcoder.stages.evaluate import headline

E = EntityRecord


def noisy_counts(sentences: int, seed: int = 1) -> list[tuple[int, int, int]]:
    """Per-sentence (TP, FP, FN) of a model that gets about half of its items right."""
    rng = random.Random(seed)
    return [(rng.randint(0, 3), rng.randint(0, 2), rng.randint(0, 2)) for _ in range(sentences)]


def micro_f1(counts: list[tuple[int, int, int]]) -> float:
    return Counts(*(sum(column) for column in zip(*counts, strict=True))).f1


def test_the_interval_holds_the_point_estimate() -> None:
    counts = noisy_counts(200)
    low, high = Bootstrap().f1_interval(counts)
    assert 0.0 < low < micro_f1(counts) < high < 1.0


def test_the_same_seed_gives_the_same_interval_another_seed_another() -> None:
    counts = noisy_counts(120)
    assert Bootstrap(seed=3).f1_interval(counts) == Bootstrap(seed=3).f1_interval(counts)
    assert Bootstrap(seed=3).f1_interval(counts) != Bootstrap(seed=4).f1_interval(counts)


def test_four_copies_of_the_data_give_a_narrower_interval() -> None:
    # the same F1 from 4x the sentences: the spread of a mean shrinks by about 1/sqrt(4)
    counts = noisy_counts(60)
    low, high = Bootstrap().f1_interval(counts)
    low4, high4 = Bootstrap().f1_interval(counts * 4)
    assert micro_f1(counts * 4) == micro_f1(counts)
    assert (high4 - low4) < 0.7 * (high - low)


def test_all_correct_gives_one_to_one_and_all_wrong_zero_to_zero() -> None:
    assert Bootstrap().f1_interval([(2, 0, 0), (1, 0, 0), (3, 0, 0)]) == (1.0, 1.0)
    assert Bootstrap().f1_interval([(0, 1, 2), (0, 0, 1)]) == (0.0, 0.0)
    # nothing expected nor predicted anywhere: F1 0.0 as Counts says, never a division by zero
    assert Bootstrap().f1_interval([(0, 0, 0)]) == (0.0, 0.0)


def _percentile(values: list[float], q: float) -> float:
    """numpy's default (linear) percentile, by hand."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def test_matches_a_pure_python_reference_on_the_same_draws() -> None:
    counts = [(1, 0, 1), (0, 2, 0), (3, 1, 0), (0, 0, 2), (2, 0, 0)]
    bootstrap = Bootstrap(resamples=300, seed=7)
    draws = np.concatenate(list(bootstrap.draws(len(counts))))
    assert draws.shape == (300, 5)
    reference = []
    for row in draws.tolist():
        tp = sum(counts[i][0] for i in row)
        fp = sum(counts[i][1] for i in row)
        fn = sum(counts[i][2] for i in row)
        reference.append(2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else 0.0)
    assert resampled_f1(np.array(counts), draws).tolist() == pytest.approx(reference, abs=1e-12)
    low, high = bootstrap.f1_interval(counts)
    assert (low, high) == pytest.approx(
        (_percentile(reference, 2.5), _percentile(reference, 97.5)), abs=1e-12
    )


def test_draws_are_chunked_without_changing_their_count() -> None:
    # 20 000 sentences: 50 draws a chunk under the memory cap, 1000 draws in all
    chunks = list(Bootstrap().draws(20_000))
    assert len(chunks) == 20 and sum(len(c) for c in chunks) == 1000
    assert all(c.shape[1] == 20_000 and c.max() < 20_000 for c in chunks)


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"resamples": 0}, "resamples=0"), ({"confidence": 1.0}, "confidence=1.0")]
)
def test_bad_settings_name_the_value(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Bootstrap(**kwargs)


def test_scorer_names_the_intervals_overall_and_per_language() -> None:
    scorer = Scorer(bootstrap=Bootstrap())
    # en: both right (TP 2); zh: one right, one wrong type (TP 1, FP 1, FN 1)
    scorer.add("ner", [E("Person", "Ada"), E("City", "Paris")], [E("Person", "Ada"), E("City", "Paris")],
               dataset="d", lang="en")  # fmt: skip
    scorer.add("ner", [E("Person", "李明"), E("City", "北京")], [E("Person", "李明"), E("Person", "北京")],
               dataset="d", lang="zh")  # fmt: skip
    m = scorer.result().to_dict()
    # overall F1 = 2*3 / (2*3 + 1 + 1) = 0.75; resampling the two sentences gives {en,en} 1.0,
    # {en,zh} 0.75, {zh,zh} 0.5: the interval spans them
    assert m["ner.f1"] == pytest.approx(0.75)
    assert (m["ner.f1_ci_low"], m["ner.f1_ci_high"]) == (0.5, 1.0)
    assert (m["ner.lang.en.f1_ci_low"], m["ner.lang.en.f1_ci_high"]) == (1.0, 1.0)
    assert (m["ner.lang.zh.f1_ci_low"], m["ner.lang.zh.f1_ci_high"]) == (0.5, 0.5)
    # datasets get no interval; without a Bootstrap nothing gets one
    assert not any("dataset" in k and "_ci_" in k for k in m)
    plain = Scorer()
    plain.add("ner", [E("Person", "Ada")], [E("Person", "Ada")], dataset="d", lang="en")
    assert not any("_ci_" in k for k in plain.result().to_dict())


def test_headline_keeps_intervals_and_report_suite_metrics() -> None:
    metrics = {
        "ner.f1": 0.5,
        "ner.f1_ci_low": 0.4,
        "ner.lang.en.f1_ci_high": 0.6,
        "ner.classification.tp": 3.0,
        "ner.dataset.d.f1": 0.5,
        "parse.ner.outputs": 4.0,
        "sample-test.ner.f1": 0.3,
        "sample-test.ner.lang.zh.f1_ci_low": 0.1,
        "sample-test.parse.ner.outputs": 12.0,
        "sample-test.ner.classification.tp": 1.0,
    }
    assert set(headline(metrics)) == {
        "ner.f1",
        "ner.f1_ci_low",
        "ner.lang.en.f1_ci_high",
        "parse.ner.outputs",
        "sample-test.ner.f1",
        "sample-test.ner.lang.zh.f1_ci_low",
        "sample-test.parse.ner.outputs",
    }
