"""Loading any causal LM (hub id or local directory), its tokenizer and LoRA adapters, offline-aware."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Literal

import torch
from huggingface_hub import hf_hub_download, is_offline_mode
from huggingface_hub.errors import HFValidationError, StrictDataclassError
from huggingface_hub.utils import validate_repo_id
from safetensors import SafetensorError
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

from knowcoder.errors import KnowCoderError, describe

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
PaddingSide = Literal["right", "left"]  # right for training, left for batched generation


class ModelNotFoundError(KnowCoderError):
    """A model, tokenizer or adapter is neither on disk nor obtainable from the Hugging Face Hub."""


class ModelLoadError(KnowCoderError):
    """A model directory is there but cannot be loaded (refused pickled weights, corrupt files)."""


#: weight files that are Python pickles: loading them can run code
PICKLED_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json", "model.pt", "model.pth")
SAFE_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
#: any of these makes a directory's tokenizer loadable
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "spiece.model")
#: what a broken config or weights file raises, besides the usual OSError/ValueError
_LOAD_ERRORS = (OSError, ValueError, KeyError, RuntimeError, TypeError, SafetensorError, StrictDataclassError)


def check_model_dir(source: str) -> None:
    """One-line errors for a local model directory that cannot load, before transformers tries.

    Checks what a crash during a save or a bad copy leaves: a config.json that is not a JSON
    object, no weights file, no tokenizer files. Hub ids are left to transformers.
    """
    path = Path(source)
    if not path.is_dir():
        return
    config = path / "config.json"
    try:
        parsed = json.loads(config.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ModelLoadError(
            f"{config} is not valid JSON ({error}); the save was cut short or the file was edited: "
            "save or import the model again"
        ) from error
    if not isinstance(parsed, dict):
        raise ModelLoadError(
            f"{config} holds a JSON {type(parsed).__name__}, not an object; save the model again"
        )
    weights = [*SAFE_WEIGHTS, *PICKLED_WEIGHTS]
    if not any((path / name).is_file() for name in weights) and not any(path.glob("*.safetensors")):
        raise ModelLoadError(
            f"{path} has a config.json but no weights ({' or '.join(SAFE_WEIGHTS)}); the save was cut "
            "short or the weights were not copied: save or import the model again"
        )
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise ModelLoadError(
            f"{path} has no tokenizer files ({', '.join(TOKENIZER_FILES[:2])}); save the tokenizer "
            "beside the model (tokenizer.save_pretrained) or copy its files there"
        )


def _refuse_pickled_only(source: str) -> None:
    """Refuse a local directory whose weights exist only as pickles, naming both ways out."""
    path = Path(source)
    if not path.is_dir() or any((path / name).is_file() for name in SAFE_WEIGHTS):
        return
    pickled = [name for name in PICKLED_WEIGHTS if (path / name).is_file()]
    if pickled:
        raise ModelLoadError(
            f"{source}: its weights are pickled ({pickled[0]}) and unpickling can run code; convert them "
            f"once with `knowcoder model import {source} DST --allow-pickle`, or set "
            "model.use_safetensors=false for a checkpoint you trust"
        )


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
    use_safetensors: bool = True,
) -> tuple[Any, PreTrainedTokenizerBase]:
    """Load a causal LM and its tokenizer from a local directory or a hub id, on ``device``.

    The model comes back in eval mode; the tokenizer always has a pad token (see
    :func:`load_tokenizer`). Raises :class:`ModelNotFoundError` when the model is neither on disk nor
    downloadable (for instance with ``HF_HUB_OFFLINE=1`` and an empty cache), and
    :class:`ModelLoadError` when it is there but cannot be read (pickled weights while
    ``use_safetensors`` holds, a truncated weights file, a broken config).
    """
    source = _resolve_source(name_or_path)
    target = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, target)
    check_model_dir(source)
    tokenizer = load_tokenizer(source, trust_remote_code=trust_remote_code, padding_side=padding_side)
    if use_safetensors:
        _refuse_pickled_only(source)
    try:
        model: Any = AutoModelForCausalLM.from_pretrained(
            source,
            dtype=torch_dtype,
            trust_remote_code=trust_remote_code,
            use_safetensors=True if use_safetensors else None,
        )
    except _LOAD_ERRORS as error:
        hint = ""
        if isinstance(error, SafetensorError):
            hint = "; a weights file is truncated or corrupt: save or import the model again"
        raise ModelLoadError(f"{name_or_path}: cannot load the model: {describe(error)}{hint}") from error
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
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
    except _LOAD_ERRORS as error:
        raise ModelLoadError(f"{name_or_path}: cannot load the tokenizer: {describe(error)}") from error
    if isinstance(tokenizer, bool) or not hasattr(tokenizer, "pad_token"):
        raise ModelLoadError(
            f"{name_or_path}: no tokenizer files (tokenizer.json or tokenizer_config.json); save the "
            "tokenizer beside the model (tokenizer.save_pretrained)"
        )
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
