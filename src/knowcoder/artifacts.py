"""The on-disk layout of a run: every path a stage reads or writes under ``paths.artifacts``.

The one owner of these paths. Stages, training, the multi-GPU launcher, the CLI and the flows ask
a :class:`Layout` where a file lives instead of joining path parts themselves, and a test checks
``dvc.yaml``'s outputs against it::

    data/synth.jsonl                          synthetic instances (data stage)
    data/validated/<input>/valid.jsonl        each validated input, its report.md/.json beside it
    data/summary.json, data/sample_prompts.md what the data stage found; one prompt per task
    corpus/<stage>.jsonl, <stage>.report.json each training stage's corpus and its report
    corpus/align.instructions.jsonl           align's schema-following examples when built alone
    models/base/                              the tiny model, built when model.base is empty
    models/<stage>/                           each training stage's standalone model,
    models/<stage>.metrics.json, .curve.csv   its metrics and loss curve
    checkpoints/<stage>/, .../FINGERPRINT     Trainer checkpoints and whose run they belong to
    evaluation/<suite>/                       one folder per evaluated suite (pipeline and CLI)
    suites/<suite>/                           benchmark suite tables (knowcoder suite run)
    ci-evaluation/<time>/                     CI evaluations (flows/evaluate.py)
    stamps/<stage>.json                       a finished stage's fingerprint and outputs
    cache/datasets/, cache/prefect/           tokenized corpora; the flow's task results
    logs/pipeline-<time>.log                  the console's log file
    .pipeline.lock                            one pipeline at a time per artifacts folder
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from knowcoder.config import Params

#: the lock file of a running pipeline (knowcoder.locking)
LOCK_NAME = ".pipeline.lock"
#: the file in a stage's checkpoint folder naming the fingerprint the checkpoints belong to
FINGERPRINT_MARKER = "FINGERPRINT"


class Layout:
    """Where a run's files live, derived from ``paths.artifacts`` (or any root folder)."""

    def __init__(self, params_or_root: Params | str | Path) -> None:
        if isinstance(params_or_root, str | Path):
            self.root = Path(params_or_root)
        else:
            self.root = Path(params_or_root.paths.artifacts)

    def __repr__(self) -> str:
        return f"Layout({str(self.root)!r})"

    # ---- data -----------------------------------------------------------------------------
    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def synth(self) -> Path:
        return self.data / "synth.jsonl"

    def validated_dir(self, name: str) -> Path:
        return self.data / "validated" / name

    def validated(self, name: str) -> Path:
        return self.validated_dir(name) / "valid.jsonl"

    @property
    def data_summary(self) -> Path:
        return self.data / "summary.json"

    @property
    def sample_prompts(self) -> Path:
        return self.data / "sample_prompts.md"

    # ---- corpora --------------------------------------------------------------------------
    def corpus(self, stage: str) -> Path:
        return self.root / "corpus" / f"{stage}.jsonl"

    def corpus_report(self, stage: str) -> Path:
        return self.corpus(stage).with_suffix(".report.json")

    def instructions(self, stage: str) -> Path:
        """The schema-following examples ``stage`` (align) draws from when no SFT corpus is given."""
        return self.corpus(stage).with_name(f"{stage}.instructions.jsonl")

    # ---- models ---------------------------------------------------------------------------
    @property
    def base_model(self) -> Path:
        return self.model("base")

    def model(self, stage: str) -> Path:
        return self.root / "models" / stage

    def model_metrics(self, stage: str) -> Path:
        return self.root / "models" / f"{stage}.metrics.json"

    def model_curve(self, stage: str) -> Path:
        return self.root / "models" / f"{stage}.curve.csv"

    def checkpoints(self, stage: str) -> Path:
        return self.root / "checkpoints" / stage

    def checkpoint_marker(self, stage: str) -> Path:
        return self.checkpoints(stage) / FINGERPRINT_MARKER

    # ---- evaluation -----------------------------------------------------------------------
    @property
    def evaluations(self) -> Path:
        return self.root / "evaluation"

    def evaluation(self, suite: str) -> Path:
        return self.evaluations / suite

    def suite_table(self, suite: str) -> Path:
        return self.root / "suites" / suite

    @property
    def ci_evaluations(self) -> Path:
        return self.root / "ci-evaluation"

    # ---- run state ------------------------------------------------------------------------
    def stamp(self, stage: str) -> Path:
        return self.root / "stamps" / f"{stage}.json"

    @property
    def datasets_cache(self) -> Path:
        return self.root / "cache" / "datasets"

    @property
    def prefect_cache(self) -> Path:
        return self.root / "cache" / "prefect"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def lock(self) -> Path:
        return self.root / LOCK_NAME
