"""``model_code.py``, the script MLflow runs to build the pyfunc when a model logged as code loads.

It is run here the way MLflow runs it on load (``mlflow.models.utils._load_model_code_path``), without
logging or serving a model; ``test_pyfunc.py`` covers the logged and served model.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

import mlflow.models.model
import pytest
from mlflow.models.utils import _load_model_code_path

from knowcoder.serving.pyfunc import MODEL_CODE, KnowCoderModel


@pytest.fixture
def clean_model_slot() -> Iterator[None]:
    """MLflow keeps the model a code file sets in one module global: start empty, restore after."""
    before = mlflow.models.model.__mlflow_model__
    mlflow.models.model.__mlflow_model__ = None
    yield
    mlflow.models.model.__mlflow_model__ = before


def test_the_logged_script_is_this_module():
    assert MODEL_CODE.name == "model_code.py" and MODEL_CODE.is_file()
    assert MODEL_CODE.parent.name == "serving" and MODEL_CODE.parent.parent.name == "knowcoder"


def test_running_it_sets_a_fresh_unloaded_model(clean_model_slot):
    first = _load_model_code_path(str(MODEL_CODE), None)
    assert type(first) is KnowCoderModel
    assert mlflow.models.model.__mlflow_model__ is first
    # nothing is loaded until MLflow calls load_context with the artifacts
    assert not hasattr(first, "predictor") and not hasattr(first, "config")
    second = _load_model_code_path(str(MODEL_CODE), None)
    assert type(second) is KnowCoderModel and second is not first  # built anew on every load


def test_it_imports_only_mlflow_and_the_logged_package():
    """A serving machine has the pinned requirements and the logged ``knowcoder`` code, nothing else."""
    tree = ast.parse(MODEL_CODE.read_text(encoding="utf-8"))
    imported = {alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in tree.body if isinstance(node, ast.ImportFrom) and node.module}
    assert imported == {"mlflow", "knowcoder.serving.pyfunc"}
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    assert [ast.unparse(call.func) for call in calls] == ["mlflow.models.set_model", "KnowCoderModel"]
