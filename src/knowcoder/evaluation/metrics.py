"""Micro precision/recall/F1 of extracted records against gold, as the originals match them.

Matching is on surface strings: each record becomes one or more *items* (tuples of type names
and span texts) per metric level, and gold and predicted items of one instance are matched as
**multisets**: an item predicted twice with one gold copy is 1 TP + 1 FP; gold twice with one
prediction is 1 TP + 1 FN. Items never match across instances. Each task defines its levels in
its folder's ``metrics.py`` (``knowcoder/tasks/<folder>/metrics.py``):

- ``ner``: ``identification`` (span text), ``classification`` (entity type + span text);
- ``re``: ``strict`` (relation type + head type/text + tail type/text), ``boundary`` (relation
  type + head text + tail text; entity types ignored);
- ``ed``: ``identification`` (trigger text), ``classification`` (event type + trigger text);
- ``eae``: one item per argument: ``identification`` (event type + trigger + argument text),
  ``classification`` (event type + trigger + role + argument text).

The headline of a task is its first level: classification (``strict`` for RE). Precision, recall and
F1 are 0.0 whenever their denominator is 0 (no predictions, no gold, or neither); results
keep the TP/FP/FN counts, so any aggregation sums counts and stays exact (micro averaging).

**Lenient mode** (off by default) reproduces KnowCoder's released scorer: a predicted *entity*
type also counts as correct when one of its ontology ancestors equals the gold type (predicted
``Company`` for gold ``Organization``), never the reverse (predicted ``Organization`` for gold
``Company`` stays wrong). It touches the levels that carry entity types: NER classification and
the head/tail types of RE strict. Matching then is a maximum bipartite matching, so duplicates
still count once per gold item.

Each task also gets a per-type table of its headline level (TP and FN credited to the gold type,
FP to the predicted type) and, for a task whose metrics ask for it (NER), a confusion count of
(gold type, predicted type) on the same span text. An instance whose gold is ``None`` (task not
annotated) is not scored and its parse report is not counted; it only adds to ``unannotated``.

Item matching itself is in ``knowcoder.evaluation.matching``.

Flat metric names (``EvaluationResult.to_dict``), segments joined by dots::

    <task>[.<scope>].<level>.<stat>    stat: tp fp fn precision recall f1
    <task>[.<scope>].<headline stat>   precision recall f1 of the headline level, e.g. ner.f1
    <task>[.<scope>].instances         instances scored
    <task>[.lang.<l>].f1_ci_low        bootstrap interval of the headline F1 over sentences (only
    <task>[.lang.<l>].f1_ci_high       when the scorer was given a ``Bootstrap``; overall and per language)
    <task>.unannotated                 instances skipped because the task is not annotated
                                       (a task never scored reports only this and its parse counts)
    parse.<task>.<count>               outputs unparseable hallucinated_types hallucinated_spans
                                       truncated_prompts

``<scope>`` is absent (overall), ``dataset.<d>``, ``lang.<l>`` or ``dataset.<d>.lang.<l>``; in
dataset and language names every character other than a word character or ``-`` becomes ``_``.
Example: ``ner.dataset.conll03.lang.en.classification.f1``.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, astuple, dataclass, field

from knowcoder.data.instance import Instance
from knowcoder.evaluation.bootstrap import Bootstrap
from knowcoder.evaluation.matching import Counts, Item, match_items  # moved there; still importable here
from knowcoder.parser import ParseReport
from knowcoder.records import Record
from knowcoder.schema.ontology import Ontology
from knowcoder.tasks import TaskView, get_task
from knowcoder.tasks.base import Level, TaskMetrics  # noqa: F401  (defined with the tasks; importable here)

#: task name -> its ``TaskMetrics``, in registry order (read live from ``knowcoder.tasks.TASKS``)
TASK_METRICS: TaskView[TaskMetrics] = TaskView(lambda task: task.metrics)


@dataclass(frozen=True)
class ParseCounts:
    """What the parser dropped over a task's outputs."""

    outputs: int = 0
    unparseable: int = 0
    hallucinated_types: int = 0  # objects of a class outside the schema
    hallucinated_spans: int = 0  # spans that do not occur in the sentence
    truncated_prompts: int = 0  # prompts cut to fit the model's context (head + tail kept)

    def __add__(self, other: ParseCounts) -> ParseCounts:
        return ParseCounts(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


@dataclass(frozen=True)
class ScopeScores:
    """Counts of every level of a task over one slice of the data.

    ``f1_interval``: the bootstrap interval (low, high) of the headline F1, when one was drawn.
    """

    instances: int
    levels: dict[str, Counts]
    f1_interval: tuple[float, float] | None = None


@dataclass(frozen=True)
class TaskScores:
    """Everything measured for one task."""

    task: str
    headline: str
    overall: ScopeScores
    by_dataset: dict[str, ScopeScores]
    by_lang: dict[str, ScopeScores]
    by_dataset_lang: dict[tuple[str, str], ScopeScores]
    per_type: dict[str, Counts]  # headline level; TP and FN go to the gold type, FP to the predicted
    confusion: dict[tuple[str, str], int]  # (gold type, predicted type) on one span text, if counted
    parse: ParseCounts
    unannotated: int


@dataclass(frozen=True)
class EvaluationResult:
    """Scores of every task seen by a ``Scorer``."""

    tasks: dict[str, TaskScores]
    lenient: bool

    def to_dict(self) -> dict[str, float]:
        """Flat metric names (see the module docstring) to values, ready for a metrics logger."""
        out: dict[str, float] = {}
        for name, scores in self.tasks.items():
            for scope, scoped in _scopes(scores):
                prefix = ".".join([name, *scope])
                _put(out, f"{prefix}.instances", scoped.instances)
                for level, counts in scoped.levels.items():
                    for stat, value in counts.stats().items():
                        _put(out, f"{prefix}.{level}.{stat}", value)
                headline = scoped.levels[scores.headline]
                for stat in ("precision", "recall", "f1"):
                    _put(out, f"{prefix}.{stat}", getattr(headline, stat))
                if scoped.f1_interval is not None:
                    _put(out, f"{prefix}.f1_ci_low", scoped.f1_interval[0])
                    _put(out, f"{prefix}.f1_ci_high", scoped.f1_interval[1])
            _put(out, f"{name}.unannotated", scores.unannotated)
            for key, value in asdict(scores.parse).items():
                _put(out, f"parse.{name}.{key}", value)
        return out

    def per_type_rows(self, task: str) -> list[dict[str, float | str]]:
        """The per-type table of ``task`` as rows sorted by type name."""
        return [
            {"type": name, **counts.stats()} for name, counts in sorted(self.tasks[task].per_type.items())
        ]


def _scopes(scores: TaskScores) -> Iterator[tuple[list[str], ScopeScores]]:
    if scores.overall.instances == 0:  # only unannotated instances: no score to report, not a 0.0
        return
    yield [], scores.overall
    for dataset, scoped in scores.by_dataset.items():
        yield ["dataset", _clean(dataset)], scoped
    for lang, scoped in scores.by_lang.items():
        yield ["lang", _clean(lang)], scoped
    for (dataset, lang), scoped in scores.by_dataset_lang.items():
        yield ["dataset", _clean(dataset), "lang", _clean(lang)], scoped


def _clean(name: str) -> str:
    return re.sub(r"[^\w-]", "_", name)


def _put(out: dict[str, float], key: str, value: float) -> None:
    # Two datasets whose names clean to the same segment would otherwise overwrite each other.
    if key in out:
        raise ValueError(f"metric name {key!r} is produced twice; rename datasets or languages to differ")
    out[key] = value


@dataclass
class _Slice:
    instances: int = 0
    levels: dict[str, Counts] = field(default_factory=dict)
    sentences: list[tuple[int, int, int]] = field(default_factory=list)  # headline TP, FP, FN of each


class Scorer:
    """Accumulates gold and predicted records instance by instance, then reports micro scores.

    With ``bootstrap``, each task's headline F1, overall and per language, also gets an interval.
    """

    def __init__(
        self, ontology: Ontology | None = None, *, lenient: bool = False, bootstrap: Bootstrap | None = None
    ) -> None:
        if lenient and ontology is None:
            raise ValueError("lenient=True needs the type hierarchy; pass ontology=load_ontology(path)")
        self.ontology = ontology
        self.lenient = lenient
        self.bootstrap = bootstrap
        self._slices: dict[tuple[str, str, str], _Slice] = defaultdict(_Slice)
        self._per_type: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)  # (type, tp|fp|fn)
        self._confusion: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
        self._parse: dict[str, ParseCounts] = defaultdict(ParseCounts)
        self._unannotated: Counter[str] = Counter()
        self._ancestors: dict[str, frozenset[str]] = {}

    def add(
        self,
        task: str,
        gold: Iterable[Record] | None,
        predicted: Iterable[Record],
        *,
        dataset: str,
        lang: str,
        report: ParseReport | None = None,
        truncated_prompt: bool = False,
    ) -> bool:
        """Score one instance; ``gold=None`` (task not annotated) skips it and returns False."""
        name = get_task(task).name
        if gold is None:
            self._unannotated[name] += 1
            return False
        metrics = TASK_METRICS[name]
        gold_list = _checked(name, metrics, gold, "gold")
        pred_list = _checked(name, metrics, predicted, "pred")
        scope = self._slices[(name, dataset, lang)]
        scope.instances += 1
        for index, level in enumerate(metrics.levels):
            gold_items = [item for record in gold_list for item in level.items(record)]
            pred_items = [item for record in pred_list for item in level.items(record)]
            lenient = self._ancestor_or_self if self.lenient and level.entity_slots else None
            pairs, missed, spurious = match_items(gold_items, pred_items, lenient, level.entity_slots)
            scope.levels[level.name] = scope.levels.get(level.name, Counts()) + Counts(
                len(pairs), len(spurious), len(missed)
            )
            if index == 0:
                scope.sentences.append((len(pairs), len(spurious), len(missed)))
                self._count_types(name, pairs, missed, spurious)
        if report is not None:
            self._parse[name] += ParseCounts(
                1,
                int(not report.parseable),
                sum(report.unknown_types.values()),
                report.spans_not_found,
                int(truncated_prompt),
            )
        return True

    def add_instance(
        self, task: str, instance: Instance, predicted: Iterable[Record], report: ParseReport | None = None
    ) -> bool:
        """Score predictions for ``instance`` against its gold records of ``task``."""
        gold = get_task(task).gold_records(instance, self.ontology)
        return self.add(task, gold, predicted, dataset=instance.dataset, lang=instance.lang, report=report)

    def result(self) -> EvaluationResult:
        """Scores of everything added so far."""
        names = [n for n in TASK_METRICS if any(k[0] == n for k in self._slices) or n in self._unannotated]
        return EvaluationResult({name: self._task_scores(name) for name in names}, self.lenient)

    # ---- internals -------------------------------------------------------------------------
    def _count_types(
        self, task: str, pairs: list[tuple[Item, Item]], missed: list[Item], spurious: list[Item]
    ) -> None:
        # TP and FN are credited to the gold type, FP to the predicted type.
        table = self._per_type[task]
        table.update([(g[0], "tp") for g, _ in pairs] + [(g[0], "fn") for g in missed])
        table.update((p[0], "fp") for p in spurious)
        if TASK_METRICS[task].confusion:
            confusion = self._confusion[task]
            confusion.update((g[0], p[0]) for g, p in pairs)
            # Wrong types on a right span: pair leftovers by text, in a fixed order.
            unmatched: dict[str, list[str]] = defaultdict(list)
            for pred_type, text in sorted(spurious):
                unmatched[text].append(pred_type)
            for gold_type, text in sorted(missed):
                if unmatched[text]:
                    confusion[(gold_type, unmatched[text].pop(0))] += 1

    def _ancestor_or_self(self, gold: str, pred: str) -> bool:
        ontology = self.ontology
        if pred not in self._ancestors:
            # A type outside the ontology has no ancestors: it can only match exactly.
            known = ontology is not None and pred in ontology
            self._ancestors[pred] = frozenset(ontology.ancestors(pred) if ontology and known else ())
        return gold == pred or gold in self._ancestors[pred]

    def _task_scores(self, name: str) -> TaskScores:
        metrics = TASK_METRICS[name]
        keys = [key for key in self._slices if key[0] == name]

        def merge(selected: Iterable[tuple[str, str, str]], interval: bool = False) -> ScopeScores:
            instances, levels = 0, {level.name: Counts() for level in metrics.levels}
            sentences: list[tuple[int, int, int]] = []
            for key in selected:
                instances += self._slices[key].instances
                sentences += self._slices[key].sentences
                for level, counts in self._slices[key].levels.items():
                    levels[level] += counts
            drawn = None
            if interval and self.bootstrap is not None and sentences:
                drawn = self.bootstrap.f1_interval(sentences)
            return ScopeScores(instances, levels, drawn)

        datasets = sorted({key[1] for key in keys})
        langs = sorted({key[2] for key in keys})
        table = self._per_type[name]
        types = {type_name for type_name, _ in table}
        return TaskScores(
            task=name,
            headline=metrics.headline,
            overall=merge(keys, interval=True),
            by_dataset={d: merge(k for k in keys if k[1] == d) for d in datasets},
            by_lang={lang: merge((k for k in keys if k[2] == lang), interval=True) for lang in langs},
            by_dataset_lang={(k[1], k[2]): merge([k]) for k in sorted(keys)},
            per_type={t: Counts(table[t, "tp"], table[t, "fp"], table[t, "fn"]) for t in sorted(types)},
            confusion=dict(sorted(self._confusion[name].items())),
            parse=self._parse[name],
            unannotated=self._unannotated[name],
        )


def _checked(task: str, metrics: TaskMetrics, records: Iterable[Record], side: str) -> list[Record]:
    records = list(records)
    for record in records:
        if not isinstance(record, metrics.record):
            raise TypeError(
                f"{side} record {record!r} is not a {metrics.record.__name__}, which task {task!r} scores; "
                f"pass the records of task {task!r} only"
            )
    return records
