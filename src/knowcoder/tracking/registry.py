"""The model registry: register a candidate, read the champion, apply the promotion gate.

The gate compares exact values: the champion's metrics are read from the run that registered it
(its ``eval.suite`` and ``eval.run_id`` tags name the suite and the run holding them); the version tags
``eval.<suite>.<metric>`` hold the same values in full precision (``repr``) for the UI and for
versions whose run is gone. The new version always gets the ``challenger`` alias; ``champion``
moves only when :func:`~knowcoder.tracking.promotion.decide` says so. The decision and its
comparison table go on the version (tags, description) and on the run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from knowcoder.config import RegistryConfig
from knowcoder.tracking.promotion import Decision, decide

log = logging.getLogger(__name__)

CHAMPION, CHALLENGER = "champion", "challenger"


@dataclass
class Registration:
    name: str
    version: str
    decision: Decision
    champion_before: str | None

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    @property
    def is_champion(self) -> bool:
        return self.decision.promote


def _client() -> Any:
    import mlflow

    return mlflow.MlflowClient()


def alias_version(name: str, alias: str) -> Any | None:
    """The version holding ``alias``, or None (also when the model is not registered yet)."""
    from mlflow.exceptions import MlflowException

    try:
        return _client().get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def version_metrics(version: Any, suite: str) -> dict[str, float]:
    """The ``eval.<suite>.*`` tags of a model version, as floats."""
    prefix = f"eval.{suite}."
    out = {}
    for key, value in (version.tags or {}).items():
        if key.startswith(prefix):
            try:
                out[key.removeprefix(prefix)] = float(value)
            except ValueError:
                continue
    return out


def champion_metrics(version: Any, suite: str) -> dict[str, float]:
    """The exact metrics of ``version`` on ``suite``: from its source run, else its tags; {} when neither.

    The run's values are what evaluation computed; tags written by older versions of this module
    were rounded, so a run that still exists always wins.
    """
    from mlflow.exceptions import MlflowException

    from knowcoder.tracking.mlflow_io import from_mlflow_name

    tags = version.tags or {}
    run_id = tags.get("eval.run_id") or getattr(version, "run_id", None)
    if tags.get("eval.suite") == suite and run_id:
        try:
            run = _client().get_run(run_id)
        except MlflowException:
            run = None
        if run is not None and run.data.metrics:
            return {from_mlflow_name(k): float(v) for k, v in run.data.metrics.items()}
    return version_metrics(version, suite)


def metric_tags(metrics: Mapping[str, float], suite: str, config: RegistryConfig) -> dict[str, str]:
    """The gate's metrics as version tags, in full precision (``repr`` round-trips a float exactly)."""
    names = dict.fromkeys([config.primary_metric, *config.guarded_metrics])
    return {f"eval.{suite}.{m}": repr(float(metrics[m])) for m in names if m in metrics}


def registered_version(name: str, version: str) -> Any | None:
    """Version ``version`` of ``name`` in the registry MLflow points at now, or None when it is not there."""
    from mlflow.exceptions import MlflowException

    try:
        return _client().get_model_version(name, str(version))
    except MlflowException:
        return None


def register_and_promote(
    model_uri: str,
    *,
    run_id: str,
    metrics: Mapping[str, float],
    suite: str,
    config: RegistryConfig,
    tags: Mapping[str, str],
) -> Registration:
    """Register ``model_uri`` as a new version, alias it ``challenger``, and gate ``champion``.

    If anything fails after the version exists, the version is deleted again: a partial
    registration is never left behind.
    """
    import mlflow

    client = _client()
    champion = alias_version(config.name, CHAMPION)
    previous = champion_metrics(champion, suite) if champion is not None else None
    decision = decide(metrics, previous, config)
    all_tags = {**tags, **metric_tags(metrics, suite, config), "eval.suite": suite, "eval.run_id": run_id}
    version = mlflow.register_model(model_uri, config.name, tags=all_tags)
    try:
        client.update_model_version(config.name, version.version, description=decision.markdown())
        client.set_model_version_tag(config.name, version.version, "promotion.decision", _verdict(decision))
        client.set_model_version_tag(config.name, version.version, "promotion.reason", decision.reason)
        client.set_registered_model_alias(config.name, CHALLENGER, version.version)
        if decision.promote:
            client.set_registered_model_alias(config.name, CHAMPION, version.version)
        client.set_tag(run_id, "promotion.decision", _verdict(decision))
        client.set_tag(run_id, "promotion.reason", decision.reason)
        client.set_tag(run_id, "registry.version", version.version)
        client.log_text(run_id, decision.markdown(), "promotion.md")
        client.log_dict(run_id, decision.to_dict(), "promotion.json")
    except Exception:
        log.error("registration of %s version %s failed; deleting the version", config.name, version.version)
        client.delete_model_version(config.name, version.version)
        raise
    return Registration(
        config.name, str(version.version), decision, str(champion.version) if champion is not None else None
    )


def _verdict(decision: Decision) -> str:
    return CHAMPION if decision.promote else CHALLENGER


def resolve_version(model_uri: str) -> tuple[str, str] | None:
    """``(name, version)`` of a ``models:/NAME@ALIAS`` or ``models:/NAME/N`` URI; None for other URIs.

    Raises :class:`~knowcoder.errors.ConfigError` in one line, with the fix, when the registry the
    client points at has no such model, alias or version.
    """
    import mlflow

    from knowcoder.errors import ConfigError

    if not model_uri.startswith("models:/"):
        return None
    ref = model_uri.removeprefix("models:/")
    where = mlflow.get_registry_uri()
    if "@" in ref:
        name, alias = ref.split("@", 1)
        found = alias_version(name, alias)
        if found is None:
            raise ConfigError(
                f"{model_uri} does not exist in the registry at {_public(where)} (no model {name!r} with "
                f"alias {alias!r}); register one first (knowcoder pipeline) or pass --model with a version "
                "that exists",
                field="--model",
            )
        return name, str(found.version)
    name, _, number = ref.rpartition("/")
    if name and number.isdigit():
        if registered_version(name, number) is None:
            raise ConfigError(
                f"{model_uri} does not exist in the registry at {_public(where)}; register it first "
                "(knowcoder pipeline) or pass --model with a version that exists",
                field="--model",
            )
        return name, number
    return None


def _public(uri: str) -> str:
    """``uri`` without user and password."""
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    if parts.password is None and parts.username is None:
        return uri
    host = parts.hostname or ""
    return parts._replace(netloc=f"{host}:{parts.port}" if parts.port else host).geturl()
