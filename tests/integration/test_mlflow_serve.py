"""MLflow's own scoring server on the registered champion: the README's two lines, run as written.

A tiny random-weight model is logged and registered in a SQLite store and given the alias
``champion``; the README's ``mlflow models serve`` command starts on a free loopback port with
``.venv/bin`` first on ``PATH``, the README's request is posted to ``/invocations``, and the server
is stopped (SIGTERM to its process group) whatever happened.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import sys
from pathlib import Path

import httpx
import mlflow
import pytest

from ..conftest import REPO
from .test_team_stack import Stack, free_port, wait_http

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NAME = "knowcoder-ie"
BIN = Path(sys.executable).parent
SERVING_OPTIONS = {"system": False, "descriptions": False, "max_examples": 1, "max_new_tokens": 24}


def readme_serving_lines() -> tuple[list[str], str]:
    """The README's ``mlflow models serve`` command (argv, continuation lines joined) and its curl body."""
    readme = (REPO / "README.md").read_text(encoding="utf-8").replace("\\\n", " ")
    (serve,) = [line for line in readme.splitlines() if "mlflow models serve" in line]
    (curl,) = [line for line in readme.splitlines() if line.startswith("curl") and "/invocations" in line]
    argv = shlex.split(serve)
    assert argv[0] == "PATH=$PWD/.venv/bin:$PATH", serve  # the venv's mlflow and uvicorn come first
    body = shlex.split(curl)[shlex.split(curl).index("-d") + 1]
    return argv[1:], body


@pytest.fixture(scope="module")
def champion(tmp_path_factory):
    """A SQLite store where version 1 of knowcoder-ie, a tiny model, has the alias champion."""
    from knowcoder.modeling.tiny import build_tiny_model, save_model_dir
    from knowcoder.modeling.tokenizer import train_tokenizer
    from knowcoder.prompts import PromptBuilder
    from knowcoder.schema.ontology import load_ontology
    from knowcoder.serving.predictor import ServingConfig
    from knowcoder.serving.pyfunc import log_pyfunc_model

    root = tmp_path_factory.mktemp("mlflow-serve")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    ontology_path = REPO / "data" / "ontology.yaml"
    config = ServingConfig.from_dict(SERVING_OPTIONS)
    builder = PromptBuilder(load_ontology(ontology_path), config.prompt_options())
    text = "Ada Park joined Acme Corp in Paris."
    tokenizer = train_tokenizer(
        [builder.prompt(text, "ner", ["Person", "Company"])], vocab_size=300, min_frequency=1
    )
    model = build_tiny_model(
        tokenizer, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, seed=3
    )
    model_dir = save_model_dir(model, tokenizer, root / "tiny-model")
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        experiment = mlflow.create_experiment("models", artifact_location=(root / "artifacts").as_uri())
        with mlflow.start_run(experiment_id=experiment):
            info = log_pyfunc_model(model_dir, ontology_path, config.to_dict(), registered_model_name=NAME)
        mlflow.MlflowClient().set_registered_model_alias(NAME, "champion", str(info.registered_model_version))
    finally:
        mlflow.set_tracking_uri(previous)
    return root, uri


@pytest.fixture(scope="module")
def scoring_server(champion):
    root, uri = champion
    argv, _ = readme_serving_lines()
    port = free_port()
    argv[argv.index("--port") + 1] = str(port)
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "MLFLOW_TRACKING_URI": uri,
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
    }
    stack = Stack(root, env)
    try:
        process = stack.start("mlflow-models-serve", argv, cwd=REPO)
        url = f"http://127.0.0.1:{port}"
        wait_http(process, f"{url}/ping", timeout=300)
        yield url, process
    finally:
        stack.stop()


def test_the_readme_request_gets_records_from_mlflow_models_serve(scoring_server):
    url, process = scoring_server
    _, body = readme_serving_lines()
    request = json.loads(body)
    answer = httpx.post(f"{url}/invocations", json=request, timeout=300)
    assert answer.status_code == 200, f"{answer.text}\n{process.tail()}"
    (prediction,) = answer.json()["predictions"]
    (row,) = request["inputs"]
    assert prediction["text"] == row["text"] and set(prediction["report"]) == {"ner"}
    assert prediction["report"]["ner"]["parseable"] is True  # constrained: the grammar holds
    assert prediction["entities"], prediction  # this seed's model writes at least one
    for entity in prediction["entities"]:
        assert entity["type"] in row["types"]
        assert row["text"][entity["start"] : entity["end"]] == entity["text"]
        assert 0 < entity["confidence"] <= 1


def test_a_bad_row_gets_a_400_naming_it(scoring_server):
    url, _ = scoring_server
    answer = httpx.post(
        f"{url}/invocations", json={"inputs": [{"text": "Ada left.", "types": ["Nope"]}]}, timeout=60
    )
    assert answer.status_code == 400
    assert re.search(r"row 0\.types: unknown class 'Nope'", answer.json()["message"])


def test_the_server_stops_cleanly_on_sigterm(scoring_server):
    url, process = scoring_server
    process.stop()  # SIGTERM to its process group; SIGKILL only after 15 s
    assert process.popen.returncode in (0, -signal.SIGTERM), process.tail()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/ping", timeout=5)
