"""The register stage: log the evaluated model as an MLflow pyfunc, register it, apply the promotion gate.

The model is logged on the pipeline's parent run by id: only the flow ends that run (FINISHED, or
FAILED on an error), so a kill after this stage leaves it RUNNING for the server to mark, never
falsely FINISHED. The gate (``registry`` in params, ``knowcoder.tracking.registry``) decides between
champion and challenger. A cached registration holds only while its version is still in the
registry MLflow points at (:func:`still_registered`).
"""

from __future__ import annotations

import time
from typing import Any

from knowcoder.config import Params
from knowcoder.stages.base import RegisterInfo, StageContext, StageOutput


def run(context: StageContext) -> StageOutput[RegisterInfo]:
    from knowcoder.serving.predictor import ServingConfig
    from knowcoder.serving.pyfunc import log_pyfunc_model
    from knowcoder.tracking import mlflow_io
    from knowcoder.tracking.registry import register_and_promote
    from knowcoder.versioning import DataVersion

    params = context.params
    if context.parent_run_id is None:
        raise ValueError("register: the model is logged on the pipeline's parent run; none was given")
    started = time.perf_counter()
    evaluation = context.upstream[-1]
    data = context.earlier["data"].info.versions if "data" in context.earlier else []
    tags = {**context.tags, **mlflow_io.data_tags(DataVersion(**row) for row in data)}
    logged = log_pyfunc_model(
        evaluation.outputs["model"],
        params.paths.ontology,
        ServingConfig.from_params(params).to_dict(),
        run_id=context.parent_run_id,
    )
    registration = register_and_promote(
        logged.model_uri,
        run_id=context.parent_run_id,
        metrics=evaluation.metrics,
        suite=params.evaluation.suite,
        config=params.registry,
        tags=tags,
    )
    metrics = {
        "registry.version": float(registration.version),
        "registry.champion": float(registration.is_champion),
    }
    info = RegisterInfo(
        name=registration.name,
        version=registration.version,
        uri=registration.uri,
        champion=registration.is_champion,
        champion_before=registration.champion_before,
        decision=registration.decision.to_dict(),
        table=registration.decision.markdown(),
        run_id=context.parent_run_id,
    )
    return StageOutput("register", context.fingerprint, {}, metrics, info, time.perf_counter() - started)


def registry_target(params: Params) -> Any:
    """A registration belongs to one registry: another server is another cache entry."""
    from knowcoder.tracking import mlflow_io

    return mlflow_io.registry_target(params.tracking)


def still_registered(params: Params, output: StageOutput[RegisterInfo]) -> bool:
    """Whether the version a cached registration names is in the registry MLflow points at now."""
    from knowcoder.tracking.registry import registered_version

    return registered_version(output.info.name or params.registry.name, output.info.version) is not None
