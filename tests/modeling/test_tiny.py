"""The tiny Llama base model and the atomic, safetensors-only model directory."""

from __future__ import annotations

import json

import pytest
import torch

from knowcoder.modeling import tiny
from knowcoder.modeling.tiny import build_tiny_model, default_intermediate_size, save_model_dir

SMALL = {
    "hidden_size": 32,
    "num_layers": 2,
    "num_heads": 4,
    "intermediate_size": 64,
    "max_position_embeddings": 64,
}


@pytest.fixture(scope="module")
def model(tokenizer):
    return build_tiny_model(tokenizer, **SMALL).eval()


def test_config_follows_the_tokenizer(model, tokenizer):
    config = model.config
    assert config.vocab_size == len(tokenizer)
    assert (config.bos_token_id, config.eos_token_id, config.pad_token_id) == (0, 1, 2)
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (32, 2, 4)
    assert config._attn_implementation == "sdpa"
    assert model.lm_head.weight is model.model.embed_tokens.weight  # tied
    assert (model.generation_config.eos_token_id, model.generation_config.pad_token_id) == (1, 2)


def test_forward_gives_logits_per_token_and_a_finite_loss(model, tokenizer):
    batch = tokenizer(['results = [Person("Ada")]', "李娜"], padding=True, return_tensors="pt")
    output = model(**batch, labels=batch["input_ids"])
    assert output.logits.shape == (2, batch["input_ids"].shape[1], len(tokenizer))
    assert torch.isfinite(output.loss)


def test_same_seed_same_weights_other_seed_other_weights(tokenizer):
    first = build_tiny_model(tokenizer, **SMALL, seed=3).state_dict()
    same = build_tiny_model(tokenizer, **SMALL, seed=3).state_dict()
    other = build_tiny_model(tokenizer, **SMALL, seed=4).state_dict()
    assert all(torch.equal(first[name], same[name]) for name in first)
    assert not torch.equal(first["model.embed_tokens.weight"], other["model.embed_tokens.weight"])


def test_building_leaves_the_global_random_stream_alone(tokenizer):
    torch.manual_seed(11)
    expected = torch.rand(3)
    torch.manual_seed(11)
    build_tiny_model(tokenizer, **SMALL)
    assert torch.equal(torch.rand(3), expected)


def test_default_intermediate_size_is_llama_like():
    assert default_intermediate_size(256) == 704  # 8/3 * 256 = 682.7, rounded up to 64
    assert default_intermediate_size(64) == 192


def test_heads_must_divide_hidden_size(tokenizer):
    with pytest.raises(ValueError, match="hidden_size=30 must be a multiple of num_heads=4"):
        build_tiny_model(tokenizer, hidden_size=30, num_heads=4)


def test_saved_dir_is_safetensors_hf_format_and_nothing_else_is_left(model, tokenizer, tmp_path):
    # when the model is saved under a parent that does not exist yet
    target = save_model_dir(model, tokenizer, tmp_path / "models" / "base")
    # then the directory is complete, safetensors only, and no temporary sibling remains
    files = {path.name for path in target.iterdir()}
    assert {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json"} <= files
    assert "pytorch_model.bin" not in files
    assert [path.name for path in target.parent.iterdir()] == ["base"]
    generation = json.loads((target / "generation_config.json").read_text())
    assert (generation["eos_token_id"], generation["pad_token_id"]) == (1, 2)


def test_saving_replaces_an_existing_dir(model, tokenizer, tmp_path):
    target = tmp_path / "base"
    target.mkdir()
    (target / "stale.txt").write_text("from an older run")
    save_model_dir(model, tokenizer, target)
    assert not (target / "stale.txt").exists()
    assert (target / "model.safetensors").is_file()
    assert [path.name for path in tmp_path.iterdir()] == ["base"]


def _fail(*args, **kwargs):
    raise RuntimeError("disk full")


def test_failed_save_leaves_nothing_behind(model, tokenizer, tmp_path, monkeypatch):
    # given a tokenizer whose save fails after the weights were written
    monkeypatch.setattr(tokenizer, "save_pretrained", _fail)
    # when saving; then the error propagates and the parent holds no half-written directory
    with pytest.raises(RuntimeError, match="disk full"):
        save_model_dir(model, tokenizer, tmp_path / "base")
    assert list(tmp_path.iterdir()) == []


def test_failed_replace_keeps_the_old_dir(model, tokenizer, tmp_path, monkeypatch):
    target = save_model_dir(model, tokenizer, tmp_path / "base")
    before = sorted(path.name for path in target.iterdir())
    real_rename = tiny.os.rename

    def rename_fails_onto_target(src, dst):
        if str(dst) == str(target) and ".tmp" in str(src):
            raise OSError("rename interrupted")
        return real_rename(src, dst)

    monkeypatch.setattr(tiny.os, "rename", rename_fails_onto_target)
    with pytest.raises(OSError, match="rename interrupted"):
        save_model_dir(model, tokenizer, target)
    assert sorted(path.name for path in target.iterdir()) == before
    assert [path.name for path in tmp_path.iterdir()] == ["base"]


def test_adapter_only_model_is_refused(tokenizer, tmp_path):
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(
        build_tiny_model(tokenizer, **SMALL), LoraConfig(r=2, target_modules=["q_proj"])
    )
    with pytest.raises(ValueError, match="merge the adapter first"):
        save_model_dir(peft_model, tokenizer, tmp_path / "base")
    assert list(tmp_path.iterdir()) == []
