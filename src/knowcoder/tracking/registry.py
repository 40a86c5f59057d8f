"""The model registry: register a candidate, read the champion, apply the promotion gate.

A version's headline metrics are stored as version tags ``eval.<suite>.<metric>``, so the gate
and the CI evaluation compare like with like without re-reading runs. The new version always
gets the ``challenger`` alias; ``champion`` moves only when :func:`~knowcoder.tracking.promotion.decide`
says so. The decision and its comparison table go on the version (tags, description) and on the run.
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


def metric_tags(metrics: Mapping[str, float], suite: str, config: RegistryConfig) -> dict[str, str]:
    names = dict.fromkeys([config.primary_metric, *config.guarded_metrics])
    return {f"eval.{suite}.{m}": f"{metrics[m]:.6f}" for m in names if m in metrics}


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
    champion_metrics = version_metrics(champion, suite) if champion is not None else None
    decision = decide(metrics, champion_metrics, config)
    all_tags = {**tags, **metric_tags(metrics, suite, config), "eval.suite": suite}
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
