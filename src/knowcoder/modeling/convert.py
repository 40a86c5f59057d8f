"""``knowcoder model import``: turn a model file of another format into a Hugging Face directory.

Supported sources:

* a **GGUF file** (llama.cpp's format, e.g. ``SmolLM2-135M-Instruct.Q4_1.gguf``): transformers reads
  it with the ``gguf`` package and dequantizes every tensor; the result is rebuilt as a plain model
  from its config (the GGUF quantization config dropped, so the directory loads like any other),
  with the tokenizer and chat template the file carries;
* a **Hugging Face directory**: copied as safetensors with its tokenizer, so a checkpoint that ships
  pickled ``pytorch_model.bin`` weights becomes one that loads without unpickling (that one
  conversion unpickles, so it needs ``allow_pickle=True``).

The destination is written to a temporary directory beside it and renamed at the end, so it is
either the complete model or absent; a ``knowcoder-import.json`` inside records what it came from
(file name, size, SHA-256, tensor count), never a machine path.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from knowcoder.errors import KnowCoderError, describe
from knowcoder.modeling.loading import DTYPES

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"
MANIFEST = "knowcoder-import.json"


class ModelImportError(KnowCoderError):
    """A model file that cannot be imported: missing, of an unknown format, corrupt, or refused."""


@dataclass(frozen=True)
class ImportReport:
    """What ``import_model`` wrote."""

    source: str  # the source's file or directory name
    format: str  # "gguf" or "hf"
    sha256: str  # of the GGUF file; of the weights files for a directory
    size_bytes: int
    architecture: str
    parameters: int
    vocab_size: int
    dtype: str
    destination: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def import_model(
    source: str | Path,
    destination: str | Path,
    *,
    dtype: str = "float32",
    overwrite: bool = False,
    allow_pickle: bool = False,
) -> ImportReport:
    """Convert ``source`` (a GGUF file or a Hugging Face directory) into a Hugging Face directory."""
    from knowcoder.modeling.tiny import save_model_dir  # imports transformers' Llama; only here

    src = Path(source)
    dst = Path(destination)
    if dtype not in DTYPES:
        raise ModelImportError(f"--dtype {dtype!r} is not supported; use {' or '.join(DTYPES)}")
    if not src.exists():
        raise ModelImportError(f"{src}: no such file or directory")
    if dst.exists() and not overwrite:
        raise ModelImportError(f"{dst} exists; pass --force to replace it (it is replaced only on success)")
    if src.is_dir():
        model, tokenizer, fmt, digest, size = _read_hf_dir(src, allow_pickle=allow_pickle)
    else:
        model, tokenizer, fmt, digest, size = _read_gguf(src)
    model = model.to(DTYPES[dtype])
    report = ImportReport(
        source=src.name,
        format=fmt,
        sha256=digest,
        size_bytes=size,
        architecture=type(model).__name__,
        parameters=sum(p.numel() for p in model.parameters()),
        vocab_size=len(tokenizer),
        dtype=dtype,
        destination=str(dst),
    )
    save_model_dir(model, tokenizer, dst, extra_files={MANIFEST: _manifest(report)})
    log.info("imported %s (%s, %d parameters) into %s", src.name, fmt, report.parameters, dst)
    return report


def _manifest(report: ImportReport) -> str:
    payload = {key: value for key, value in report.to_dict().items() if key != "destination"}
    return json.dumps(payload, indent=2) + "\n"


def _read_gguf(path: Path) -> tuple[Any, Any, str, str, int]:
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != GGUF_MAGIC:
        raise ModelImportError(
            f"{path}: not a GGUF file (it starts with {magic!r}, not {GGUF_MAGIC!r}); "
            "pass a .gguf file or a Hugging Face model directory"
        )
    try:
        import gguf  # noqa: F401  # transformers needs it to read GGUF; fail with the fix, not deep inside
    except ImportError as error:
        raise ModelImportError(
            "reading GGUF needs the `gguf` package; install the project's pinned environment "
            "(`make install`) or `pip install gguf`"
        ) from error
    from transformers import AutoModelForCausalLM, AutoTokenizer

    digest, size = _sha256(path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        loaded = AutoModelForCausalLM.from_pretrained(
            str(path.parent), gguf_file=path.name, dtype=torch.float32
        )
    except Exception as error:  # any failure to parse the user's file (struct, numpy, gguf) is about the file
        raise ModelImportError(f"{path}: cannot read this GGUF file: {describe(error)}") from error
    return _without_quantization(loaded), tokenizer, "gguf", digest, size


def _without_quantization(loaded: Any) -> Any:
    """The same weights in a fresh model built from the config minus its GGUF quantization entry.

    A model loaded from GGUF keeps ``quantization_config`` in its config, and such a model cannot
    be saved and reloaded as an ordinary checkpoint; the weights themselves are already float.
    """
    from transformers import AutoModelForCausalLM

    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.name_or_path = ""
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), assign=True, strict=True)
    if getattr(config, "tie_word_embeddings", False):
        model.tie_weights()
    model.generation_config = loaded.generation_config
    model.eval()
    return model


def _read_hf_dir(path: Path, *, allow_pickle: bool) -> tuple[Any, Any, str, str, int]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not (path / "config.json").is_file():
        raise ModelImportError(f"{path}: no config.json, so it is not a Hugging Face model directory")
    weights = sorted(path.glob("*.safetensors"))
    pickled = sorted(path.glob("*.bin")) + sorted(path.glob("*.pt")) + sorted(path.glob("*.pth"))
    if not weights and not pickled:
        raise ModelImportError(f"{path}: no weights (*.safetensors or pytorch_model*.bin)")
    if not weights and not allow_pickle:
        raise ModelImportError(
            f"{path}: its weights are pickled ({pickled[0].name}), and unpickling can run code; "
            "pass --allow-pickle only for a checkpoint you trust (the copy is written as safetensors)"
        )
    digest = hashlib.sha256()
    size = 0
    for file in weights or pickled:
        file_digest, file_size = _sha256(file)
        digest.update(file_digest.encode())
        size += file_size
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        model = AutoModelForCausalLM.from_pretrained(
            str(path), dtype=torch.float32, use_safetensors=bool(weights)
        )
    except (ValueError, KeyError, OSError, RuntimeError) as error:
        raise ModelImportError(f"{path}: cannot load this model: {describe(error)}") from error
    model.config.name_or_path = ""
    return model, tokenizer, "hf", digest.hexdigest(), size


def _sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size
