"""Loading any causal LM (hub id or local directory), its tokenizer and LoRA adapters, offline-aware."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Literal

import torch
from huggingface_hub import hf_hub_download, is_offline_mode
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

from knowcoder.errors import KnowCoderError

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
PaddingSide = Literal["right", "left"]  # right for training, left for batched generation


class ModelNotFoundError(KnowCoderError):
    """A model, tokenizer or adapter is neither on disk nor obtainable from the Hugging Face Hub."""


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` as given, else this process's GPU (``LOCAL_RANK`` under torchrun) or the CPU."""
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``"auto"`` is bfloat16 on a CUDA device that supports it and float32 elsewhere."""
    if dtype == "auto":
        bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if bf16 else torch.float32
    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is not supported; use 'auto', {' or '.join(map(repr, DTYPES))}")
    return DTYPES[dtype]


def load_model(
    name_or_path: str | Path,
    *,
    trust_remote_code: bool = False,
    dtype: str = "auto",
    device: str | torch.device | None = None,
    padding_side: PaddingSide = "right",
) -> tuple[Any, PreTrainedTokenizerBase]:
    """Load a causal LM and its tokenizer from a local directory or a hub id, on ``device``.

    The model comes back in eval mode; the tokenizer always has a pad token (see
    :func:`load_tokenizer`). Raises :class:`ModelNotFoundError` when the model is neither on disk nor
    downloadable (for instance with ``HF_HUB_OFFLINE=1`` and an empty cache).
    """
    source = _resolve_source(name_or_path)
    target = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, target)
    tokenizer = load_tokenizer(source, trust_remote_code=trust_remote_code, padding_side=padding_side)
    model: Any = AutoModelForCausalLM.from_pretrained(
        source, dtype=torch_dtype, trust_remote_code=trust_remote_code
    )
    model.to(target)
    model.eval()
    # Generation and loss code read the pad id from the model; keep it in step with the tokenizer.
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    generation = getattr(model, "generation_config", None)
    if generation is not None and generation.pad_token_id is None:
        generation.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def load_tokenizer(
    name_or_path: str | Path, *, trust_remote_code: bool = False, padding_side: PaddingSide = "right"
) -> PreTrainedTokenizerBase:
    """The tokenizer of a model, with ``padding_side`` set and a pad token guaranteed.

    Released base models often ship without a pad token; then the EOS token doubles as pad and a
    warning is logged. With pad == eos, padding cannot be told from a real EOS by id, so loss masks
    must come from the attention mask, never from ``input_ids == pad_token_id``.
    """
    if padding_side not in ("right", "left"):
        raise ValueError(f"padding_side={padding_side!r} must be 'right' (training) or 'left' (generation)")
    source = _resolve_source(name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
    tokenizer.padding_side = padding_side
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ModelNotFoundError(
                f"the tokenizer of {name_or_path} has neither a pad nor an eos token; "
                "add a pad token to it (tokenizer.add_special_tokens) and save it beside the model"
            )
        log.warning(
            "the tokenizer of %s has no pad token; using its eos token %r as pad",
            name_or_path,
            tokenizer.eos_token,
        )
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_adapter_model(base: Any, adapter_path: str | Path, *, trainable: bool = False) -> Any:
    """Wrap ``base`` (a loaded model) with the LoRA adapter saved at ``adapter_path`` (a PeftModel)."""
    from peft import PeftModel  # heavy; only adapter users pay for it

    path = Path(adapter_path)
    if not (path / "adapter_config.json").is_file():
        raise ModelNotFoundError(
            f"no LoRA adapter at {path} (adapter_config.json missing); pass the directory that "
            "PeftModel.save_pretrained wrote"
        )
    return PeftModel.from_pretrained(base, str(path), is_trainable=trainable)


def merge_adapter(model: Any) -> Any:
    """Fold a PeftModel's LoRA weights into its base model and return that plain model."""
    if not hasattr(model, "merge_and_unload"):
        raise TypeError(f"merge_adapter needs a PeftModel with a LoRA adapter, got {type(model).__name__}")
    return model.merge_and_unload()


def _resolve_source(name_or_path: str | Path) -> str:
    """A local model directory or a hub id whose config is reachable; else ModelNotFoundError."""
    name = str(name_or_path)
    path = Path(name).expanduser()
    if path.is_dir():
        if (path / "config.json").is_file():
            return str(path)
        hint = (
            "it holds a LoRA adapter: load its base model and call load_adapter_model"
            if (path / "adapter_config.json").is_file()
            else "point to a directory written by save_pretrained"
        )
        raise ModelNotFoundError(f"{path} has no config.json, so it is not a model directory; {hint}")
    if path.exists() or not _is_repo_id(name):
        raise ModelNotFoundError(
            f"model {name!r} was not found locally (no such directory); point to a directory written "
            "by save_pretrained, or name a Hugging Face Hub model id (pre-download it with `hf download` "
            "when offline)"
        )
    try:
        hf_hub_download(name, "config.json")  # one small file: a missing model fails before any weights move
    except OSError as error:
        raise ModelNotFoundError(_not_found_message(name, error)) from error
    return name


def _is_repo_id(name: str) -> bool:
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def _not_found_message(name: str, error: OSError) -> str:
    if is_offline_mode():
        why = "the Hugging Face Hub is off (HF_HUB_OFFLINE=1)"
    else:
        cause = " ".join(str(error).split()).split(". ")[0][:160]
        why = f"it could not be fetched from the Hugging Face Hub ({cause})"
    return (
        f"model {name!r} was not found locally and {why}; pass a local model directory, or pre-download "
        f"it where there is network (`hf download {name}`) and point HF_HOME at that cache"
    )
