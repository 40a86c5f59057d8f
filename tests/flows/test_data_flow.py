from __future__ import annotations

import json

import pytest

from ..conftest import REPO


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory):
    """An ephemeral Prefect server with its own database, gone after the module."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.mark.slow
def test_data_flow_runs_the_stage_as_a_prefect_task(prefect_server, tmp_path):
    from flows.data_flow import data_flow

    state = data_flow(
        params_path=str(REPO / "params.yaml"),
        overrides=[
            f"paths.ontology={REPO / 'data/ontology.yaml'}",
            f"paths.raw=[{REPO / 'data/raw/sample/en.jsonl'}]",
            f"paths.parallel={REPO / 'data/raw/parallel/en_zh.jsonl'}",
            f"paths.artifacts={tmp_path}",
            "data.synth.train=10",
            "data.synth.dev=2",
            "data.synth.test=2",
        ],
        return_state=True,
    )
    assert state.is_completed()
    result = state.result()
    assert result["valid"] == {"sample-en": 30, "synth": 14}
    assert json.loads((tmp_path / "data" / "summary.json").read_text())["passed"] is True
