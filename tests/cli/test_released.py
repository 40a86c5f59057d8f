"""`knowcoder released import-schema|check|evaluate` on the shipped sample of KnowCoder's release.

Scores of `check` and `evaluate --outputs`: tests/released/test_schema.py.
"""

from __future__ import annotations

import json

import pytest

from knowcoder.schema.ontology import load_ontology

from ..conftest import FIXTURES
from .conftest import help_text, run

RELEASED = FIXTURES / "released"
DATA = str(RELEASED / "example_data.jsonl")


@pytest.mark.parametrize("action", ["import-schema", "check", "evaluate"])
def test_every_subcommand_has_help(capsys, action):
    help_text(capsys, "released", action)


def test_import_schema_writes_an_ontology_the_other_commands_read(capsys, tmp_path):
    out = tmp_path / "released.yaml"
    code, stdout, _ = run(
        capsys, "released", "import-schema", "--class-defs", str(RELEASED / "class_defs"), "--out", str(out)
    )
    assert code == 0
    assert json.loads(stdout) == {"out": str(out), "classes": 42}
    assert len(load_ontology(out).types) == 42
    code, stdout, _ = run(
        capsys, "schema", "render", "--task", "ner", "--types", "Human", "--ontology", str(out)
    )
    assert code == 0 and "class Human(Person):" in stdout


def test_import_schema_from_the_prompts_alone(capsys, tmp_path):
    out = tmp_path / "released.yaml"
    code, stdout, _ = run(capsys, "released", "import-schema", "--prompts", DATA, "--out", str(out))
    assert code == 0
    assert json.loads(stdout) == {"out": str(out), "classes": 40}


def test_import_schema_of_disagreeing_sources_is_one_line_and_writes_nothing(capsys, tmp_path):
    out = tmp_path / "released.yaml"
    argv = ["released", "import-schema", "--class-defs", str(RELEASED / "class_defs"), "--prompts", DATA]
    code, stdout, err = run(capsys, *argv, "--out", str(out))
    assert (code, stdout) == (1, "")
    assert err == (
        f"knowcoder: error: {DATA}:7: Event: parent differs from its definition in "
        f"{RELEASED / 'class_defs' / 'entity_class_defs.json'}: 'Occurrence' vs 'Entity'\n"
    )
    assert not out.exists()


def test_import_schema_of_nothing_is_one_line(capsys, tmp_path):
    code, _, err = run(capsys, "released", "import-schema", "--out", str(tmp_path / "o.yaml"))
    assert code == 1
    assert err == "knowcoder: error: import-schema: nothing to import; give --class-defs and/or --prompts\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", [[], ["--model", "m", "--outputs", "one-stage.output"]])
def test_evaluate_needs_a_model_or_stored_outputs(capsys, argv):
    code, out, err = run(capsys, "released", "evaluate", DATA, *argv)
    assert (code, out) == (1, "")
    assert err == "knowcoder: error: released evaluate: give either --model or --outputs\n"


def test_check_of_a_missing_file_is_one_line(capsys, tmp_path):
    code, _, err = run(capsys, "released", "check", str(tmp_path / "gone.jsonl"))
    assert code == 1
    assert err == f"knowcoder: error: {tmp_path / 'gone.jsonl'}: no such file\n"
