"""`knowcoder pipeline` and `knowcoder ci-evaluate`: arguments and the errors raised before a flow starts.

The flows themselves run in tests/flows/test_pipeline.py and tests/cli/test_console_pipeline.py.
"""

from __future__ import annotations

import pytest

from knowcoder.stages.pipeline import stage_names

from .conftest import help_text, invalid_choice, run, usage_error


@pytest.mark.parametrize("command", ["pipeline", "ci-evaluate"])
def test_every_subcommand_has_help(capsys, command):
    help_text(capsys, command)


def test_the_stage_options_offer_the_stages_of_the_table():
    assert stage_names() == ("data", "corpus", "pretrain", "sft", "align", "evaluate", "register")


@pytest.mark.parametrize("option", ["--start-at", "--stop-after"])
def test_an_unknown_stage_is_refused_naming_the_stages(capsys, option):
    code, err = usage_error(capsys, "pipeline", option, "nope")
    assert code == 2
    assert err.startswith("usage: knowcoder pipeline")
    assert invalid_choice(option, "nope", stage_names()).search(err)


@pytest.mark.slow  # MLflow creates its tables in the new store: about ten seconds
def test_ci_evaluate_of_a_model_the_registry_lacks_is_one_line_before_prefect_starts(capsys, tmp_path):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code, out, err = run(
        capsys, "--set", f"tracking.uri={store}", "ci-evaluate", "--model", "models:/knowcoder-ie@nope"
    )
    assert (code, out) == (1, "")
    *logged, last = err.splitlines()  # before the error: only MLflow's lines about creating the store
    assert all(" INFO mlflow." in line for line in logged)
    assert last + "\n" == (
        f"knowcoder: error: --model: models:/knowcoder-ie@nope does not exist in the registry at {store} "
        "(no model 'knowcoder-ie' with alias 'nope'); register one first (knowcoder pipeline) or pass "
        "--model with a version that exists\n"
    )
