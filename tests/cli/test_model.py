"""`knowcoder model import`: arguments and one-line errors (conversions: tests/modeling/test_convert.py)."""

from __future__ import annotations

from .conftest import help_text, invalid_choice, run, usage_error


def test_the_subcommand_has_help(capsys):
    out = help_text(capsys, "model", "import")
    assert "SRC" in out and "DST" in out and "--allow-pickle" in out


def test_an_unknown_dtype_is_refused_naming_the_dtypes(capsys, tmp_path):
    code, err = usage_error(capsys, "model", "import", "a.gguf", str(tmp_path / "out"), "--dtype", "float16")
    assert code == 2
    assert invalid_choice("--dtype", "float16", ["float32", "bfloat16"]).search(err)


def test_a_folder_that_is_no_model_is_one_line_and_writes_nothing(capsys, tmp_path):
    source = tmp_path / "notes"
    source.mkdir()
    (source / "readme.txt").write_text("not a model\n")
    code, out, err = run(capsys, "model", "import", str(source), str(tmp_path / "out"))
    assert (code, out) == (1, "")
    assert err == f"knowcoder: error: {source}: no config.json, so it is not a Hugging Face model directory\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes"]


def test_a_file_that_is_not_gguf_is_one_line_and_writes_nothing(capsys, tmp_path):
    source = tmp_path / "model.gguf"
    source.write_bytes(b"garbage\n")
    code, out, err = run(capsys, "model", "import", str(source), str(tmp_path / "out"))
    assert (code, out) == (1, "")
    assert err == (
        f"knowcoder: error: {source}: not a GGUF file (it starts with b'garb', not b'GGUF'); "
        "pass a .gguf file or a Hugging Face model directory\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.gguf"]
