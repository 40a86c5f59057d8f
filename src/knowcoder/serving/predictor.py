"""Text and wanted classes in, records out: the serving face of a trained model, free of MLflow.

The kinds of the wanted classes choose the tasks: entity classes run NER, relation classes RE
(their prompts define the head and tail classes too, as every RE prompt does), event classes ED
and then EAE, whose prompts name the ED triggers as hints. All texts of one call go through the
extractor together, in two rounds: NER, RE and ED first, then EAE for the texts that have events.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from knowcoder.config import DecodingConfig, Params, ParserConfig, PromptConfig
from knowcoder.errors import ConfigError, InputError
from knowcoder.inference.extract import ExtractionRequest, Extractor, Prediction
from knowcoder.prompts import PromptBuilder, PromptOptions
from knowcoder.schema.ontology import Kind, Ontology, load_ontology
from knowcoder.tasks import TASKS, TaskView, get_task

#: a task whose prompts take the records of another task as ``given`` hints (``Task.given_by``)
GIVEN_BY: TaskView[str] = TaskView(lambda task: task.given_by)
#: the fields one item of ``predict_many`` may carry
ITEM_FIELDS = ("text", "types", "tasks")
#: the sections of ``ServingConfig`` whose keys its flat form (``prompt.json``) spreads out
_SECTIONS: dict[str, type[BaseModel]] = {"prompt": PromptConfig, "parser": ParserConfig}


class PredictionInputError(InputError, ValueError):
    """A text, class list or task list a caller asked to predict for is unusable."""


class ServingConfig(DecodingConfig):
    """How a packaged model prompts, generates and parses; stored beside it as ``prompt.json``.

    The generation knobs are :class:`~knowcoder.config.DecodingConfig`'s (``evaluation`` in
    ``params.yaml``), the parser's bounds ``parser`` (``ParserConfig``); the flat form of
    ``from_dict``/``to_dict`` spreads the ``prompt`` and ``parser`` sections beside the other keys.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: PromptConfig = PromptConfig()
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    trust_remote_code: bool = False
    parser: ParserConfig = ParserConfig()
    chunk_chars: int = Field(default=1000, gt=0)  # longer texts are cut at sentence ends (serving.chunking)
    chunk_overlap: int = Field(default=100, ge=0)  # characters of whole sentences two chunks share

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ServingConfig:
        """From the flat form: prompt options (``style``, ``lang``, ...) and parser bounds beside the rest."""
        known = list(cls().to_dict())
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(
                f"unknown key {unknown[0]!r}; use one of: {', '.join(known)}", field="prompt.json"
            )
        nested: dict[str, Any] = {section: {} for section in _SECTIONS}
        for key, value in values.items():
            for section, model in _SECTIONS.items():
                if key in model.model_fields:
                    nested[section][key] = value
                    break
            else:
                nested[key] = value
        try:
            return cls.model_validate(nested)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"] if part not in _SECTIONS)
            raise ConfigError(f"{first['msg']} (got {first.get('input')!r})", field=where) from error

    @classmethod
    def from_params(cls, params: Params) -> ServingConfig:
        """The prompt, generation and parser settings of a run's ``params.yaml``."""
        return cls(
            prompt=params.prompt,
            **params.evaluation.model_dump(include=set(DecodingConfig.model_fields)),
            dtype=params.model.dtype,
            trust_remote_code=params.model.trust_remote_code,
            parser=params.parser,
        )

    def to_dict(self) -> dict[str, Any]:
        """The flat form ``from_dict`` reads: prompt options first, each section's keys in its place."""
        flat = self.prompt.model_dump()
        for name, value in self.model_dump(exclude={"prompt"}).items():
            if name in _SECTIONS:
                flat.update(value)
            else:
                flat[name] = value
        return flat

    def prompt_options(self) -> PromptOptions:
        return PromptOptions(**self.prompt.model_dump())


@dataclass(frozen=True)
class Plan:
    """The tasks one text runs and the classes each task's prompt asks for (EAE's come from ED)."""

    tasks: tuple[str, ...]
    types: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class Job:
    """One checked text with its plan, ready to generate for."""

    text: str
    plan: Plan


class Predictor:
    """Plans tasks from the wanted classes and runs them through one batched extractor."""

    def __init__(self, extractor: Extractor) -> None:
        self.extractor = extractor
        self._variants: dict[bool, Extractor] = {extractor.constrained: extractor}

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        ontology: Ontology | str | Path,
        config: ServingConfig | None = None,
    ) -> Predictor:
        """From a model directory (merged checkpoint or LoRA adapter) and an ontology (or its YAML path)."""
        config = config or ServingConfig()
        if not isinstance(ontology, Ontology):
            ontology = load_ontology(ontology)
        extractor = Extractor.from_config(
            model_dir,
            PromptBuilder(ontology, config.prompt_options()),
            config,
            config.parser,
            trust_remote_code=config.trust_remote_code,
            dtype=config.dtype,
        )
        return cls(extractor)

    @property
    def ontology(self) -> Ontology:
        return self.extractor.builder.ontology

    def with_ontology(self, ontology: Ontology) -> Predictor:
        """The same model prompting with another ontology's classes."""
        builder = PromptBuilder(ontology, self.extractor.builder.options)
        return Predictor(replace(self.extractor, builder=builder))

    # ---- planning -----------------------------------------------------------------------
    def plan(
        self,
        types: Sequence[str] | str | None = None,
        tasks: Sequence[str] | str | None = None,
        *,
        field: str = "",
    ) -> Plan:
        """Which tasks run for ``types`` (all classes when ``None``) and which classes each one asks for."""
        names = self._resolve_types(types, f"{field}types")
        explicit = types is not None
        by_kind: dict[Kind, list[str]] = {}
        for name in names:
            kind = self.ontology.kind_of(name)
            assert kind is not None  # every name was checked against the ontology
            by_kind.setdefault(kind, []).append(name)
        if tasks is None:
            chosen = [name for name, task in TASKS.items() if task.kind in by_kind]
        else:
            chosen = self._resolve_tasks(tasks, f"{field}tasks")
            for name in chosen:
                kind = get_task(name).kind
                if kind not in by_kind:
                    raise PredictionInputError(
                        f"task {name!r} needs {kind.section} among the types, and none was given; "
                        f"add some {kind.value} classes or drop {name!r}",
                        field=f"{field}tasks",
                    )
            covered = {get_task(name).kind for name in chosen}
            stray = [n for kind, kind_names in by_kind.items() if kind not in covered for n in kind_names]
            if stray and explicit:
                kind = self.ontology.kind_of(stray[0])
                assert kind is not None
                raise PredictionInputError(
                    f"{stray[0]!r} is a {kind.value} class but no chosen task extracts {kind.section}; "
                    f"add a {kind.value} task to tasks or drop the class",
                    field=f"{field}types",
                )
        for name, source in GIVEN_BY.items():  # a task fed by another cannot run without it
            if name in chosen and source not in chosen:
                chosen.append(source)
        ordered = tuple(name for name in TASKS if name in chosen)
        plan_types = {
            name: tuple(by_kind.get(get_task(name).kind, ())) for name in ordered if name not in GIVEN_BY
        }
        return Plan(ordered, plan_types)

    def _resolve_types(self, types: Sequence[str] | str | None, field: str) -> list[str]:
        if types is None:
            return list(self.ontology.types)
        if isinstance(types, str):
            types = [part.strip() for part in types.split(",") if part.strip()]
        if not isinstance(types, Sequence) or not all(isinstance(name, str) for name in types):
            raise PredictionInputError(
                f"must be a list of class names or a comma-separated string, got {types!r}; "
                "write e.g. ['Person'] or 'Person, Location'",
                field=field,
            )
        names = list(dict.fromkeys(types))
        if not names:
            raise PredictionInputError(
                "is empty; name at least one class, or leave types out to use every class", field=field
            )
        for name in names:
            if name not in self.ontology.types:
                raise PredictionInputError(self._unknown_class(name), field=field)
        return names

    def _unknown_class(self, name: str) -> str:
        known = list(self.ontology.types)
        close = difflib.get_close_matches(name, known, n=3)
        hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
        shown = ", ".join(known[:8]) + (f", ... ({len(known)} in all)" if len(known) > 8 else "")
        return f"unknown class {name!r} in ontology {self.ontology.name!r}; {hint}known classes: {shown}"

    @staticmethod
    def _resolve_tasks(tasks: Sequence[str] | str, field: str) -> list[str]:
        if isinstance(tasks, str):
            tasks = [part.strip() for part in tasks.split(",") if part.strip()]
        if not isinstance(tasks, Sequence):
            raise PredictionInputError(
                f"must be a list of task names or a comma-separated string, got {tasks!r}", field=field
            )
        chosen = [str(name).lower() for name in tasks]
        for name in chosen:
            if name not in TASKS:
                raise PredictionInputError(
                    f"unknown task {name!r}; choose from {', '.join(TASKS)}", field=field
                )
        if not chosen:
            raise PredictionInputError("is empty; leave it out to choose tasks from the types", field=field)
        return list(dict.fromkeys(chosen))

    # ---- prediction ---------------------------------------------------------------------
    def predict(
        self,
        text: str,
        types: Sequence[str] | str | None = None,
        *,
        tasks: Sequence[str] | str | None = None,
        constrained: bool | None = None,
    ) -> dict[str, Any]:
        """Records of the wanted classes in ``text``: ``{text, entities, relations, events, report}``."""
        item = {"text": text, "types": types, "tasks": tasks}
        return self.predict_many([item], constrained=constrained, labels=[""])[0]

    def predict_many(
        self,
        items: Iterable[Mapping[str, Any] | str],
        *,
        constrained: bool | None = None,
        labels: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """``predict`` for many texts (a string, or a mapping with text/types/tasks), batched together."""
        return self.run(self.prepare(items, labels=labels), constrained=constrained)

    def prepare(
        self, items: Iterable[Mapping[str, Any] | str], *, labels: Sequence[str] | None = None
    ) -> list[Job]:
        """Check every item and plan its tasks, so that a bad item fails before any model time is spent.

        ``labels`` name the items in error messages (default ``items[0]``, ``items[1]``, ...).
        """
        items = list(items)
        if labels is None:
            labels = [f"items[{index}]" for index in range(len(items))]
        if len(labels) != len(items):
            raise ValueError(f"labels has {len(labels)} entries for {len(items)} items; give one per item")
        return [self._job(item, label) for item, label in zip(items, labels, strict=True)]

    def run(self, jobs: Sequence[Job], *, constrained: bool | None = None) -> list[dict[str, Any]]:
        """Generate for jobs this predictor prepared: NER, RE and ED in one batch, then EAE in a second."""
        extractor = self._extractor(constrained)
        first = [
            ExtractionRequest(f"{index}:{task}", task, job.text, job.plan.types[task])
            for index, job in enumerate(jobs)
            for task in job.plan.tasks
            if task not in GIVEN_BY
        ]
        found: dict[str, Prediction] = {p.request.id: p for p in extractor.extract(first)} if first else {}
        second = []
        for index, job in enumerate(jobs):
            for task, source in GIVEN_BY.items():
                if task not in job.plan.tasks:
                    continue
                given = get_task(task).given_from(found[f"{index}:{source}"].records)
                if given:  # no detected event, no arguments to look for
                    event_types = tuple(dict.fromkeys(record.type for record in given))
                    second.append(
                        ExtractionRequest(f"{index}:{task}", task, job.text, event_types, given=given)
                    )
        if second:
            found.update((p.request.id, p) for p in extractor.extract(second))
        return [self._result(index, job, found) for index, job in enumerate(jobs)]

    def _job(self, item: Mapping[str, Any] | str, label: str) -> Job:
        field = f"{label}." if label else ""
        if isinstance(item, str):
            item = {"text": item}
        if not isinstance(item, Mapping):
            raise PredictionInputError(
                f"must be a text or a mapping with {', '.join(ITEM_FIELDS)}, got {type(item).__name__}",
                field=label or "item",
            )
        unknown = [key for key in item if key not in ITEM_FIELDS]
        if unknown:
            raise PredictionInputError(
                f"unknown field {unknown[0]!r}; use {', '.join(ITEM_FIELDS)}", field=label or "item"
            )
        text = item.get("text")
        if not isinstance(text, str) or not text.strip():
            raise PredictionInputError(
                f"must be a non-empty string, got {text!r}; pass the sentence to extract from",
                field=f"{field}text",
            )
        return Job(text, self.plan(item.get("types"), item.get("tasks"), field=field))

    def _extractor(self, constrained: bool | None) -> Extractor:
        if constrained is None:
            return self.extractor
        if constrained not in self._variants:  # a copy, so concurrent calls never see a flag flip
            self._variants[constrained] = replace(self.extractor, constrained=constrained)
        return self._variants[constrained]

    @staticmethod
    def _result(index: int, job: Job, found: Mapping[str, Prediction]) -> dict[str, Any]:
        records: dict[str, list[dict[str, Any]]] = {}
        report: dict[str, Any] = {}
        for task in job.plan.tasks:
            prediction = found.get(f"{index}:{task}")
            if prediction is not None:
                records[task] = prediction.record_dicts()
                report[task] = prediction.report.to_dict()
        return {
            "text": job.text,
            "entities": records.get("ner", []),
            "relations": records.get("re", []),
            "events": _merge_events(records.get("eae", []), records.get("ed", [])),
            "report": report,
        }


def _merge_events(
    with_arguments: list[dict[str, Any]], detected: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """EAE's events, then every ED trigger EAE did not return (argument-less), so no detection is lost.

    Each keeps the ``confidence`` of the output that wrote it.
    """
    events = [e for e in with_arguments if "trigger" in e]
    seen = {(e["type"], e["trigger"]) for e in events}
    for trigger in detected:
        key = (trigger["type"], trigger["trigger"])
        if key not in seen:
            seen.add(key)
            events.append({"type": key[0], "trigger": key[1], "arguments": [], **_confidence(trigger)})
    return events


def _confidence(record: Mapping[str, Any]) -> dict[str, Any]:
    return {"confidence": record["confidence"]} if "confidence" in record else {}
