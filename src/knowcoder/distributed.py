"""Run the shards of a data stage as Prefect tasks on a Dask cluster (``prefect-dask``).

``map_shards(fn, items, cluster)`` calls ``fn(item)`` for every item and returns the results in
item order. Where it runs:

* ``workers`` 0 or None, no ``address``: in this process, one after the other, without Prefect;
* ``address`` set: on that Dask scheduler (``tcp://host:8786``); its workers need the project
  installed and ``PREFECT_API_URL`` pointing at the Prefect server the flow reports to;
* otherwise a local Dask cluster of ``workers`` processes, one thread each, started for the call.
  A single item without an address runs in this process too: a cluster would only add its start.

Each item is one Prefect task (``shard-<name>``) with ``retries``; a worker process that dies takes
only its own shard down, and Dask runs that shard again on a live worker. Results come back in
item order, whichever worker finished first, so the caller assembles the same output whatever the
number of workers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from knowcoder.errors import ConfigError

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class ClusterSpec:
    """Where the shards of a data stage run (``data.workers``, ``data.dask_address``)."""

    workers: int | None = None
    address: str | None = None
    retries: int = 2

    def __post_init__(self) -> None:
        if self.workers is not None and (isinstance(self.workers, bool) or self.workers < 0):
            raise ConfigError(
                f"must be 0 or more worker processes, got {self.workers!r}", field="data.workers"
            )

    @property
    def in_process(self) -> bool:
        return not self.address and not self.workers


def map_shards(
    fn: Callable[[T], R], items: Sequence[T], cluster: ClusterSpec, *, names: Sequence[str] | None = None
) -> list[R]:
    """``[fn(item) for item in items]``, run as the module docstring says; order is kept."""
    if cluster.in_process or (len(items) <= 1 and not cluster.address):
        return [fn(item) for item in items]
    labels = list(names) if names is not None else [str(k) for k in range(len(items))]
    return _run_flow(fn, list(items), labels, cluster)


def _api_url() -> str:
    """The Prefect API this process reports to, starting the temporary local server if there is none."""
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS

    url = PREFECT_API_URL.value()
    if url:
        return str(url)
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()  # the one instance Prefect's own client would start
    # a loaded machine starts it slowly: at least two minutes, as the test harness allows
    configured = PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()
    server.start(timeout=max(int(configured or 0), 120))
    return str(server.api_url)


def _task_runner(cluster: ClusterSpec, api_url: str) -> Any:
    from prefect_dask import DaskTaskRunner

    if cluster.address:
        return DaskTaskRunner(address=cluster.address)
    # worker processes report to the same Prefect server instead of each starting its own
    env = {"PREFECT_API_URL": api_url, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": cluster.workers,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,
            "env": env,
        }
    )


def _run_flow(fn: Callable[[T], R], items: list[T], labels: list[str], cluster: ClusterSpec) -> list[R]:
    from prefect import flow, task
    from prefect.settings import PREFECT_API_URL, temporary_settings

    api_url = _api_url()
    shard_task = task(retries=cluster.retries, retry_delay_seconds=1, persist_result=False)(fn)

    @flow(name="knowcoder-data-shards", persist_result=False)
    def data_shards() -> list[R]:
        futures = [
            shard_task.with_options(name=f"shard-{label}").submit(item)
            for item, label in zip(items, labels, strict=True)
        ]
        return [future.result() for future in futures]

    with temporary_settings({PREFECT_API_URL: api_url}):
        return data_shards.with_options(task_runner=_task_runner(cluster, api_url))()
