"""Prefect flow for the data stage; thin: it calls ``knowcoder.stages.data``.

Run it without a server (Prefect starts an ephemeral one):  python flows/data_flow.py
"""

from __future__ import annotations

from prefect import flow, task

from knowcoder.config import load_params
from knowcoder.stages.data import prepare_data


@task(name="prepare-data")
def prepare_data_task(params_path: str, profile: str | None, overrides: list[str]) -> dict[str, object]:
    prepared = prepare_data(load_params(params_path, profile=profile, overrides=overrides))
    return {
        "out_dir": str(prepared.out_dir),
        "valid": {name: result.valid_records for name, result in prepared.results.items()},
        "parallel_pairs": prepared.parallel_pairs,
    }


@flow(name="knowcoder-data")
def data_flow(
    params_path: str = "params.yaml", profile: str | None = None, overrides: list[str] | None = None
) -> dict[str, object]:
    return prepare_data_task(params_path, profile, overrides or [])


if __name__ == "__main__":
    print(data_flow())
