"""`knowcoder schema render` and `knowcoder prompt`."""

from __future__ import annotations

import pytest

from knowcoder.tasks import TASKS

from .conftest import ONTOLOGY, help_text, invalid_choice, run, usage_error


@pytest.mark.parametrize("argv", [["schema", "render"], ["prompt"]])
def test_every_subcommand_has_help(capsys, argv):
    help_text(capsys, *argv)


def test_schema_render_prints_python(capsys):
    code, out, _ = run(
        capsys, "schema", "render", "--task", "ner", "--types", "Company", "--ontology", ONTOLOGY
    )
    assert code == 0
    assert "class Company(Organization):" in out and "class Organization(Entity):" in out


def test_schema_render_unknown_type_is_one_line_error(capsys):
    code, out, err = run(
        capsys, "schema", "render", "--task", "ner", "--types", "Robot", "--ontology", ONTOLOGY
    )
    assert code == 1 and out == ""
    assert err.strip().count("\n") == 0
    assert "--types: unknown class 'Robot'" in err


def test_prompt_in_released_style(capsys):
    code, out, _ = run(
        capsys,
        "prompt",
        "--task",
        "ner",
        "--types",
        "Person",
        "--text",
        "Ada Park",
        "--style",
        "released",
        "--ontology",
        ONTOLOGY,
    )
    assert code == 0
    assert out.endswith('sentence = "Ada Park"\n\nOutput:\n')  # the shipped queries end in a newline
    assert "\tpass" in out


def test_an_unknown_task_is_refused_naming_the_tasks(capsys):
    code, err = usage_error(capsys, "schema", "render", "--task", "nope")
    assert code == 2
    assert invalid_choice("--task", "nope", sorted(TASKS)).search(err)
