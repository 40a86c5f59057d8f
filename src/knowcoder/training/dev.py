"""IE scores during training: the real extractor and scorer on a small dev sample, every N steps.

Loss alone does not show when a model starts to copy spans from the sentence; the strict F1 of
the extraction it would make does. :class:`DevEvaluator` holds a fixed sample of dev sentences
(a split the model never trains on) and, when asked, generates for them with the model being
trained, parses with the safe parser, scores with :class:`~knowcoder.evaluation.metrics.Scorer`
and measures the loss of the gold targets under the same prompts. :class:`DevSchedule` asks for
it every ``every`` steps and at the last step. :class:`StageTrainer.evaluate
<knowcoder.training.trainer.StageTrainer>` runs it and hands the numbers to ``Trainer.log``,
so every callback (the MLflow curves, the stage's own curve file) sees them as ``dev/loss``,
``dev/ner/f1``, ... beside the training loss, at the step they were measured.

The cost is the evaluator's own wall time, counted in ``dev_eval_s`` of the stage's metrics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

from knowcoder.data.instance import Instance
from knowcoder.evaluation.metrics import Scorer
from knowcoder.prompts import PromptBuilder
from knowcoder.schema.ontology import Ontology
from knowcoder.tasks import get_task
from knowcoder.training.data import IGNORE_INDEX, PaddingCollator, encode_example

log = logging.getLogger(__name__)

PREFIX = "dev/"


def sample_instances(
    instances: Sequence[Instance], size: int, tasks: Sequence[str], ontology: Ontology
) -> list[Instance]:
    """The first ``size`` instances per language annotated for at least one of ``tasks``, in file order.

    File order, not a random draw: the sample is the same in every run and at every step.
    """
    chosen: list[Instance] = []
    per_lang: dict[str, int] = {}
    for instance in instances:
        if per_lang.get(instance.lang, 0) >= size:
            continue
        if any(get_task(task).gold_records(instance, ontology) for task in tasks):
            chosen.append(instance)
            per_lang[instance.lang] = per_lang.get(instance.lang, 0) + 1
    return chosen


@dataclass
class DevEvaluator:
    """Extraction F1 and target loss of the model being trained, on a fixed dev sample."""

    instances: list[Instance]
    ontology: Ontology
    builder: PromptBuilder
    tokenizer_dir: Path
    tasks: tuple[str, ...] = ("ner",)
    max_new_tokens: int = 128
    batch_size: int = 32
    constrained: bool = False
    max_length: int = 1024
    seconds: float = field(default=0.0, init=False)  # wall time spent here, all calls together
    calls: int = field(default=0, init=False)
    _tokenizer: Any = field(default=None, init=False, repr=False)
    _requests: list[Any] = field(default_factory=list, init=False, repr=False)
    _examples: list[dict[str, Any]] = field(default_factory=list, init=False, repr=False)

    def _prepare(self) -> None:
        from transformers import AutoTokenizer

        from knowcoder.inference.extract import requests_for

        self._tokenizer = AutoTokenizer.from_pretrained(str(self.tokenizer_dir), padding_side="left")
        self._requests = [
            r
            for task in self.tasks
            for r in requests_for(self.instances, task, self.ontology, types="dataset")
        ]
        # the loss of each request's gold target under its prompt: the schema-following format
        # whatever the stage, so the number is comparable across pretrain, sft and align
        by_id = {instance.id: instance for instance in self.instances}
        for request in self._requests:
            instance = by_id[request.id.rsplit(":", 1)[0]]
            task = get_task(request.task)
            prompt = self.builder.prompt(
                request.text, request.task, request.types, dataset=request.dataset, given=request.given
            )
            target = self.builder.target(task.gold_records(instance, self.ontology) or [], request.task)
            encoded = encode_example(prompt, target, self._tokenizer, max_length=self.max_length)
            if encoded is not None:
                self._examples.append(encoded)

    @torch.no_grad()
    def __call__(self, model: Any) -> dict[str, float]:
        """``dev/loss`` and ``dev/<task>/f1`` (plus precision and recall) of ``model`` now."""
        from knowcoder.inference.extract import Extractor

        started = time.perf_counter()
        if self._tokenizer is None:
            self._prepare()
        was_training, use_cache = model.training, getattr(model.config, "use_cache", True)
        model.eval()
        model.config.use_cache = True
        try:
            metrics = {f"{PREFIX}loss": self._loss(model)}
            extractor = Extractor(
                model=model,
                tokenizer=self._tokenizer,
                builder=self.builder,
                batch_size=self.batch_size,
                max_new_tokens=self.max_new_tokens,
                constrained=self.constrained,
            )
            scorer = Scorer(self.ontology)
            by_id = {instance.id: instance for instance in self.instances}
            for prediction in extractor.extract(self._requests):
                instance = by_id[prediction.request.id.rsplit(":", 1)[0]]
                task = prediction.request.task
                scorer.add(
                    task,
                    get_task(task).gold_records(instance, self.ontology),
                    prediction.records,
                    dataset=instance.dataset,
                    lang=instance.lang,
                    report=prediction.report,
                )
            scores = scorer.result().to_dict()
            for task in self.tasks:
                for name in ("f1", "precision", "recall"):
                    value = scores.get(f"{task}.{name}")
                    if isinstance(value, int | float):
                        metrics[f"{PREFIX}{task}/{name}"] = float(value)
        finally:
            model.config.use_cache = use_cache
            model.train(was_training)
        self.seconds += time.perf_counter() - started
        self.calls += 1
        return metrics

    def _loss(self, model: Any) -> float:
        if not self._examples:
            return float("nan")
        collate = PaddingCollator(self._tokenizer.pad_token_id)
        device = next(model.parameters()).device
        total, count = 0.0, 0
        for start in range(0, len(self._examples), self.batch_size):
            batch = {
                k: v.to(device) for k, v in collate(self._examples[start : start + self.batch_size]).items()
            }
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            labels = batch["labels"][:, 1:]
            losses = torch.nn.functional.cross_entropy(
                logits[:, :-1].float().transpose(1, 2), labels, ignore_index=IGNORE_INDEX, reduction="sum"
            )
            total += float(losses)
            count += int((labels != IGNORE_INDEX).sum())
        return total / count if count else float("nan")


class DevSchedule(TrainerCallback):
    """Asks the trainer to evaluate every ``every`` steps and at the last step."""

    def __init__(self, every: int) -> None:
        self.every = every

    def on_step_end(self, args, state, control, **kwargs):
        step = state.global_step
        if (self.every > 0 and step % self.every == 0) or step >= state.max_steps:
            control.should_evaluate = True
        return control


def dev_summary(evaluator: DevEvaluator, curve: list[dict[str, float]]) -> dict[str, Any]:
    """The stage metrics' dev part: the last scores, how many evaluations and what they cost."""
    last = {key: value for key, value in curve[-1].items() if key != "step"} if curve else {}
    return {
        **last,
        "dev_evaluations": evaluator.calls,
        "dev_eval_s": round(evaluator.seconds, 2),
        "dev_sentences": len(evaluator.instances),
    }
