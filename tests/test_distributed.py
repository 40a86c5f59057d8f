"""Where shards run is a parameter of the run, never of its outputs."""

from __future__ import annotations

import pytest

from knowcoder.config import load_params
from knowcoder.distributed import ClusterSpec, map_shards
from knowcoder.errors import ConfigError
from knowcoder.stages.pipeline import fingerprint

from .conftest import REPO


def test_worker_settings_leave_every_fingerprint_unchanged():
    base = load_params(REPO / "params.yaml")
    moved = load_params(
        REPO / "params.yaml",
        overrides=["data.workers=2", "data.shard_size=7", "data.dask_address=tcp://scheduler:8786"],
    )
    for stage in ("data", "corpus"):
        assert fingerprint(stage, moved) == fingerprint(stage, base)
    reseeded = load_params(REPO / "params.yaml", overrides=["data.synth.seed=9"])
    assert fingerprint("data", reseeded) != fingerprint("data", base)


def test_no_workers_runs_in_this_process_in_order():
    assert map_shards(abs, [-3, 2, -1], ClusterSpec(workers=0)) == [3, 2, 1]
    assert map_shards(abs, [-3], ClusterSpec(workers=2)) == [3]  # one shard: no cluster to start


def test_a_negative_worker_count_names_the_parameter():
    with pytest.raises(ConfigError, match=r"data\.workers"):
        ClusterSpec(workers=-1)
    with pytest.raises(ConfigError, match=r"data\.workers"):
        load_params(REPO / "params.yaml", overrides=["data.workers=-1"])
