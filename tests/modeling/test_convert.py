"""`knowcoder model import` and loading hygiene on small local models: formats, refusals, one-line errors.

The GGUF path on a real file is tested in tests/real_model (SmolLM2, imported by `make models`).
"""

from __future__ import annotations

import json

import pytest
import torch

from knowcoder.cli.main import main
from knowcoder.modeling.convert import MANIFEST, ModelImportError, import_model
from knowcoder.modeling.loading import ModelLoadError, load_model
from knowcoder.modeling.tiny import build_tiny_model, save_model_dir

SMALL = {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "intermediate_size": 64}
INPUT = torch.tensor([[0, 40, 41, 42]])


@pytest.fixture(scope="module")
def saved(tokenizer, tmp_path_factory):
    return save_model_dir(build_tiny_model(tokenizer, **SMALL), tokenizer, tmp_path_factory.mktemp("m") / "m")


@pytest.fixture
def pickled(saved, tmp_path):
    """The same model with its weights as a pickled pytorch_model.bin only (as old checkpoints ship)."""
    from safetensors.torch import load_file

    target = tmp_path / "pickled"
    target.mkdir()
    for file in saved.iterdir():
        if file.suffix != ".safetensors":
            (target / file.name).write_bytes(file.read_bytes())
    torch.save(load_file(saved / "model.safetensors"), target / "pytorch_model.bin")
    return target


def _logits(path):
    model, _ = load_model(path, dtype="float32", device="cpu")
    with torch.no_grad():
        return model(input_ids=INPUT).logits


def test_pickled_weights_are_refused_with_both_ways_out(pickled):
    with pytest.raises(ModelLoadError) as error:
        load_model(pickled, device="cpu")
    message = str(error.value)
    assert "pytorch_model.bin" in message and "unpickling can run code" in message
    assert "knowcoder model import" in message and "model.use_safetensors=false" in message
    assert "\n" not in message


def test_pickled_weights_load_when_params_allow_them(saved, pickled):
    model, _ = load_model(pickled, device="cpu", use_safetensors=False)
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=INPUT).logits, _logits(saved))


def test_import_converts_a_pickled_directory_to_safetensors_only_with_allow_pickle(saved, pickled, tmp_path):
    with pytest.raises(ModelImportError, match=r"pickled \(pytorch_model.bin\).*--allow-pickle"):
        import_model(pickled, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    report = import_model(pickled, tmp_path / "out", allow_pickle=True)
    assert report.format == "hf" and report.architecture == "LlamaForCausalLM"
    assert (tmp_path / "out" / "model.safetensors").is_file()
    assert not list((tmp_path / "out").glob("*.bin"))
    manifest = json.loads((tmp_path / "out" / MANIFEST).read_text())
    assert manifest["source"] == "pickled" and "destination" not in manifest
    torch.testing.assert_close(_logits(tmp_path / "out"), _logits(saved))


def test_import_never_overwrites_without_force_and_keeps_the_old_copy_on_failure(saved, tmp_path):
    out = tmp_path / "out"
    import_model(saved, out)
    with pytest.raises(ModelImportError, match=r"exists; pass --force"):
        import_model(saved, out)
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"PK\x03\x04 not a gguf file")
    with pytest.raises(ModelImportError, match=r"bad.gguf: not a GGUF file \(it starts with b'PK\\x03\\x04'"):
        import_model(bad, out, overwrite=True)
    assert (out / "model.safetensors").is_file()  # the earlier import is untouched


def test_a_truncated_gguf_file_is_one_line(tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\x00" * 7)
    with pytest.raises(ModelImportError, match=r"^.*broken.gguf: cannot read this GGUF file: ") as error:
        import_model(broken, tmp_path / "out")
    assert "\n" not in str(error.value)
    assert not (tmp_path / "out").exists()


def test_a_truncated_safetensors_file_is_a_one_line_load_error(saved, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for file in saved.iterdir():
        data = file.read_bytes()
        (broken / file.name).write_bytes(data[: len(data) // 2] if file.suffix == ".safetensors" else data)
    with pytest.raises(ModelLoadError, match=r"broken: cannot load the model: ") as error:
        load_model(broken, device="cpu")
    assert "\n" not in str(error.value)


def test_the_cli_imports_and_reports_bad_input_in_one_line(saved, tmp_path, capsys):
    assert main(["model", "import", str(saved), str(tmp_path / "cli")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["destination"] == str(tmp_path / "cli") and report["format"] == "hf"
    assert main(["model", "import", str(tmp_path / "missing.gguf"), str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"knowcoder: error: {tmp_path / 'missing.gguf'}: no such file or directory"]


def test_an_unexpected_library_error_is_one_line_unless_verbose(saved, tmp_path, capsys, monkeypatch):
    import knowcoder.modeling.convert as convert

    def boom(*args, **kwargs):
        raise RuntimeError("deep inside\na library")

    monkeypatch.setattr(convert, "import_model", boom)
    monkeypatch.setenv("KNOWCODER_LOG_DIR", str(tmp_path / "logs"))
    assert main(["model", "import", str(saved), str(tmp_path / "y")]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    (log,) = (tmp_path / "logs").iterdir()
    assert line == (
        "knowcoder: error: RuntimeError: deep inside a library (run with --verbose for the traceback, "
        f"also written to {log})"
    )
    assert "Traceback" in log.read_text() and "deep inside" in log.read_text()
    with pytest.raises(RuntimeError, match="deep inside"):
        main(["--verbose", "model", "import", str(saved), str(tmp_path / "y")])
