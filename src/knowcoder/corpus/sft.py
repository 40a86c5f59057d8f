"""Schema-following instruction data: prompt (classes + instruction + sentence) → ``results = [...]``.

Each prompt holds the instance's positive classes plus sampled negative classes, in shuffled
order. Defaults follow the reference: negatives number 20 % of the positives (stochastic
rounding, so the rate holds in expectation even for one positive), and 5 % of samples hold
only negatives (target ``results = []``). Negatives never include an ancestor or descendant
of a positive: those would make the same mention right under two names.

Randomness is per example, seeded by (seed, instance id, task), so the output does not depend
on the order or sharding of the input.
"""

from __future__ import annotations

import bisect
import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from knowcoder.data.instance import Instance
from knowcoder.prompts import PromptBuilder
from knowcoder.records import Record
from knowcoder.schema.ontology import Ontology
from knowcoder.tasks import TASKS, Task


@dataclass(frozen=True)
class NegativeSampling:
    ratio: float = 0.2  # negatives per positive class
    only_negative_rate: float = 0.05  # share of samples whose prompt holds only negative classes
    # share of instances without a gold record of the task kept (as only-negative examples)
    without_positives_rate: float = 1.0


@dataclass(frozen=True)
class InstructionExample:
    """One prompt/target pair with where it came from."""

    id: str
    task: str
    lang: str
    dataset: str
    prompt: str
    target: str
    positives: int
    negatives: int
    kind: str = "instruction"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "task": self.task,
            "lang": self.lang,
            "dataset": self.dataset,
            "kind": self.kind,
            "positives": self.positives,
            "negatives": self.negatives,
            "prompt": self.prompt,
            "target": self.target,
        }


@dataclass
class CorpusReport:
    """Counts of what a builder emitted and dropped."""

    examples: Counter[str] = field(default_factory=Counter)  # per task
    with_positives: int = 0  # samples whose instance has positives for the task
    sampled_only_negative: int = 0  # of those, turned into only-negative samples by the rate
    without_positives: int = 0  # instance has none: the prompt can only hold negatives
    skipped_without_positives: int = 0  # of those, left out by ``without_positives_rate``
    positive_classes: int = 0  # in samples that keep their positives
    negative_classes: int = 0  # in the same samples
    trimmed_negatives: int = 0  # negatives removed to fit max_length
    too_long: int = 0  # examples dropped: too long even without negatives
    not_annotated: int = 0  # (instance, task) pairs the data does not annotate

    def to_dict(self) -> dict[str, Any]:
        return {
            "examples": sum(self.examples.values()),
            "examples_per_task": dict(self.examples),
            "with_positives": self.with_positives,
            "sampled_only_negative": self.sampled_only_negative,
            "without_positives": self.without_positives,
            "skipped_without_positives": self.skipped_without_positives,
            "positive_classes": self.positive_classes,
            "negative_classes": self.negative_classes,
            "negative_rate": _share(self.negative_classes, self.positive_classes),
            "only_negative_rate": _share(self.sampled_only_negative, self.with_positives),
            "trimmed_negatives": self.trimmed_negatives,
            "too_long": self.too_long,
            "not_annotated": self.not_annotated,
        }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def example_rng(seed: int, *parts: str) -> random.Random:
    """A generator seeded by the seed and the example's identity (order-independent)."""
    return random.Random(":".join([str(seed), *parts]))  # noqa: S311 (sampling, not security)


def _stochastic_round(value: float, rng: random.Random) -> int:
    low = math.floor(value)
    return low + (1 if rng.random() < value - low else 0)


def negative_pool(ontology: Ontology, task: Task, positives: Sequence[str]) -> list[str]:
    """Classes of the task's kind that can serve as negatives for these positives."""
    return list(_NegativePool(ontology, task, positives))


class _NegativePool(Sequence[str]):
    """``negative_pool`` without copying the ontology: the classes of the kind, minus the related.

    ``random.sample`` reads only ``k`` items of a large sequence, so sampling from a 30k-class
    ontology costs the related classes' lookups, not a pass over every class.
    """

    def __init__(self, ontology: Ontology, task: Task, positives: Sequence[str]) -> None:
        names, index = ontology.kind_index(task.kind)
        related: set[str] = set(positives)
        for name in positives:
            if name in ontology:
                related.update(ontology.ancestors(name))
                related.update(ontology.descendants(name))
        self._names = names
        self._excluded = sorted(index[name] for name in related if name in index)

    def __len__(self) -> int:
        return len(self._names) - len(self._excluded)

    def __getitem__(self, position: int) -> str:  # type: ignore[override]
        if not 0 <= position < len(self):
            raise IndexError(position)
        at = position  # the smallest index with ``position`` kept classes before it
        while True:
            moved = position + bisect.bisect_right(self._excluded, at)
            if moved == at:
                return self._names[at]
            at = moved


def sample_classes(
    ontology: Ontology, task: Task, positives: Sequence[str], rng: random.Random, sampling: NegativeSampling
) -> tuple[list[str], list[str], bool]:
    """(prompt classes in shuffled order, the negatives among them, whether only negatives)."""
    pool = _NegativePool(ontology, task, positives)
    only_negative = not positives or rng.random() < sampling.only_negative_rate
    if only_negative:
        count = max(1, len(positives))
        negatives = rng.sample(pool, min(count, len(pool)))
        chosen: list[str] = list(negatives)
    else:
        count = _stochastic_round(sampling.ratio * len(positives), rng)
        negatives = rng.sample(pool, min(count, len(pool)))
        chosen = [*positives, *negatives]
    rng.shuffle(chosen)
    return chosen, negatives, only_negative


def instruction_examples(
    instances: Iterable[Instance],
    ontology: Ontology,
    builder: PromptBuilder,
    *,
    tasks: Sequence[str] = tuple(TASKS),
    sampling: NegativeSampling | None = None,
    seed: int = 0,
    max_length: int | None = None,
    length_fn: Callable[[str], int] | None = None,
    report: CorpusReport | None = None,
) -> Iterator[InstructionExample]:
    """Stream instruction examples for every annotated task of every instance."""
    sampling = sampling or NegativeSampling()
    report = report if report is not None else CorpusReport()
    for instance in instances:
        for task_name in tasks:
            task = TASKS[task_name]
            gold = task.gold_records(instance, ontology)
            if gold is None:
                report.not_annotated += 1
                continue
            rng = example_rng(seed, instance.id, task.name)
            positives = list(dict.fromkeys(r.type for r in gold))
            keep = sampling.without_positives_rate
            if not positives and keep < 1.0 and rng.random() >= keep:
                report.skipped_without_positives += 1
                continue
            classes, negatives, only_negative = sample_classes(ontology, task, positives, rng, sampling)
            if not classes:
                continue
            target_records: list[Record] = [] if only_negative else gold
            example = _fit(
                instance, task, builder, classes, negatives, target_records, max_length, length_fn, report
            )
            if example is None:
                continue
            report.examples[task.name] += 1
            if not positives:
                report.without_positives += 1
            else:
                report.with_positives += 1
                report.sampled_only_negative += only_negative
                if not only_negative:
                    report.positive_classes += example.positives
                    report.negative_classes += example.negatives
            yield example


def _fit(
    instance: Instance,
    task: Task,
    builder: PromptBuilder,
    classes: list[str],
    negatives: list[str],
    records: list[Record],
    max_length: int | None,
    length_fn: Callable[[str], int] | None,
    report: CorpusReport,
) -> InstructionExample | None:
    """Build the example, dropping negatives (last sampled first) until it fits ``max_length``."""
    classes = list(classes)
    dropped = 0
    while True:
        types = _with_argument_classes(task, classes, records)
        prompt = builder.prompt(instance.text, task, types, dataset=instance.dataset, given=records)
        target = builder.target(records, task)
        fits = max_length is None or length_fn is None or length_fn(prompt + target) <= max_length
        remaining = [n for n in negatives if n in classes]
        if fits or not remaining or (records and len(remaining) == len(classes)):
            break
        classes.remove(remaining[-1])
        dropped += 1
    report.trimmed_negatives += dropped
    if not fits:
        report.too_long += 1
        return None
    n_negatives = sum(1 for n in negatives if n in classes)
    return InstructionExample(
        id=f"{instance.id}:{task.name}",
        task=task.name,
        lang=instance.lang,
        dataset=instance.dataset,
        prompt=prompt,
        target=target,
        positives=len(classes) - n_negatives,
        negatives=n_negatives,
    )


def _with_argument_classes(task: Task, classes: list[str], records: list[Record]) -> list[str]:
    """The sampled classes plus the classes the target's arguments use (RE heads/tails, EAE arguments)."""
    extra = task.argument_classes(records)
    return [*classes, *(name for name in extra if name not in classes)]
