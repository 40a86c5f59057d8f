"""`knowcoder deploy` and `knowcoder serve`: arguments and one-line errors.

The deployments built (`deploy --dry-run`) and a missing model for `serve`: tests/infra/test_deployments.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from knowcoder.cli.deploy import DEPLOYMENT_NAMES, _params_path

from .conftest import help_text, invalid_choice, run, usage_error


@pytest.mark.parametrize("command", ["deploy", "serve"])
def test_every_subcommand_has_help(capsys, command):
    help_text(capsys, command)


def test_only_refuses_an_unknown_deployment_naming_the_deployments(capsys):
    code, err = usage_error(capsys, "deploy", "--only", "nope")
    assert code == 2
    assert invalid_choice("--only", "nope", DEPLOYMENT_NAMES).search(err)


def test_serve_needs_a_model(capsys):
    code, err = usage_error(capsys, "serve")
    assert code == 2
    assert err.endswith("error: the following arguments are required: --model\n")


def test_a_source_without_the_flows_is_one_line(capsys, tmp_path):
    code, out, err = run(capsys, "deploy", "--dry-run", "--source", str(tmp_path))
    assert (code, out) == (1, "")
    assert err == (
        f"knowcoder: error: --source: {tmp_path} has no flows/pipeline.py; "
        "pass the repository root or its git URL\n"
    )


def test_params_are_named_relative_to_a_local_source_that_holds_them(tmp_path):
    inside = tmp_path / "repo" / "conf" / "params.yaml"
    assert _params_path(str(inside), str(tmp_path / "repo")) == str(Path("conf") / "params.yaml")
    outside = tmp_path / "elsewhere" / "params.yaml"
    assert _params_path(str(outside), str(tmp_path / "repo")) == str(outside)
    assert _params_path("params.yaml", str(tmp_path / "repo")) == "params.yaml"  # already relative
    git = "https://example.org/team/knowcoder.git"
    assert _params_path(str(inside), git) == str(inside)  # a git source: the path as given
