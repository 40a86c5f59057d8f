"""Benchmark suite definitions: which files, read how, scored against which label set.

A suite is one YAML file (bundled ones live in ``knowcoder/suites/bundled/``)::

    name: zero-shot-ner
    title: Zero-shot NER (...)
    reference: "where the paper's numbers come from"
    setting: "how the paper scored it, in words"
    split: test                      # the split every imported instance gets
    average: true                    # report the plain mean of the columns' F1
    datasets:
      - name: crossner_ai            # dataset name: instance ids, metric names
        column: AI                   # the paper's column header
        lang: en
        tasks: [ner]                 # one report column per task: crossner_ai.ner
        ontology: ontologies/crossner_ai.yaml   # the benchmark's label set, relative to the suite
        ignore_labels: [misc]        # labels the benchmark does not score; dropped on import
        files:                       # alternatives under --data-dir; the first that exists wins
          - {path: CrossNER_AI.json, format: universalner}
          - {path: ai/test.txt, format: conll, options: {scheme: BIO}}
    paper:
      - {model: KnowCoder-7B, scores: {crossner_ai.ner: 60.3, average: 60.1}}

A dataset's label set is every class of its ontology of the task's kind that has no subclass
(ACE's coarse event types are parents, not labels).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from knowcoder.errors import ConfigError
from knowcoder.schema.ontology import Ontology, load_ontology
from knowcoder.tasks import TASKS, get_task

BUNDLED_DIR = Path(__file__).parent / "bundled"
AVERAGE = "average"

_STRICT = ConfigDict(extra="forbid", frozen=True)


class DataFile(BaseModel):
    """One accepted file for a dataset: its path under the data directory and how to import it."""

    model_config = _STRICT

    path: str
    format: str
    options: dict[str, Any] = Field(default_factory=dict)


class SuiteDataset(BaseModel):
    model_config = _STRICT

    name: str
    column: str
    lang: str
    tasks: tuple[str, ...]
    ontology: str
    files: tuple[DataFile, ...] = Field(min_length=1)
    ignore_labels: tuple[str, ...] = ()

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, tasks: tuple[str, ...]) -> tuple[str, ...]:
        for task in tasks:
            if task not in TASKS:
                raise ValueError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
        return tasks

    def column_keys(self) -> list[str]:
        return [f"{self.name}.{task}" for task in self.tasks]


class PaperRow(BaseModel):
    """One model's published scores, keyed ``<dataset>.<task>`` (and ``average``), in percent."""

    model_config = _STRICT

    model: str
    note: str = ""
    scores: dict[str, float]


class Suite(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, ignored_types=(cached_property,))

    name: str
    title: str
    reference: str
    setting: str
    split: str = "test"
    average: bool = False
    datasets: tuple[SuiteDataset, ...] = Field(min_length=1)
    paper: tuple[PaperRow, ...] = ()
    source: str = ""  # the file it was read from (set by the loader)

    @model_validator(mode="after")
    def _consistent(self) -> Suite:
        names = [d.name for d in self.datasets]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"dataset names must be unique; repeated: {', '.join(duplicates)}")
        keys = set(self.column_keys()) | {AVERAGE}
        for row in self.paper:
            unknown = sorted(set(row.scores) - keys)
            if unknown:
                raise ValueError(
                    f"paper row {row.model!r} scores unknown columns {unknown}; columns: {sorted(keys)}"
                )
        return self

    def column_keys(self) -> list[str]:
        return [key for dataset in self.datasets for key in dataset.column_keys()]

    def column_titles(self) -> dict[str, str]:
        titles = {}
        for dataset in self.datasets:
            for task, key in zip(dataset.tasks, dataset.column_keys(), strict=True):
                titles[key] = (
                    dataset.column if len(dataset.tasks) == 1 else f"{dataset.column} {task.upper()}"
                )
        return titles

    def ontology_path(self, dataset: SuiteDataset) -> Path:
        path = Path(dataset.ontology)
        return path if path.is_absolute() else Path(self.source).parent / path

    def load_ontology(self, dataset: SuiteDataset) -> Ontology:
        return load_ontology(self.ontology_path(dataset))


def label_set(ontology: Ontology, task: str) -> list[str]:
    """The classes a suite prompt defines for ``task``: the leaf classes of its kind, in file order.

    A task whose objects take arguments (RE, EAE) also defines the leaf classes of the
    arguments' kind (entities).
    """
    task_obj = get_task(task)
    own = [name for name in ontology.names(task_obj.kind) if not ontology.descendants(name)]
    if task_obj.argument_kind is not None:
        own += [name for name in ontology.names(task_obj.argument_kind) if not ontology.descendants(name)]
    return own


def bundled_suites() -> dict[str, Path]:
    """Name -> file of every suite shipped with the package."""
    return {path.stem: path for path in sorted(BUNDLED_DIR.glob("*.yaml"))}


def load_suite(name_or_path: str | Path) -> Suite:
    """A bundled suite by name, or a suite YAML file by path."""
    bundled = bundled_suites()
    path = bundled.get(str(name_or_path)) or Path(name_or_path)
    if not path.is_file():
        raise ConfigError(
            f"unknown suite {str(name_or_path)!r}; bundled suites: {', '.join(bundled)} "
            "(or pass the path of a suite YAML file)",
            field="suite",
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"invalid YAML: {getattr(error, 'problem', error)}", path=path) from error
    if not isinstance(raw, dict):
        raise ConfigError("expected a mapping with name, title, datasets ...", path=path)
    try:
        suite = Suite.model_validate({**raw, "source": str(path)})
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        message = first["msg"]
        if first["type"] == "extra_forbidden":
            message = "unknown key (misspelled? see knowcoder/suites/definition.py for the layout)"
        raise ConfigError(message, path=path, field=field) from error
    for dataset in suite.datasets:
        if not suite.ontology_path(dataset).is_file():
            raise ConfigError(
                f"ontology {dataset.ontology!r} not found next to the suite file",
                path=path,
                field=f"datasets[{dataset.name}].ontology",
            )
    return suite
