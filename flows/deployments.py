"""Prefect deployments for a team: scheduled retraining on GPU workers, CI evaluation on demand.

``retrain`` runs ``knowcoder-pipeline`` on ``deployment.retrain_cron`` (in ``deployment.timezone``)
on the ``deployment.gpu_pool`` work pool with ``profile=deployment.retrain_profile``; a deployment
concurrency limit of ``deployment.retrain_concurrency`` with the ENQUEUE strategy makes a run that
would exceed it wait instead of sharing a GPU. ``evaluate`` runs ``knowcoder-evaluate`` on
``deployment.evaluate_pool`` when triggered (``prefect deployment run knowcoder-evaluate/evaluate``).

Workers load the flows from ``source_dir``: a git URL (cloned per run) or a folder that exists at
the same path on the workers (the worker image has the repository at /opt/knowcoder).

    knowcoder deploy --dry-run          # what would be applied, as JSON
    knowcoder deploy --source /opt/knowcoder
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from prefect import Flow
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron

from knowcoder.config import Params
from knowcoder.errors import ConfigError

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

PIPELINE_ENTRYPOINT = "flows/pipeline.py:pipeline_flow"
EVALUATE_ENTRYPOINT = "flows/evaluate.py:evaluate_flow"


def _load(source_dir: str | Path, entrypoint: str) -> Flow[..., Any]:
    """The flow at ``entrypoint`` inside ``source_dir`` (a folder or a git URL), bound to that source."""
    source = str(source_dir)
    if "://" not in source and not source.endswith(".git"):
        path = Path(source).resolve()
        if not (path / entrypoint.split(":")[0]).is_file():
            raise ConfigError(
                f"{path} has no {entrypoint.split(':')[0]}; pass the repository root or its git URL",
                field="--source",
            )
        source = str(path)
    return cast(Flow[..., Any], Flow.from_source(source=source, entrypoint=entrypoint))


def retrain_deployment(params: Params, source_dir: str | Path, params_path: str) -> RunnerDeployment:
    """``knowcoder-pipeline/retrain``: on a cron schedule, on the GPU pool, one GPU run at a time per slot."""
    config = params.deployment
    deployment = _load(source_dir, PIPELINE_ENTRYPOINT).to_deployment(
        name="retrain",
        schedules=[Cron(config.retrain_cron, timezone=config.timezone)],
        concurrency_limit=ConcurrencyLimitConfig(
            limit=config.retrain_concurrency, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE
        ),
        parameters={"params_path": params_path, "profile": config.retrain_profile},
        work_pool_name=config.gpu_pool,
        tags=["knowcoder", "retrain"],
        description=f"Retrain {params.registry.name} on the {config.retrain_profile} profile "
        f"({config.retrain_cron}, {config.timezone}); registers a challenger, promotes through the gate.",
    )
    return cast(RunnerDeployment, deployment)  # to_deployment is sync here (no running event loop)


def evaluate_deployment(params: Params, source_dir: str | Path, params_path: str) -> RunnerDeployment:
    """``knowcoder-evaluate/evaluate``: on demand (CI), on the evaluation pool."""
    config = params.deployment
    deployment = _load(source_dir, EVALUATE_ENTRYPOINT).to_deployment(
        name="evaluate",
        parameters={"params_path": params_path, "profile": config.retrain_profile},
        work_pool_name=config.evaluate_pool,
        tags=["knowcoder", "ci"],
        description=f"Score a registered {params.registry.name} version on a suite and gate it "
        "against the champion (default: the challenger).",
    )
    return cast(RunnerDeployment, deployment)


#: every deployment by its short name, built from the parameters and the flows' source
DEPLOYMENTS: dict[str, Callable[[Params, str | Path, str], RunnerDeployment]] = {
    "retrain": retrain_deployment,
    "evaluate": evaluate_deployment,
}


def build_deployments(
    params: Params,
    *,
    source_dir: str | Path,
    params_path: str = "params.yaml",
    names: Sequence[str] | None = None,
) -> list[RunnerDeployment]:
    """The deployments named in ``names`` (default: all), with the flows loaded from ``source_dir``.

    ``params_path`` is the parameter file as the workers see it, relative to ``source_dir``.
    """
    chosen = list(names or DEPLOYMENTS)
    for name in chosen:
        if name not in DEPLOYMENTS:
            raise ConfigError(
                f"unknown deployment {name!r}; choose from {', '.join(DEPLOYMENTS)}", field="--only"
            )
    return [DEPLOYMENTS[name](params, source_dir, params_path) for name in chosen]


def describe(deployment: RunnerDeployment) -> dict[str, Any]:
    """What applying ``deployment`` sends, as plain JSON-able values."""
    schedules = []
    for item in deployment.schedules or []:
        schedule = item.schedule
        schedules.append(
            {
                "cron": getattr(schedule, "cron", None),
                "timezone": getattr(schedule, "timezone", None),
                "active": item.active,
            }
        )
    options = deployment.concurrency_options
    return {
        "name": deployment.full_name,
        "entrypoint": deployment.entrypoint,
        "work_pool": deployment.work_pool_name,
        "parameters": deployment.parameters,
        "schedules": schedules,
        "concurrency_limit": deployment.concurrency_limit,
        "collision_strategy": options.collision_strategy.value if options is not None else None,
        "pull_steps": [deployment.storage.to_pull_step()] if deployment.storage is not None else [],
        "tags": list(deployment.tags),
        "description": deployment.description,
    }


def api_url() -> str:
    """The Prefect API deployments go to; an error when none is set (an ephemeral one would vanish)."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise ConfigError(
            "not set, so deployments would go to a temporary server that vanishes on exit; "
            "export PREFECT_API_URL=http://<prefect-server>:4200/api",
            field="PREFECT_API_URL",
        )
    return str(url)


def deploy(
    params: Params,
    *,
    source_dir: str | Path,
    params_path: str = "params.yaml",
    names: Sequence[str] | None = None,
) -> dict[str, str]:
    """Apply the deployments to the Prefect API in ``PREFECT_API_URL``; return their ids by full name."""
    import httpx
    from prefect.deployments.runner import DeploymentApplyError

    url = api_url()
    applied: dict[str, str] = {}
    for deployment in build_deployments(params, source_dir=source_dir, params_path=params_path, names=names):
        try:
            applied[deployment.full_name] = str(deployment.apply())
        except DeploymentApplyError as error:
            reason = " ".join(str(error).split())
            hint = ""
            if "Work pool" in reason and "not found" in reason:
                hint = (
                    f"; create it first: prefect work-pool create {deployment.work_pool_name} --type process "
                    "--base-job-template infra/work-pools/process.json"
                )
            raise ConfigError(f"{deployment.full_name}: {reason}{hint}", field="deploy") from error
        except (httpx.HTTPError, OSError) as error:
            raise ConfigError(
                f"cannot reach the Prefect API at {url} ({error}); start the server or fix PREFECT_API_URL",
                field="deploy",
            ) from error
    return applied
