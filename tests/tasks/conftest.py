"""Instances of the bundled sample data, read once, by id."""

from __future__ import annotations

import pytest

from knowcoder.data.instance import Instance
from knowcoder.data.jsonl import read_instances

from ..conftest import REPO


@pytest.fixture(scope="session")
def sample_en() -> dict[str, Instance]:
    """``data/raw/sample/en.jsonl`` by instance id."""
    return {instance.id: instance for instance in read_instances(REPO / "data/raw/sample/en.jsonl")}
