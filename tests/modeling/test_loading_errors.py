"""Every way a model fails to load ends in one line that names the file and the fix, at the CLI too."""

from __future__ import annotations

import json
import shutil

import pytest

from knowcoder.cli.main import main
from knowcoder.modeling.loading import ModelLoadError, ModelNotFoundError, load_model
from knowcoder.modeling.tiny import build_tiny_model, save_model_dir

SMALL = {"hidden_size": 16, "num_layers": 1, "num_heads": 2, "intermediate_size": 32, "seed": 0}


@pytest.fixture(scope="module")
def good(tokenizer, tmp_path_factory):
    model = build_tiny_model(tokenizer, **SMALL)
    return save_model_dir(model, tokenizer, tmp_path_factory.mktemp("m") / "ok")


def broken(good, tmp_path, damage):
    target = tmp_path / "model"
    shutil.copytree(good, target)
    damage(target)
    return target


def one_line(error: pytest.ExceptionInfo) -> str:
    text = str(error.value)
    assert "\n" not in text and len(text) < 600
    return text


def garbage_header(path):
    (path / "model.safetensors").write_bytes(b"\xff" * 8 + b"not a safetensors header" * 4)


def no_tokenizer(path):
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (path / name).unlink(missing_ok=True)


def no_weights(path):
    (path / "model.safetensors").unlink()


def config_cut_short(path):
    text = (path / "config.json").read_text()
    (path / "config.json").write_text(text[: len(text) // 2])


def config_not_an_object(path):
    (path / "config.json").write_text("[1, 2]")


def config_inconsistent(path):
    config = json.loads((path / "config.json").read_text())
    config["hidden_size"] = 17  # not a multiple of the heads: transformers' own validation refuses it
    (path / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (garbage_header, "model: cannot load the model: SafetensorError: "),
        (no_tokenizer, "model has no tokenizer files (tokenizer.json, tokenizer_config.json); save the"),
        (no_weights, "model has a config.json but no weights (model.safetensors or model.safetensors.index"),
        (config_cut_short, "model/config.json is not valid JSON (Unterminated string"),
        (config_not_an_object, "model/config.json holds a JSON list, not an object; save the model again"),
        (config_inconsistent, "The hidden size (17) is not a multiple of the number of attention heads (2)"),
    ],
    ids=lambda v: getattr(v, "__name__", "")[:20],
)
def test_a_broken_model_directory_is_one_line(good, tmp_path, damage, expected):
    path = broken(good, tmp_path, damage)
    with pytest.raises(ModelLoadError) as error:
        load_model(path)
    assert expected in one_line(error)


def test_a_garbage_header_says_what_to_do(good, tmp_path):
    with pytest.raises(ModelLoadError) as error:
        load_model(broken(good, tmp_path, garbage_header))
    assert one_line(error).endswith("a weights file is truncated or corrupt: save or import the model again")


def test_a_model_uri_with_no_such_alias_is_one_line_listing_the_aliases(tmp_path):
    import mlflow

    from knowcoder.tracking.mlflow_io import local_model_dir

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        client = mlflow.MlflowClient()
        client.create_registered_model("knowcoder-ie")
        with pytest.raises(ModelNotFoundError) as error:
            local_model_dir("models:/knowcoder-ie@nosuch", tmp_path / "dl")
    finally:
        mlflow.set_tracking_uri(previous)
    assert one_line(error).startswith("models:/knowcoder-ie@nosuch: Registered model alias nosuch not found")
    assert "aliases of knowcoder-ie: none" in str(error.value)


def test_the_cli_prints_a_broken_model_in_one_line(good, tmp_path, capsys):
    path = broken(good, tmp_path, no_weights)
    argv = ["extract", "--model", str(path), "--task", "ner", "--types", "Person", "--text", "Ada Park"]
    assert main(argv) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"knowcoder: error: {path} has a config.json but no weights")


def test_the_cli_prints_a_missing_alias_in_one_line(tmp_path, capsys):
    argv = ["--set", f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}", "extract"]
    argv += ["--model", "models:/knowcoder-ie@nosuch", "--task", "ner", "--types", "Person", "--text", "x"]
    assert main(argv) == 1
    err = capsys.readouterr().err  # MLflow logs its own INFO lines when it creates a store
    assert "Traceback" not in err
    assert (
        err.strip()
        .splitlines()[-1]
        .startswith(
            "knowcoder: error: models:/knowcoder-ie@nosuch: Registered Model with name=knowcoder-ie not found"
        )
    )
