"""What every command shares: parameters from --params/--profile/--set, the ontology, name lists, JSON out."""

from __future__ import annotations

import argparse
import json

import pytest

from knowcoder.cli.common import ontology_from, params_from, print_json, split_names
from knowcoder.config import load_params
from knowcoder.schema.ontology import load_ontology

from ..conftest import REPO
from .conftest import ONTOLOGY, PARAMS, run


def _args(**given: object) -> argparse.Namespace:
    return argparse.Namespace(**{"params": PARAMS, "profile": None, "overrides": [], **given})


def test_params_come_from_the_file_the_profile_and_the_overrides():
    params = params_from(_args(profile="smoke", overrides=["data.synth.dev=3"]))
    assert params == load_params(PARAMS, profile="smoke", overrides=["data.synth.dev=3"])
    assert (params.data.synth.train, params.data.synth.dev) == (40, 3)  # smoke's 40, then the override


def test_the_profile_and_overrides_reach_every_command(capsys):
    code, out, _ = run(capsys, "--profile", "smoke", "--set", "data.synth.dev=3", "params")
    assert code == 0
    synth = json.loads(out)["data"]["synth"]
    assert (synth["train"], synth["dev"], synth["test"]) == (40, 3, 4)


def test_the_ontology_is_the_one_named_or_else_paths_ontology(monkeypatch):
    monkeypatch.chdir(REPO)  # paths.ontology is relative to the working folder
    assert ontology_from(_args(ontology=ONTOLOGY)).source == load_ontology(ONTOLOGY).source
    default = ontology_from(_args(ontology=None))
    assert default.names("entity") == load_ontology(REPO / "data/ontology.yaml").names("entity")
    assert ontology_from(_args()).names("entity") == default.names("entity")  # a command without --ontology


def test_a_command_without_ontology_reads_paths_ontology(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(REPO)
    code, _, err = run(capsys, "schema", "render", "--task", "ner", "--types", "Robot")
    assert code == 1
    assert err == "knowcoder: error: --types: unknown class 'Robot' in data/ontology.yaml\n"
    missing = tmp_path / "gone.yaml"
    code, _, err = run(capsys, "--set", f"paths.ontology={missing}", "schema", "render", "--task", "ner")
    assert code == 1
    assert err.startswith(f"knowcoder: error: {missing}") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("value", "names"),
    [
        (None, []),
        ("", []),
        ("Person", ["Person"]),
        (" Person , Company,,Location ", ["Person", "Company", "Location"]),
        (",", []),
    ],
)
def test_split_names(value, names):
    assert split_names(value) == names


def test_print_json_is_indented_keeps_non_ascii_and_ends_in_a_newline(capsys):
    print_json({"text": "北京", "n": [1, 2]})
    assert capsys.readouterr().out == '{\n  "text": "北京",\n  "n": [\n    1,\n    2\n  ]\n}\n'
