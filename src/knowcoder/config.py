"""``params.yaml``: every knob in one place, validated once at the entry.

The file holds a ``base`` block and named ``profiles`` that override it (deep merge); the
``profile`` key picks the default one. Command-line overrides (``--set data.seed=3``) apply
last. A misspelled key anywhere is an error naming it; nothing falls back silently.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from knowcoder.errors import ConfigError

_STRICT = ConfigDict(extra="forbid", frozen=True)


class PathsConfig(BaseModel):
    model_config = _STRICT

    ontology: str = "data/ontology.yaml"
    raw: list[str] = Field(default_factory=lambda: ["data/raw/sample/en.jsonl", "data/raw/sample/zh.jsonl"])
    parallel: str = "data/raw/parallel/en_zh.jsonl"
    artifacts: str = "artifacts"


class SynthConfig(BaseModel):
    model_config = _STRICT

    train: int = Field(2000, ge=0)
    dev: int = Field(200, ge=0)
    test: int = Field(200, ge=0)
    languages: list[str] = Field(default_factory=lambda: ["en", "zh"])
    seed: int = 0
    generated_names: float = Field(
        default=0.0, ge=0.0, le=1.0
    )  # share of name, date and money slots with made-up values


class ImportConfig(BaseModel):
    model_config = _STRICT

    drop_unmapped: bool = False  # an unmapped label is an error unless this is on


class DataConfig(BaseModel):
    model_config = _STRICT

    synth: SynthConfig = SynthConfig()
    imports: ImportConfig = ImportConfig()
    # where annotation and corpus shards run (knowcoder.distributed): 0 or null in this process,
    # N a local Dask cluster of N worker processes, or the Dask scheduler at dask_address
    workers: int | None = Field(default=0, ge=0)
    dask_address: str | None = None  # e.g. tcp://dask-scheduler:8786
    shard_size: int = Field(default=100_000, ge=1)  # input lines per shard; outputs do not depend on it


class ValidationConfig(BaseModel):
    model_config = _STRICT

    max_reject_share: float = Field(0.05, ge=0.0, le=1.0)
    known_languages: list[str] = Field(
        default_factory=lambda: [
            "en",
            "zh",
            "de",
            "es",
            "fr",
            "it",
            "ja",
            "ko",
            "ru",
            "pt",
            "nl",
            "tr",
            "fa",
            "hi",
            "bn",
        ]
    )
    min_split_sizes: dict[str, int] = Field(default_factory=lambda: {"train": 1, "test": 1})


class PromptConfig(BaseModel):
    model_config = _STRICT

    style: str = "knowcoder"
    lang: str = "en"
    descriptions: bool = True
    max_examples: int = Field(3, ge=0)
    system: bool = True
    dataset_hint: bool = False
    trigger_hints: bool = True
    class_order: Literal["ontology", "given"] = "ontology"

    @field_validator("style")
    @classmethod
    def _known_style(cls, value: str) -> str:
        if value not in ("knowcoder", "released", "released-template"):
            raise ValueError(f"unknown style {value!r}; choose knowcoder, released or released-template")
        return value


class ParserConfig(BaseModel):
    """The parser's bounds (``knowcoder.parser``): characters read, bracket depth of one item."""

    model_config = _STRICT

    max_chars: int = Field(65_536, gt=0)
    max_depth: int = Field(8, gt=0)


class TinyModelConfig(BaseModel):
    """The model built locally when ``model.base`` is empty (CPU default)."""

    model_config = _STRICT

    vocab_size: int = Field(default=2048, ge=300)
    min_frequency: int = Field(default=2, ge=1)
    hidden_size: int = Field(default=256, gt=0)
    num_layers: int = Field(default=4, gt=0)
    num_heads: int = Field(default=4, gt=0)
    intermediate_size: int = Field(default=688, gt=0)
    max_position_embeddings: int = Field(default=1024, gt=0)
    seed: int = 0


class ModelConfig(BaseModel):
    model_config = _STRICT

    base: str | None = None  # hub id or local path; empty: build the tiny model
    trust_remote_code: bool = False
    use_safetensors: bool = True  # false also reads pickled *.bin weights (unpickling can run code)
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    tiny: TinyModelConfig = TinyModelConfig()


class LoraSettings(BaseModel):
    model_config = _STRICT

    enabled: bool = False
    r: int = Field(default=32, gt=0)
    alpha: int = Field(default=64, gt=0)
    dropout: float = Field(default=0.05, ge=0.0, lt=1.0)
    # "auto": every linear projection inside the model's blocks (its own module names, e.g. q_proj ...
    # down_proj for Llama, query_key_value/dense* for Bloom), never the output head; or explicit names
    target_modules: list[str] = Field(default_factory=lambda: ["auto"])
    merge: bool = True  # merge the adapter into a standalone checkpoint at the end of the stage


class StageTraining(BaseModel):
    """One training stage; every field maps onto transformers' TrainingArguments."""

    model_config = _STRICT

    max_length: int = Field(default=512, ge=8)
    epochs: float = Field(default=1.0, gt=0)
    max_steps: int = -1  # > 0 overrides epochs
    learning_rate: float = Field(default=3e-4, gt=0)
    min_lr_ratio: float = Field(default=0.0, ge=0.0, le=1.0)  # cosine floor as a share of the peak
    scheduler: Literal["cosine", "linear", "constant_with_warmup"] = "cosine"
    warmup_ratio: float = Field(default=0.1, ge=0.0, lt=1.0)
    batch_size: int = Field(default=8, gt=0)
    grad_accum: int = Field(default=1, gt=0)
    weight_decay: float = Field(default=0.0, ge=0.0)
    max_grad_norm: float = Field(default=1.0, gt=0)
    group_by_length: bool = True  # instruction stages: batch similar lengths together
    lora: LoraSettings = LoraSettings()
    logging_steps: int = Field(default=10, gt=0)
    save_steps: int = Field(default=200, gt=0)
    save_total_limit: int = Field(default=2, gt=0)


StageName = Literal["pretrain", "sft", "align"]


def _default_order() -> list[StageName]:
    return ["pretrain", "sft", "align"]


class DevEvalConfig(BaseModel):
    """IE scores during training: extraction F1 and target loss on a small dev sample every N steps."""

    model_config = _STRICT

    every: int = Field(default=0, ge=0)  # steps between evaluations (and the last step); 0: off
    stages: list[StageName] = Field(default_factory=lambda: list[StageName](["sft", "align"]))
    data: list[str] = Field(default_factory=lambda: ["synth"])  # validated inputs (names as in corpus.inputs)
    split: str = "dev"  # never a split the corpora are built from
    sentences: int = Field(default=16, gt=0)  # per language
    tasks: list[str] = Field(default_factory=lambda: ["ner"])
    max_new_tokens: int = Field(default=128, gt=0)


class TrainConfig(BaseModel):
    model_config = _STRICT

    order: list[StageName] = Field(default_factory=_default_order)
    seed: int = 0
    bf16: Literal["auto", "true", "false"] = "auto"  # auto: bf16 on a CUDA device that supports it
    gradient_checkpointing: bool = False
    deepspeed: str | None = None  # path to a DeepSpeed config (infra/deepspeed/...); needs CUDA
    pretrain: StageTraining = StageTraining(max_length=256, learning_rate=1e-3, lora=LoraSettings())
    sft: StageTraining = StageTraining()
    align: StageTraining = StageTraining()
    dev: DevEvalConfig = DevEvalConfig()


class PretrainCorpusConfig(BaseModel):
    model_config = _STRICT

    class_languages: list[str] = Field(default_factory=lambda: ["en", "zh"])
    class_repeats: int = Field(default=1, ge=0)  # how often the class documents appear
    tasks: list[str] = Field(default_factory=lambda: ["ner", "re", "ed", "eae"])
    extra: list[str] = Field(default_factory=list)  # more canonical JSONL, e.g. auto-annotated shards


class SftCorpusConfig(BaseModel):
    model_config = _STRICT

    tasks: list[str] = Field(default_factory=lambda: ["ner", "re", "ed", "eae"])
    negative_ratio: float = Field(default=0.2, ge=0.0)
    only_negative_rate: float = Field(default=0.05, ge=0.0, le=1.0)
    # share of (instance, task) pairs without any gold record of the task that become examples
    # (prompt of negatives only, target `results = []`); 1 keeps them all
    without_positives_rate: float = Field(default=1.0, ge=0.0, le=1.0)
    shuffle_classes: bool = True


class AlignCorpusConfig(BaseModel):
    model_config = _STRICT

    tasks: list[str] = Field(default_factory=lambda: ["ner"])
    both_directions: bool = True
    instruction_mix: float = Field(default=1.0, ge=0.0)  # instruction examples per alignment example


class CorpusConfig(BaseModel):
    model_config = _STRICT

    inputs: list[str] = Field(default_factory=lambda: ["sample-en", "sample-zh", "synth"])  # validated inputs
    split: str = "train"
    seed: int = 0
    pretrain: PretrainCorpusConfig = PretrainCorpusConfig()
    sft: SftCorpusConfig = SftCorpusConfig()
    align: AlignCorpusConfig = AlignCorpusConfig()


class SuiteConfig(BaseModel):
    """A named evaluation suite: validated inputs, the split to score and (optionally) the tasks."""

    model_config = _STRICT

    data: list[str]
    split: str | None = "test"
    tasks: list[str] | None = None  # None: evaluation.tasks


class BenchmarkConfig(BaseModel):
    """A benchmark suite (``knowcoder suite list``) that ``ci-evaluate`` also runs on the user's files."""

    model_config = _STRICT

    suite: str  # a bundled suite's name, or the path of a suite YAML file
    data_dir: str  # the folder `knowcoder suite show <suite>` names the files under
    require_all: bool = False  # a dataset without a file fails the run (default: reported, not scored)
    limit: int | None = Field(default=None, gt=0)  # first N instances per dataset: a smoke test


class DecodingConfig(BaseModel):
    """How prompts are batched, cut and decoded: the knobs of ``inference.extract.Extractor``.

    ``evaluation`` holds them in ``params.yaml``; a packaged model's ``prompt.json`` holds them too.
    """

    model_config = _STRICT

    batch_size: int = Field(default=32, gt=0)  # prompts per generation batch, at most
    # and cache positions per batch, at most: rows x (longest prompt + max_new_tokens); None: no limit
    batch_tokens: int | None = Field(default=32768, gt=0)
    max_new_tokens: int = Field(default=640, gt=0)
    head_tokens: int = Field(default=1500, gt=0)  # prompts longer than head + tail keep both ends
    tail_tokens: int = Field(default=2000, gt=0)
    constrained: bool = False  # schema-constrained decoding


class _EvaluatedData(BaseModel):
    """What ``evaluation`` reads; a base of its own so that these keys stay first in its dumps."""

    model_config = _STRICT

    data: list[str] = Field(default_factory=lambda: ["sample-en", "sample-zh"])  # validated inputs
    split: str = "test"
    tasks: list[str] = Field(default_factory=lambda: ["ner", "re", "ed", "eae"])
    types: Literal["dataset", "instance"] = "dataset"  # the classes each prompt defines


class EvaluationConfig(DecodingConfig, _EvaluatedData):
    """The evaluation: its data (first), its decoding (``DecodingConfig``), then scoring and suites."""

    model_config = _STRICT

    lenient: bool = False  # also accept a predicted entity type whose ancestor is the gold type
    worst_examples: int = Field(default=20, ge=0)
    suite: str = "sample-test"  # the name of the suite above (data + split), for CI and run tags
    suites: dict[str, SuiteConfig] = Field(default_factory=dict)  # more named suites
    # suites of `suites` the pipeline's evaluate stage also scores, each into its own folder;
    # their metrics are logged as `<suite>/<metric>`
    report_suites: list[str] = Field(default_factory=list)
    bootstrap_resamples: int = Field(default=1000, ge=0)  # F1 intervals over sentences; 0: none
    bootstrap_seed: int = 0
    benchmark: BenchmarkConfig | None = None  # ci-evaluate also runs this suite, logged as suite/...

    @field_validator("report_suites")
    @classmethod
    def _defined_suites(cls, value: list[str], info: ValidationInfo) -> list[str]:
        defined = info.data.get("suites", {})
        for name in value:
            if name == info.data.get("suite") or name not in defined or "." in name or "/" in name:
                raise ValueError(
                    f"{name!r} is not a suite of evaluation.suites (nor the headline suite "
                    f"{info.data.get('suite')!r}, which is always scored); defined: "
                    f"{', '.join(defined) or 'none'}; names hold no '.' or '/'"
                )
        return value

    def resolve_suite(self, name: str | None = None) -> SuiteConfig:
        """The suite called ``name`` (default: this section's own data and split)."""
        name = name or self.suite
        if name == self.suite:
            return SuiteConfig(data=self.data, split=self.split, tasks=self.tasks)
        if name not in self.suites:
            known = ", ".join([self.suite, *self.suites])
            raise ConfigError(
                f"unknown evaluation suite {name!r}; defined: {known}", field="evaluation.suites"
            )
        return self.suites[name]


class TrackingConfig(BaseModel):
    """Where runs are logged. ``uri`` empty: $MLFLOW_TRACKING_URI, else the SQLite store below."""

    model_config = _STRICT

    uri: str | None = None
    default_uri: str = "sqlite:///mlruns/mlflow.db"
    artifact_location: str = "mlruns/artifacts"  # for experiments created on the local store
    experiment: str = "knowcoder"
    ui_url: str = "http://127.0.0.1:5000"  # printed run links point here (`mlflow ui` default)


class RegistryConfig(BaseModel):
    """The registered model and the gate a new version must pass to become ``champion``."""

    model_config = _STRICT

    name: str = "knowcoder-ie"
    primary_metric: str = "ner.f1"
    min_improvement: float = Field(default=0.0, ge=0.0)  # the primary metric must beat the champion by more
    tolerance: float = Field(default=0.02, ge=0.0)  # no guarded metric may fall more than this
    guarded_metrics: list[str] = Field(default_factory=lambda: ["ner.f1", "re.f1", "ed.f1", "eae.f1"])


class PipelineConfig(BaseModel):
    """Orchestration knobs of the Prefect flow."""

    model_config = _STRICT

    train_retries: int = Field(default=1, ge=0)  # a retry resumes from the stage's last checkpoint
    retry_delay_s: float = Field(default=5.0, ge=0.0)
    cache: bool = True  # skip a stage whose inputs and params are unchanged
    sample_predictions: int = Field(default=20, ge=0)  # logged as an MLflow table


class DeploymentConfig(BaseModel):
    """Prefect deployments for a team: scheduled retraining on GPU workers, evaluation on demand."""

    model_config = _STRICT

    retrain_cron: str = "0 3 * * 0"  # Sundays 03:00
    timezone: str = "UTC"
    retrain_profile: str = "7b"
    gpu_pool: str = "gpu"  # work pool whose workers have GPUs
    evaluate_pool: str = "cpu"  # CI evaluation runs anywhere
    retrain_concurrency: int = Field(default=1, ge=1)  # retrainings at once: one per GPU worker
    gpus_per_run: int = Field(default=1, ge=1)  # > 1: training launches torchrun/deepspeed across them


class Params(BaseModel):
    """The resolved parameters of one run."""

    model_config = _STRICT

    project: str = "knowcoder"
    profile: str = "tiny"
    paths: PathsConfig = PathsConfig()
    data: DataConfig = DataConfig()
    validation: ValidationConfig = ValidationConfig()
    prompt: PromptConfig = PromptConfig()
    parser: ParserConfig = ParserConfig()
    model: ModelConfig = ModelConfig()
    corpus: CorpusConfig = CorpusConfig()
    train: TrainConfig = TrainConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    tracking: TrackingConfig = TrackingConfig()
    registry: RegistryConfig = RegistryConfig()
    pipeline: PipelineConfig = PipelineConfig()
    deployment: DeploymentConfig = DeploymentConfig()

    def digest(self) -> str:
        """A stable hash of every value, for tagging runs and keying caches."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def parse_override(item: str) -> tuple[list[str], Any]:
    """``"a.b.c=3"`` → (["a", "b", "c"], 3); the value is read as YAML (numbers, lists, bools)."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like key.path=value", field="--set")
    key, raw = item.split("=", 1)
    if not key.strip():
        raise ConfigError(f"override {item!r} has no key", field="--set")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as error:
        raise ConfigError(f"cannot read value {raw!r}", field=key) from error
    return key.strip().split("."), value


def _apply_override(tree: dict[str, Any], path: list[str], value: Any) -> None:
    node = tree
    for part in path[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{part!r} is not a section", field=".".join(path))
    node[path[-1]] = value


# keys under "paths" hold file or folder paths; a relative one means relative to params.yaml
_PATH_KEYS = ("ontology", "raw", "parallel", "artifacts")


def _resolve_file_paths(tree: dict[str, Any], base: Path) -> None:
    """Make relative ``paths.*`` in the file relative to its folder, so any working directory works.

    A path is rewritten relative to the current directory, so with params.yaml in the current
    directory nothing changes (nor does the params digest). ``--set`` overrides are applied
    afterwards and stay relative to the current directory, where the user typed them.
    """
    paths = tree.get("paths")
    if not isinstance(paths, dict) or base.resolve() == Path.cwd().resolve():
        return

    def resolve(value: Any) -> Any:
        if not isinstance(value, str) or not value or Path(value).is_absolute() or "://" in value:
            return value
        return os.path.relpath(base / value)

    for key in _PATH_KEYS:
        value = paths.get(key)
        if key in paths:
            paths[key] = [resolve(v) for v in value] if isinstance(value, list) else resolve(value)


def load_params(
    path: str | Path = "params.yaml",
    *,
    profile: str | None = None,
    overrides: list[str] | None = None,
) -> Params:
    """Read params.yaml, apply a profile and ``key=value`` overrides, and validate the result."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as error:
        raise ConfigError(f"cannot read params: {error.strerror}", path=path) from error
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise ConfigError(
            f"invalid YAML: {getattr(error, 'problem', error)}",
            path=path,
            line=mark.line + 1 if mark else None,
        ) from error
    if not isinstance(raw, dict):
        raise ConfigError("expected a mapping with base/profiles", path=path)
    unknown = set(raw) - {"base", "profiles", "profile", "paths_relative_to"}
    if unknown:
        raise ConfigError(
            f"unknown top-level key(s) {sorted(unknown)}; expected base, profile, profiles "
            "(and paths_relative_to)",
            path=path,
        )
    relative_to = raw.get("paths_relative_to", "file")
    if relative_to not in ("file", "cwd"):
        raise ConfigError(
            f"paths_relative_to must be 'file' (default) or 'cwd', not {relative_to!r}",
            path=path,
            field="paths_relative_to",
        )
    profiles = raw.get("profiles") or {}
    chosen = profile or raw.get("profile") or "tiny"
    if chosen not in profiles:
        raise ConfigError(
            f"unknown profile {chosen!r}; defined: {', '.join(profiles) or 'none'}",
            path=path,
            field="profile",
        )
    tree = _deep_merge(raw.get("base") or {}, profiles[chosen] or {})
    tree["profile"] = chosen
    if relative_to == "file":
        _resolve_file_paths(tree, path.parent)
    for item in overrides or []:
        keys, value = parse_override(item)
        _apply_override(tree, keys, value)
    try:
        return Params.model_validate(tree)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        message = first["msg"]
        if first["type"] == "extra_forbidden":
            message = "unknown key (misspelled? see params.yaml for the valid keys)"
        raise ConfigError(message, path=path, field=field) from error
