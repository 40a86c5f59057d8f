"""The tiny Llama-style base model of the default profile, and atomic saving of model directories."""

from __future__ import annotations

import contextlib
import copy
import math
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import torch
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerBase

from knowcoder.data.jsonl import current_umask

#: files that hold the weights of a full (not adapter-only) model in Hugging Face format
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")


def default_intermediate_size(hidden_size: int) -> int:
    """Llama's MLP width: about 8/3 of the hidden size, rounded up to a multiple of 64."""
    return 64 * math.ceil(hidden_size * 8 / 3 / 64)


def build_tiny_model(
    tokenizer: PreTrainedTokenizerBase,
    *,
    hidden_size: int = 256,
    num_layers: int = 4,
    num_heads: int = 4,
    intermediate_size: int | None = None,
    max_position_embeddings: int = 2048,
    seed: int = 0,
) -> LlamaForCausalLM:
    """A freshly initialised small Llama for ``tokenizer``; the same seed gives the same weights.

    ``intermediate_size`` defaults to :func:`default_intermediate_size`. Embeddings are tied to the
    output layer, attention uses PyTorch's SDPA, and bos/eos/pad ids come from the tokenizer.
    """
    if hidden_size % num_heads:
        raise ValueError(f"hidden_size={hidden_size} must be a multiple of num_heads={num_heads}")
    ids = {"bos": tokenizer.bos_token_id, "eos": tokenizer.eos_token_id, "pad": tokenizer.pad_token_id}
    missing = [name for name, value in ids.items() if value is None]
    if missing:
        raise ValueError(f"the tokenizer has no {'/'.join(missing)} token; train it with train_tokenizer")
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or default_intermediate_size(hidden_size),
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=ids["bos"],
        eos_token_id=ids["eos"],
        pad_token_id=ids["pad"],
        # a kwarg every config takes, though the typed LlamaConfig signature does not list it
        attn_implementation="sdpa",  # type: ignore[call-arg]
    )
    # A private RNG state: building the model must not shift the caller's random stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=ids["bos"], eos_token_id=ids["eos"], pad_token_id=ids["pad"]
    )
    return model


def save_model_dir(
    model: Any,
    tokenizer: PreTrainedTokenizerBase,
    path: str | Path,
    *,
    extra_files: dict[str, str] | None = None,
) -> Path:
    """Save ``model`` and ``tokenizer`` in Hugging Face format at ``path``, all or nothing.

    Everything is written to a temporary directory beside ``path`` and renamed onto it at the end;
    an existing directory at ``path`` is replaced only once the new one is complete. Weights are
    safetensors; ``generation_config.json`` carries the tokenizer's eos/pad ids where the model's
    own generation config lacks them. ``extra_files`` (name -> text) are written beside them.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        if not any((tmp / name).is_file() for name in WEIGHT_FILES):
            raise ValueError(
                f"{type(model).__name__}.save_pretrained wrote no {' or '.join(WEIGHT_FILES)} (an "
                "adapter-only model?); merge the adapter first with knowcoder.modeling.loading.merge_adapter"
            )
        _generation_config(model, tokenizer).save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        for name, text in (extra_files or {}).items():
            (tmp / name).write_text(text, encoding="utf-8")
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700; outputs follow the umask
        _replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _generation_config(model: Any, tokenizer: PreTrainedTokenizerBase) -> GenerationConfig:
    """The model's generation config (copied, never mutated) with eos/pad ids filled in."""
    own = getattr(model, "generation_config", None)
    config = copy.deepcopy(own) if own is not None else GenerationConfig()
    if config.eos_token_id is None:
        config.eos_token_id = tokenizer.eos_token_id
    if config.pad_token_id is None:
        config.pad_token_id = tokenizer.pad_token_id
    if config.bos_token_id is None:
        config.bos_token_id = tokenizer.bos_token_id
    return config


def _replace_dir(new: Path, target: Path) -> None:
    """Rename ``new`` onto ``target``; an old ``target`` is moved aside first and restored on failure."""
    if not target.exists():
        os.rename(new, target)
        return
    old = target.with_name(f".{target.name}.{uuid.uuid4().hex}.old")
    os.rename(target, old)
    try:
        os.rename(new, target)
    except BaseException:
        os.rename(old, target)
        raise
    with contextlib.suppress(OSError):  # the new model is in place; a stale copy is only clutter
        shutil.rmtree(old)
