"""Loading saved models, tokenizers and LoRA adapters; one-line errors when a model is missing offline."""

from __future__ import annotations

import logging

import huggingface_hub.constants
import pytest
import torch
from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerFast

from knowcoder.errors import KnowCoderError
from knowcoder.modeling.loading import (
    ModelNotFoundError,
    load_adapter_model,
    load_model,
    load_tokenizer,
    merge_adapter,
    resolve_dtype,
)
from knowcoder.modeling.tiny import build_tiny_model, save_model_dir

SMALL = {
    "hidden_size": 32,
    "num_layers": 2,
    "num_heads": 4,
    "intermediate_size": 64,
    "max_position_embeddings": 64,
}
INPUT = torch.tensor([[0, 40, 41, 42, 43, 44], [0, 50, 51, 52, 53, 54]])


@pytest.fixture(scope="module")
def saved_dir(tokenizer, tmp_path_factory):
    return save_model_dir(
        build_tiny_model(tokenizer, **SMALL), tokenizer, tmp_path_factory.mktemp("m") / "base"
    )


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def logits(model):
    with torch.no_grad():
        return model(input_ids=INPUT).logits


def test_saved_model_loads_with_identical_logits(tokenizer, saved_dir):
    # given the model that was saved; when loaded back by path
    original = build_tiny_model(tokenizer, **SMALL).eval()
    model, loaded_tokenizer = load_model(saved_dir)
    # then it computes exactly the same logits, in float32 on the CPU, with the same tokenizer
    assert torch.equal(logits(model), logits(original))
    assert model.dtype == torch.float32 and model.device.type == "cpu" and not model.training
    assert loaded_tokenizer("李娜 results = [")["input_ids"] == tokenizer("李娜 results = [")["input_ids"]
    assert (
        loaded_tokenizer.pad_token_id,
        model.config.pad_token_id,
        model.generation_config.pad_token_id,
    ) == (2, 2, 2)


def test_padding_side_and_dtype_are_applied(saved_dir):
    model, tokenizer = load_model(str(saved_dir), dtype="bfloat16", padding_side="left")
    assert model.dtype == torch.bfloat16
    assert tokenizer.padding_side == "left"
    batch = tokenizer(["a", "longer text"], padding=True)
    assert batch["input_ids"][0][0] == tokenizer.pad_token_id  # pads on the left


def test_auto_dtype_is_float32_on_cpu_and_bad_values_are_named():
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("bfloat16", torch.device("cpu")) == torch.bfloat16
    with pytest.raises(ValueError, match="dtype='fp16' is not supported"):
        resolve_dtype("fp16", torch.device("cpu"))


def test_bad_padding_side_is_named(saved_dir):
    with pytest.raises(ValueError, match="padding_side='middle'"):
        load_tokenizer(saved_dir, padding_side="middle")


def test_missing_pad_token_falls_back_to_eos_with_a_warning(tokenizer, tmp_path, caplog):
    # given a released-style tokenizer without a pad token
    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.no_padding()  # padding calls on the shared tokenizer leave a pad token in its backend
    without_pad = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|eos|>")
    without_pad.save_pretrained(tmp_path)
    (tmp_path / "config.json").write_text("{}")  # makes it look like a model directory
    assert without_pad.pad_token is None
    # when loaded; then eos doubles as pad and a warning says so
    with caplog.at_level(logging.WARNING, logger="knowcoder.modeling.loading"):
        loaded = load_tokenizer(tmp_path)
    assert loaded.pad_token == "<|eos|>" and loaded.pad_token_id == 1
    assert "no pad token" in caplog.text


def test_missing_local_path_is_a_one_line_error(tmp_path, offline):
    with pytest.raises(ModelNotFoundError) as caught:
        load_model(tmp_path / "models" / "base")
    message = str(caught.value)
    assert isinstance(caught.value, KnowCoderError)
    assert "\n" not in message
    assert f"model '{tmp_path / 'models' / 'base'}' was not found locally (no such directory)" in message


def test_uncached_hub_id_offline_is_a_one_line_error_with_the_fix(offline):
    with pytest.raises(ModelNotFoundError) as caught:
        load_model("knowcoder-tests/not-a-cached-model")
    message = str(caught.value)
    assert "\n" not in message
    assert "'knowcoder-tests/not-a-cached-model' was not found locally" in message
    assert "HF_HUB_OFFLINE=1" in message and "hf download knowcoder-tests/not-a-cached-model" in message


def test_directory_without_config_is_refused_with_a_hint(tmp_path):
    (tmp_path / "adapter_config.json").write_text("{}")
    with pytest.raises(
        ModelNotFoundError, match="LoRA adapter: load its base model and call load_adapter_model"
    ):
        load_model(tmp_path)


def test_lora_adapter_round_trips_and_merges(saved_dir, tmp_path):
    from peft import LoraConfig, get_peft_model

    # given a LoRA adapter on q_proj/v_proj with non-zero weights (so it changes the output)
    base, _ = load_model(saved_dir)
    base_logits = logits(base)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    in_memory = get_peft_model(base, config).eval()
    expected = logits(in_memory)
    assert not torch.allclose(expected, base_logits, atol=1e-4)
    in_memory.save_pretrained(tmp_path / "adapter")
    # when loaded onto a fresh copy of the base model
    fresh, _ = load_model(saved_dir)
    adapted = load_adapter_model(fresh, tmp_path / "adapter")
    # then the logits match, and again after merging the adapter into the weights
    assert torch.equal(logits(adapted), expected)
    merged = merge_adapter(adapted)
    assert not hasattr(merged, "peft_config")
    torch.testing.assert_close(logits(merged), expected, rtol=1e-5, atol=1e-5)


def test_missing_adapter_is_a_one_line_error(saved_dir, tmp_path):
    base, _ = load_model(saved_dir)
    with pytest.raises(ModelNotFoundError, match=r"no LoRA adapter at .*adapter_config.json missing"):
        load_adapter_model(base, tmp_path / "nowhere")


def test_merge_adapter_needs_a_peft_model(saved_dir):
    base, _ = load_model(saved_dir)
    with pytest.raises(TypeError, match="needs a PeftModel"):
        merge_adapter(base)
