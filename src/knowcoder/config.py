"""``params.yaml``: every knob in one place, validated once at the entry.

The file holds a ``base`` block and named ``profiles`` that override it (deep merge); the
``profile`` key picks the default one. Command-line overrides (``--set data.seed=3``) apply
last. A misspelled key anywhere is an error naming it; nothing falls back silently.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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


class ImportConfig(BaseModel):
    model_config = _STRICT

    drop_unmapped: bool = False  # an unmapped label is an error unless this is on


class DataConfig(BaseModel):
    model_config = _STRICT

    synth: SynthConfig = SynthConfig()
    imports: ImportConfig = ImportConfig()


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

    @field_validator("style")
    @classmethod
    def _known_style(cls, value: str) -> str:
        if value not in ("knowcoder", "released"):
            raise ValueError(f"unknown style {value!r}; choose knowcoder or released")
        return value


class ParserConfig(BaseModel):
    model_config = _STRICT

    max_chars: int = Field(65_536, gt=0)
    max_depth: int = Field(8, gt=0)


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
    unknown = set(raw) - {"base", "profiles", "profile"}
    if unknown:
        raise ConfigError(
            f"unknown top-level key(s) {sorted(unknown)}; expected base, profile, profiles", path=path
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
