"""The contract between a stage and whoever runs it: what a stage receives, returns and declares.

A stage is one :class:`Stage` entry in the table of ``knowcoder.stages.pipeline``: its name, the
parameter sections its output depends on, which earlier outputs it reads (its *upstream rule*),
its runner, what it logs to MLflow, and the type of the facts it reports beside its files. The
runner receives a :class:`StageContext` and returns a :class:`StageOutput`, whose ``info`` is that
type. Everything here is JSON-serialisable both ways: the flow caches outputs and every stage writes
one to ``stamps/<stage>.json``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from knowcoder.config import Params

if TYPE_CHECKING:
    from knowcoder.tracking.mlflow_io import Tracker
    from knowcoder.versioning import DataVersion

InfoT = TypeVar("InfoT")


# ---- what stages report beside their files ------------------------------------------------
@dataclass
class NoInfo:
    """A stage with nothing to report beyond its files and metrics."""


@dataclass
class DataInfo:
    versions: list[dict[str, Any]] = field(default_factory=list)  # the DVC versions of the inputs read
    summary: str = ""  # data/summary.json


@dataclass
class TrainInfo:
    resumed: bool = False  # checkpoints of this fingerprint were there: training resumed
    resumed_from: Any = None  # the checkpoint step it resumed from


@dataclass
class EvaluateInfo:
    suites: list[str] = field(default_factory=list)  # the headline suite first, then the report suites


@dataclass
class RegisterInfo:
    name: str = ""
    version: str = ""
    uri: str = ""
    champion: bool = False
    champion_before: str | None = None
    decision: dict[str, Any] = field(default_factory=dict)  # the promotion gate's decision
    table: str = ""  # the decision as a Markdown table
    run_id: str = ""  # the parent run the model was logged on


@dataclass
class StageOutput(Generic[InfoT]):
    """What a stage hands to the next ones: named output paths, metrics, typed facts, wall time."""

    stage: str
    fingerprint: str
    outputs: dict[str, str] = field(default_factory=dict)  # name -> path; all must exist when complete
    metrics: dict[str, float] = field(default_factory=dict)
    info: InfoT = field(default_factory=NoInfo)  # type: ignore[assignment]
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], info_type: type = NoInfo) -> StageOutput[Any]:
        values = dict(data)
        info = values.pop("info", None) or {}
        known = {f.name for f in dataclasses.fields(info_type)}
        return cls(**values, info=info_type(**{k: v for k, v in info.items() if k in known}))


@dataclass
class StageContext:
    """Everything a stage's runner gets: the parameters, its fingerprint, and what ran before."""

    params: Params
    fingerprint: str
    upstream: list[StageOutput[Any]] = field(default_factory=list)  # by the stage's upstream rule
    earlier: dict[str, StageOutput[Any]] = field(default_factory=dict)  # every output of this run so far
    versions: list[dict[str, Any]] = field(default_factory=list)  # the data versions the flow checked
    run_id: str | None = None  # the stage's own MLflow run (training curves go there)
    parent_run_id: str | None = None  # the pipeline's parent run
    tags: dict[str, str] = field(default_factory=dict)  # the pipeline's run tags
    callbacks: list[Any] = field(default_factory=list)  # Trainer callbacks (training stages)


@dataclass
class LogContext:
    """What a stage's MLflow hook may log to: its own run and the pipeline's parent run."""

    stage: Tracker
    parent: Tracker
    params: Params
    versions: Sequence[DataVersion] = ()


UpstreamRule = Callable[
    [Mapping[str, StageOutput[Any]], Params, list[dict[str, Any]]], list[StageOutput[Any]]
]


@dataclass(frozen=True)
class Stage:
    """One row of the stage table (see the module docstring)."""

    name: str
    #: the parameter sections its output depends on (dotted paths into Params)
    params: tuple[str, ...]
    #: the outputs it reads; their fingerprints enter its own
    upstream: UpstreamRule
    #: runs the stage (the CLI, DVC and the flow all end here)
    run: Callable[[StageContext], StageOutput[Any]]
    #: the type of ``StageOutput.info``
    info: type = NoInfo
    #: what to log to MLflow beyond params, tags and metrics (artifacts, tables, parent metrics)
    log: Callable[[LogContext, StageOutput[Any]], None] | None = None
    #: a training stage: ordered by ``train.order``, retried from its last checkpoint
    trained: bool = False
    #: more input to its fingerprint than params and upstream (register: which registry)
    fingerprint_extra: Callable[[Params], Any] | None = None
    #: whether a cached output still holds (register: the version is still in the registry)
    still_valid: Callable[[Params, StageOutput[Any]], bool] | None = None
    #: one line for ``--help`` and the README's stage list
    summary: str = ""
