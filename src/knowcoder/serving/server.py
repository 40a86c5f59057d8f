"""``knowcoder serve``: the packaged model behind a small HTTP API (FastAPI).

``POST /predict`` takes one input ``{"text": ..., "types": [...], "ontology": "<yaml>"}`` or a
batch ``{"inputs": [{...}, ...]}`` (the shape ``mlflow models serve`` accepts too) and answers
``{"predictions": [{text, entities, relations, events, report}, ...]}``, one per input. A request
the model cannot serve (no text, an unknown class, malformed JSON) gets a 4xx whose ``error``
names the field and the fix. ``GET /health`` says which model is loaded.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError

from knowcoder.errors import ConfigError, KnowCoderError

#: the fields one input may carry (the pyfunc's columns)
INPUT_FIELDS = ("text", "types", "ontology")
USAGE = 'send {"text": "...", "types": ["Person"]} or {"inputs": [{"text": "..."}, ...]}'


class PredictInput(BaseModel):
    """One input row: the text, optionally the wanted classes and a custom ontology (YAML)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    text: str
    types: list[str] | str | None = None
    ontology: str | None = None


class RequestError(Exception):
    """A request body that is not a usable prediction request; ``status`` is the HTTP answer."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def parse_request(body: bytes) -> list[dict[str, Any]]:
    """The input rows of a ``/predict`` body, or a :class:`RequestError` naming what is wrong."""
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RequestError(f"body: not valid JSON ({error}); {USAGE}", status=400) from error
    if not isinstance(payload, Mapping):
        raise RequestError(f"body: must be a JSON object, got {type(payload).__name__}; {USAGE}", status=400)
    if "inputs" in payload:
        extra = sorted(set(payload) - {"inputs"})
        if extra:
            raise RequestError(f"body: unknown field {extra[0]!r} beside inputs; {USAGE}")
        items = payload["inputs"]
        if not isinstance(items, list) or not items:
            raise RequestError(f"inputs: must be a non-empty list of objects, got {items!r}; {USAGE}")
        return [_row(item, f"inputs[{index}]") for index, item in enumerate(items)]
    return [_row(payload, "body")]


def _row(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise RequestError(f"{where}: must be an object with text, types, ontology; got {item!r}")
    try:
        row = PredictInput.model_validate(item)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        if first["type"] == "missing":
            message = "is missing; pass the sentence to extract from"
        elif first["type"] == "extra_forbidden":
            message = f"unknown field; use {', '.join(INPUT_FIELDS)}"
        else:
            message = f"{first['msg'].lower()} (got {first.get('input')!r})"
        raise RequestError(f"{where}.{field}: {message}") from error
    return row.model_dump(exclude_none=True)


def load_model(model_uri: str) -> Any:
    """The pyfunc at ``model_uri`` (a folder or ``models:/``, ``runs:/`` URI), or a one-line error."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from knowcoder.tracking.mlflow_io import is_model_uri

    if not is_model_uri(model_uri) and not Path(model_uri).is_dir():
        raise ConfigError(
            f"no such model folder {model_uri!r}; pass a logged model folder or models:/NAME@ALIAS",
            field="--model",
        )
    try:
        model = mlflow.pyfunc.load_model(model_uri)
    except (MlflowException, OSError) as error:
        reason = " ".join(str(getattr(error, "message", error)).split())[:300]
        raise ConfigError(
            f"cannot load {model_uri!r} from {mlflow.get_tracking_uri()}: {reason}; check the name and "
            "alias (or folder) and MLFLOW_TRACKING_URI",
            field="--model",
        ) from error
    python_model = model.unwrap_python_model()
    if not hasattr(python_model, "predictor"):
        raise ConfigError(
            f"{model_uri!r} is not a knowcoder model (logged by knowcoder.serving.pyfunc)", field="--model"
        )
    return python_model


def create_app(model_uri: str, *, tracking_uri: str | None = None) -> FastAPI:
    """The HTTP app serving ``model_uri``; loads the model first, so a missing one fails before binding."""
    if tracking_uri:
        import mlflow

        mlflow.set_tracking_uri(tracking_uri)
    model = load_model(model_uri)
    predictor = model.predictor
    lock = threading.Lock()  # one generation at a time: the model is shared and not thread-safe
    app = FastAPI(title="knowcoder", summary="Code-style information extraction", version="1")

    @app.get("/health")
    def health() -> dict[str, Any]:
        """Whether the model is loaded, and which."""
        return {
            "status": "ok",
            "model": model_uri,
            "ontology": predictor.ontology.name,
            "classes": len(predictor.ontology.types),
        }

    @app.post("/predict")
    async def predict(request: Request) -> JSONResponse:
        """Records for each input: entities, relations and events of the wanted classes."""
        try:
            rows = parse_request(await request.body())
        except RequestError as error:
            return JSONResponse({"error": str(error)}, status_code=error.status)
        return await _run(rows)

    async def _run(rows: list[dict[str, Any]]) -> JSONResponse:
        from starlette.concurrency import run_in_threadpool

        def generate() -> list[dict[str, Any]]:
            with lock:
                return list(model.predict(None, rows))

        try:
            predictions = await run_in_threadpool(generate)
        except Exception as error:
            cause = error.__cause__ if error.__cause__ is not None else error
            if isinstance(cause, KnowCoderError | ValueError):
                return JSONResponse({"error": _one_line(str(cause))}, status_code=422)
            raise
        return JSONResponse({"predictions": predictions})

    return app


def _one_line(text: str) -> str:
    return " ".join(text.split())
