"""The pyfunc: logged to a throwaway SQLite store, loaded back from a copy, fed DataFrames and dicts.

The model directory and ontology file it was logged from are deleted before loading, so every
prediction proves that weights, tokenizer, ontology and prompt options travel with the model.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml
from mlflow.exceptions import MlflowException

from knowcoder.errors import ConfigError
from knowcoder.serving.pyfunc import REQUIREMENTS, log_pyfunc_model

from ..conftest import FIXTURES, REPO

KEYS = {"text", "entities", "relations", "events", "report", "chunks"}
TEXTS = ("Ada Park joined Acme Corp in Paris.", "Li Ming was hired by Bo Bank.", "Bo left Wuhan.")
ZOO = "name: zoo\nentities:\n  - name: Animal\n    description: {en: An animal.}\n"

pytestmark = pytest.mark.slow  # every test here needs the logged model (about 10 s to build once)


@pytest.fixture(scope="module")
def logged(tmp_path_factory, tiny_model_dir, serving_config):
    """(model info, local copy of the logged model); the sources are gone by the time it is used."""
    root = tmp_path_factory.mktemp("mlflow")
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{root}/mlflow.db")
    try:
        experiment = mlflow.create_experiment("serving", artifact_location=(root / "artifacts").as_uri())
        source, ontology = root / "model", root / "ontology.yaml"
        shutil.copytree(tiny_model_dir, source)
        shutil.copy(FIXTURES / "mini_ontology.yaml", ontology)
        with mlflow.start_run(experiment_id=experiment):
            info = log_pyfunc_model(
                source, ontology, serving_config.to_dict(), extra={"params_digest": "abc"}
            )
        shutil.rmtree(source)
        ontology.unlink()
        copy = mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(root / "copy"))
        yield info, Path(copy)
    finally:
        mlflow.set_tracking_uri(previous)


@pytest.fixture(scope="module")
def served_dir(logged):
    _, copy = logged
    moved = copy.parent / "moved"  # a copy of the copy: nothing may point back at where it was logged
    shutil.copytree(copy, moved)
    shutil.rmtree(copy)
    return moved


@pytest.fixture(scope="module")
def served(served_dir):
    return mlflow.pyfunc.load_model(str(served_dir))


def test_the_logged_model_carries_its_signature_requirements_and_metadata(logged, served_dir, served):
    info, _ = logged
    inputs = info.signature.inputs.to_dict()
    assert [(c["name"], c["type"], c["required"]) for c in inputs] == [
        ("text", "string", True),
        ("types", "any", False),
        ("ontology", "string", False),
    ]
    assert info.signature.params.to_dict() == [
        {"name": "constrained", "type": "boolean", "default": False, "shape": None}
    ]
    pins = (served_dir / "requirements.txt").read_text().split()
    assert [p.split("==")[0] for p in pins] == list(REQUIREMENTS)
    assert all("==" in p and "+" not in p for p in pins)
    assert served.metadata.metadata["params_digest"] == "abc"
    assert served.metadata.metadata["knowcoder"]["ontology"] == "mini"


def test_artifacts_hold_weights_tokenizer_ontology_and_prompt_options(served_dir, served, serving_config):
    artifacts = served_dir / "artifacts"
    assert json.loads((artifacts / "prompt.json").read_text()) == serving_config.to_dict()
    assert (artifacts / "ontology.yaml").is_file() and (artifacts / "model" / "tokenizer.json").is_file()
    predictor = served.unwrap_python_model().predictor
    assert predictor.ontology.name == "mini" and Path(predictor.ontology.source).is_relative_to(served_dir)
    assert predictor.extractor.max_new_tokens == serving_config.max_new_tokens
    assert predictor.extractor.builder.options == serving_config.prompt_options()


def test_a_dataframe_gives_one_dict_per_row_in_row_order(served):
    frame = pd.DataFrame(
        [
            {"text": TEXTS[0], "types": ["Person", "Location"]},
            {"text": TEXTS[1], "types": "Person, Employment"},
            {"text": TEXTS[2], "types": None},
        ]
    )
    results = served.predict(frame)
    assert [set(r) for r in results] == [KEYS] * 3
    assert [r["text"] for r in results] == list(TEXTS)
    assert set(results[0]["report"]) == {"ner"}
    assert set(results[1]["report"]) == {"ner", "re"}
    assert {"ner", "re", "ed"} <= set(results[2]["report"])  # no types: every class, every task


def test_a_list_of_dicts_and_a_single_dict(served):
    results = served.predict([{"text": TEXTS[0], "types": ["Person"]}, {"text": TEXTS[1]}])
    assert [set(r) for r in results] == [KEYS] * 2 and [r["text"] for r in results] == list(TEXTS[:2])
    assert set(results[0]["report"]) == {"ner"} and {"ner", "re", "ed"} <= set(results[1]["report"])
    (single,) = served.predict({"text": TEXTS[1], "types": ["Employment"]})
    assert single["text"] == TEXTS[1] and set(single["report"]) == {"re"}


def test_constrained_outputs_quote_the_input_and_use_only_wanted_classes(served):
    wanted = ["Person", "Organization", "Location"]
    rows = [{"text": text, "types": wanted} for text in TEXTS]
    results = served.predict(rows, params={"constrained": True})
    assert len(results) == len(TEXTS)
    for text, result in zip(TEXTS, results, strict=True):
        assert result["report"]["ner"]["parseable"]
        for entity in result["entities"]:
            assert entity["text"] in text and entity["type"] in wanted


def test_a_row_may_bring_its_own_ontology(served):
    rows = [
        {"text": "The cat sat.", "types": ["Animal"], "ontology": ZOO},
        {"text": TEXTS[0], "types": ["Person"]},
    ]
    results = served.predict(rows, params={"constrained": True})
    assert [set(r["report"]) for r in results] == [{"ner"}, {"ner"}]
    assert all(e["type"] == "Animal" and e["text"] in "The cat sat." for e in results[0]["entities"])
    python_model = served.unwrap_python_model()
    assert python_model._custom[ZOO].extractor.model is python_model.predictor.extractor.model  # one copy


def test_the_python_model_called_directly_takes_a_dict(served):
    (result,) = served.unwrap_python_model().predict(None, {"text": TEXTS[0], "types": "Person,Location"})
    assert set(result) == KEYS and set(result["report"]) == {"ner"}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"text": TEXTS[0], "types": ["Animal"]}], r"row 0\.types: unknown class 'Animal'"),
        ([{"text": TEXTS[0]}, {"text": " "}], r"row 1\.text: must be a non-empty string"),
        ([{"text": TEXTS[0], "ontology": "entities: 3"}], r"row 0\.ontology"),
    ],
)
def test_bad_rows_are_refused_with_the_row_and_field(served, rows, message):
    with pytest.raises(MlflowException, match=message):
        served.predict(rows)


def test_adapters_on_a_local_base_must_be_merged_first(tmp_path, tiny_model_dir):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(tiny_model_dir)}))
    with pytest.raises(ValueError, match="merge the adapter"):
        log_pyfunc_model(adapter, FIXTURES / "mini_ontology.yaml", {})


def test_bad_prompt_options_fail_before_anything_is_logged(tiny_model_dir):
    with pytest.raises(ConfigError, match="unknown key 'stlye'"):
        log_pyfunc_model(tiny_model_dir, FIXTURES / "mini_ontology.yaml", {"stlye": "released"})


def test_the_model_is_logged_from_code_with_its_package_and_output_signature(logged, served_dir):
    info, _ = logged
    mlmodel = (served_dir / "MLmodel").read_text()
    assert "model_code_path" in mlmodel and not (served_dir / "python_model.pkl").exists()
    assert (served_dir / "model_code.py").is_file()
    assert (served_dir / "code" / "knowcoder" / "serving" / "pyfunc.py").is_file()  # loads without the repo
    assert "knowcoder-ops" not in (served_dir / "requirements.txt").read_text()
    outputs = [c["name"] for c in info.signature.outputs.to_dict()]
    assert outputs == ["text", "entities", "relations", "events", "report", "chunks"]


def test_every_span_carries_offsets_into_the_text(served):
    (result,) = served.predict([{"text": TEXTS[0], "types": ["Person"]}])
    for entity in result["entities"]:
        assert {"start", "end"} <= set(entity)
        if entity["start"] is not None:
            assert TEXTS[0][entity["start"] : entity["end"]] == entity["text"]


def test_the_mlmodel_names_no_path_of_the_logging_machine(logged, served_dir, served):
    """Logged from a temporary folder, copied twice: the MLmodel holds no path of this machine, and
    the copy loads (``served``) and predicts."""
    info, _ = logged
    mlmodel = (served_dir / "MLmodel").read_text()
    logged_from = served_dir.parent  # the test's folder: store, artifacts and the sources logged
    for local in (str(REPO), str(Path.home()), tempfile.gettempdir(), str(logged_from), "/work/", "file:"):
        assert local not in mlmodel
    config = yaml.safe_load(mlmodel)
    pyfunc = config["flavors"]["python_function"]
    assert config["artifact_path"] == "model" and pyfunc["model_code_path"] == "model_code.py"
    assert {name: artifact for name, artifact in pyfunc["artifacts"].items()} == {
        "model": {"path": "artifacts/model"},
        "ontology": {"path": "artifacts/ontology.yaml"},
        "prompt": {"path": "artifacts/prompt.json"},
    }
    assert info.model_uri.startswith("models:/")
    (result,) = served.predict([{"text": TEXTS[0], "types": ["Person"]}])
    assert result["text"] == TEXTS[0] and set(result["report"]) == {"ner"}
    assert all(0 < entity["confidence"] <= 1 for entity in result["entities"])
