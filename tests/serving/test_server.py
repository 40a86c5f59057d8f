"""The HTTP server: request parsing on its own, then the app over a tiny model in a throwaway registry."""

from __future__ import annotations

import json
import shutil

import mlflow
import pytest
from fastapi.testclient import TestClient

from knowcoder.errors import ConfigError
from knowcoder.serving.pyfunc import log_pyfunc_model
from knowcoder.serving.server import RequestError, create_app, parse_request

from ..conftest import FIXTURES

NAME = "knowcoder-ie"
TEXT = "Ada Park joined Acme Corp in Paris."
KEYS = {"text", "entities", "relations", "events", "report", "chunks"}


# ---- request parsing (no model) -------------------------------------------------------------
def test_one_input_becomes_one_row_without_its_empty_fields():
    body = json.dumps({"text": TEXT, "types": ["Person"], "ontology": None}).encode()
    assert parse_request(body) == [{"text": TEXT, "types": ["Person"]}]


def test_a_batch_keeps_its_order_and_accepts_comma_separated_types():
    body = json.dumps({"inputs": [{"text": "a", "types": "Person, Location"}, {"text": "b"}]}).encode()
    assert parse_request(body) == [{"text": "a", "types": "Person, Location"}, {"text": "b"}]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "body: not valid JSON (Expecting property name enclosed in double quotes"),
        (b'["Ada"]', 400, "body: must be a JSON object, got list;"),
        (b'{"types": ["Person"]}', 422, "body.text: is missing; pass the sentence to extract from"),
        (b'{"text": 5}', 422, "body.text: input should be a valid string (got 5)"),
        (b'{"text": "a", "colour": "red"}', 422, "body.colour: unknown field; use text, types, ontology"),
        (b'{"inputs": []}', 422, "inputs: must be a non-empty list of objects, got [];"),
        (
            b'{"inputs": [{"text": "a"}, "b"]}',
            422,
            "inputs[1]: must be an object with text, types, ontology;",
        ),
        (b'{"inputs": [{"text": "a"}], "text": "b"}', 422, "body: unknown field 'text' beside inputs;"),
    ],
)
def test_a_bad_body_names_what_is_wrong(body, status, message):
    with pytest.raises(RequestError) as caught:
        parse_request(body)
    assert caught.value.status == status
    assert str(caught.value).startswith(message), str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_model_folder_fails_before_anything_starts(tmp_path):
    with pytest.raises(ConfigError, match=r"^--model: no such model folder '.*nowhere'; pass a logged model"):
        create_app(str(tmp_path / "nowhere"))


# ---- the app over a registered model ----------------------------------------------------------
@pytest.fixture(scope="module")
def registry(tmp_path_factory, tiny_model_dir, serving_config):
    """A SQLite MLflow store holding the tiny model as version 1 of knowcoder-ie, alias champion."""
    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root}/mlflow.db"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        experiment = mlflow.create_experiment("serving", artifact_location=(root / "artifacts").as_uri())
        ontology = root / "ontology.yaml"
        shutil.copy(FIXTURES / "mini_ontology.yaml", ontology)
        with mlflow.start_run(experiment_id=experiment):
            info = log_pyfunc_model(
                tiny_model_dir, ontology, serving_config.to_dict(), registered_model_name=NAME
            )
        mlflow.MlflowClient().set_registered_model_alias(NAME, "champion", info.registered_model_version)
        yield uri
    finally:
        mlflow.set_tracking_uri(previous)


@pytest.fixture(scope="module")
def client(registry):
    app = create_app(f"models:/{NAME}@champion", tracking_uri=registry)
    with TestClient(app) as test_client:
        yield test_client


@pytest.mark.slow
def test_health_names_the_model_and_its_ontology(client, mini_ontology):
    answer = client.get("/health")
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "ok",
        "model": f"models:/{NAME}@champion",
        "version": "1",
        "device": "cpu",
        "ontology": "mini",
        "classes": len(mini_ontology.types),
    }


@pytest.mark.slow
def test_one_input_gives_one_prediction_with_records_of_the_wanted_tasks(client):
    answer = client.post("/predict", json={"text": TEXT, "types": ["Person"]})
    assert answer.status_code == 200, answer.text
    (prediction,) = answer.json()["predictions"]
    assert set(prediction) == KEYS
    assert prediction["text"] == TEXT and set(prediction["report"]) == {"ner"}
    assert isinstance(prediction["entities"], list)


@pytest.mark.slow
def test_a_batch_gives_one_prediction_per_input_in_order(client):
    inputs = [
        {"text": TEXT, "types": ["Person"]},
        {"text": "Li Ming was hired by Bo Bank.", "types": "Employment"},
    ]
    answer = client.post("/predict", json={"inputs": inputs})
    assert answer.status_code == 200, answer.text
    predictions = answer.json()["predictions"]
    assert [p["text"] for p in predictions] == [TEXT, "Li Ming was hired by Bo Bank."]
    assert [set(p["report"]) for p in predictions] == [{"ner"}, {"re"}]


@pytest.mark.slow
def test_an_unknown_class_is_a_422_that_suggests_the_right_one(client):
    answer = client.post("/predict", json={"text": TEXT, "types": ["Persn"]})
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error.startswith(
        "row 0.types: unknown class 'Persn' in ontology 'mini'; did you mean 'Person' or 'Personnel'?"
    )


@pytest.mark.slow
def test_an_empty_text_and_bad_json_are_client_errors(client):
    empty = client.post("/predict", json={"text": "  "})
    assert empty.status_code == 422
    assert empty.json()["error"].startswith("row 0.text: must be a non-empty string")
    broken = client.post("/predict", content=b"{", headers={"content-type": "application/json"})
    assert broken.status_code == 400 and broken.json()["error"].startswith("body: not valid JSON")


@pytest.mark.slow
def test_a_model_that_is_not_registered_is_a_one_line_error(registry):
    with pytest.raises(ConfigError) as caught:
        create_app(f"models:/{NAME}@nosuch", tracking_uri=registry)
    message = str(caught.value)
    assert message.startswith(f"--model: cannot load 'models:/{NAME}@nosuch' from {registry}:")
    assert message.endswith("check the name and alias (or folder) and MLFLOW_TRACKING_URI")
    assert "\n" not in message


@pytest.mark.slow
def test_a_body_past_the_byte_limit_is_a_413_before_it_is_read(registry):
    from knowcoder.serving.server import ServeLimits

    limits = ServeLimits(max_body_bytes=200, max_text_chars=50, max_inputs=2)
    app = create_app(f"models:/{NAME}@champion", tracking_uri=registry, limits=limits)
    with TestClient(app) as small:
        big = small.post("/predict", json={"text": "x" * 500})
        assert big.status_code == 413 and big.json()["error"].startswith("body: more than 200 bytes")
        long = small.post("/predict", json={"text": "word " * 20})
        assert long.status_code == 413
        assert long.json()["error"] == (
            "body.text: 100 characters, at most 50; split the document and send the parts"
        )
        many = small.post("/predict", json={"inputs": [{"text": "a"}] * 3})
        assert many.status_code == 413 and many.json()["error"].startswith("inputs: 3 inputs, at most 2")


@pytest.mark.slow
def test_a_bearer_token_guards_predict_but_not_health(registry):
    app = create_app(f"models:/{NAME}@champion", tracking_uri=registry, token="s3cret")
    with TestClient(app) as guarded:
        assert guarded.get("/health").status_code == 200
        assert guarded.post("/predict", json={"text": TEXT}).status_code == 401
        wrong = guarded.post("/predict", json={"text": TEXT}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = guarded.post(
            "/predict", json={"text": TEXT, "types": ["Person"]}, headers={"Authorization": "Bearer s3cret"}
        )
        assert right.status_code == 200, right.text


@pytest.mark.slow
def test_concurrent_requests_share_generation_batches(registry):
    from concurrent.futures import ThreadPoolExecutor

    from knowcoder.serving.server import ServeLimits

    app = create_app(f"models:/{NAME}@champion", tracking_uri=registry, limits=ServeLimits(max_wait_ms=50))
    with TestClient(app) as shared:

        def ask(i: int):
            return shared.post("/predict", json={"text": f"{TEXT} {i}", "types": ["Person"]})

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(ask, range(8)))
        assert [a.status_code for a in answers] == [200] * 8
        assert [a.json()["predictions"][0]["text"] for a in answers] == [f"{TEXT} {i}" for i in range(8)]
        assert app.state.batcher.batches < 8  # at least two requests went through one batch
