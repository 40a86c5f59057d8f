from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from knowcoder.released.data import ReleasedExample, examples_with_schema
from knowcoder.released.schema import SchemaImport

RELEASED = Path(__file__).resolve().parents[1] / "fixtures" / "released"


def load_released_module(name: str) -> ModuleType:
    """A released source file kept as ``.py.txt`` (so linters and pytest leave it alone)."""
    loader = importlib.machinery.SourceFileLoader(f"released_{name}", str(RELEASED / f"{name}.py.txt"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def shipped() -> tuple[list[ReleasedExample], SchemaImport]:
    return examples_with_schema(RELEASED / "example_data.jsonl")
