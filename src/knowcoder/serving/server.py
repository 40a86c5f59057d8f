"""``knowcoder serve``: the packaged model behind a small HTTP API (FastAPI).

``POST /predict`` takes one input ``{"text": ..., "types": [...], "ontology": "<yaml>"}`` or a
batch ``{"inputs": [{...}, ...]}`` (the shape ``mlflow models serve`` accepts too) and answers
``{"predictions": [{text, entities, relations, events, report, chunks}, ...]}``, one per input,
every span with ``start``/``end`` character offsets. A request the model cannot serve gets a 4xx
whose ``error`` names the field and the fix: 413 past a size limit (:class:`ServeLimits`), 422 for
a bad field, 401 without the bearer token when one is set. ``GET /health`` names the model, its
registry version and the device.

Requests are micro-batched: a single generation thread takes every request that arrived while it
was busy (or within ``max_wait_ms`` of the first), up to ``max_batch_texts`` chunks, and generates
for them in one batch, so concurrent clients share forward passes instead of queueing behind a lock.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import queue
import threading
import time
from collections.abc import Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.concurrency import run_in_threadpool

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


@dataclass(frozen=True)
class ServeLimits:
    """What one request may hold, and how requests are batched together."""

    max_body_bytes: int = 1 << 20  # 413 beyond (checked on Content-Length before the body is read)
    max_text_chars: int = 20_000  # 413 beyond; longer texts than chunk_chars are cut into chunks
    max_inputs: int = 64  # 413 beyond
    max_types: int = 200  # 422 beyond
    max_batch_texts: int = 64  # chunks generated for in one batch, at most
    max_wait_ms: float = 5.0  # how long the first request of a batch waits for company


@dataclass
class _Pending:
    prepared: Any
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop


class MicroBatcher:
    """One thread owns the model: it runs queued requests together, one generation batch at a time."""

    def __init__(self, model: Any, limits: ServeLimits) -> None:
        self.model = model
        self.limits = limits
        self.queue: queue.Queue[_Pending | None] = queue.Queue()
        self.batches = 0
        self.thread = threading.Thread(target=self._loop, name="knowcoder-batcher", daemon=True)
        self.thread.start()

    async def submit(self, prepared: Any) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        self.queue.put(_Pending(prepared, future, loop))
        return await future

    def close(self) -> None:
        self.queue.put(None)

    def _take(self) -> list[_Pending] | None:
        first = self.queue.get()
        if first is None:
            return None
        batch, size = [first], len(first.prepared.parts)
        deadline = time.monotonic() + self.limits.max_wait_ms / 1000
        while size < self.limits.max_batch_texts:
            try:
                timeout = max(0.0, deadline - time.monotonic())
                item = self.queue.get(timeout=timeout) if timeout else self.queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self.queue.put(None)  # stop after this batch
                break
            batch.append(item)
            size += len(item.prepared.parts)
        return batch

    def _loop(self) -> None:
        while (batch := self._take()) is not None:
            self.batches += 1
            try:
                results = self.model.run([item.prepared for item in batch])
            except Exception as error:  # every waiting request hears about it
                for item in batch:
                    item.loop.call_soon_threadsafe(_settle, item.future, None, error)
                continue
            for item, result in zip(batch, results, strict=True):
                item.loop.call_soon_threadsafe(_settle, item.future, result, None)


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.done():  # the client went away
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _model_version(model_uri: str) -> str | None:
    """The registry version ``model_uri`` names now (``models:/`` URIs), else None."""
    from knowcoder.tracking.registry import resolve_version

    try:
        resolved = resolve_version(model_uri)
    except KnowCoderError:
        return None
    return resolved[1] if resolved is not None else None


def check_limits(rows: list[dict[str, Any]], limits: ServeLimits) -> None:
    """A :class:`RequestError` (413 or 422) for the first row past a limit."""
    if len(rows) > limits.max_inputs:
        raise RequestError(
            f"inputs: {len(rows)} inputs, at most {limits.max_inputs} per request; send fewer at once",
            status=413,
        )
    for index, row in enumerate(rows):
        where = f"inputs[{index}]" if len(rows) > 1 else "body"
        if len(row["text"]) > limits.max_text_chars:
            raise RequestError(
                f"{where}.text: {len(row['text'])} characters, at most {limits.max_text_chars}; "
                "split the document and send the parts",
                status=413,
            )
        types = row.get("types")
        count = len(types) if isinstance(types, list) else len(str(types or "").split(","))
        if types is not None and count > limits.max_types:
            raise RequestError(
                f"{where}.types: {count} classes, at most {limits.max_types}; ask for fewer classes",
                status=422,
            )


def create_app(
    model_uri: str,
    *,
    tracking_uri: str | None = None,
    limits: ServeLimits | None = None,
    token: str | None = None,
) -> FastAPI:
    """The HTTP app serving ``model_uri``; loads the model first, so a missing one fails before binding.

    ``token``: when set, ``/predict`` wants ``Authorization: Bearer <token>``.
    """
    if tracking_uri:
        import mlflow

        mlflow.set_tracking_uri(tracking_uri)
    limits = limits or ServeLimits()
    model = load_model(model_uri)
    predictor = model.predictor
    version = _model_version(model_uri)
    device = str(getattr(predictor.extractor.model, "device", "cpu"))
    batcher = MicroBatcher(model, limits)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        batcher.close()

    app = FastAPI(
        title="knowcoder", summary="Code-style information extraction", version="1", lifespan=lifespan
    )
    app.state.batcher = batcher

    @app.get("/health")
    def health() -> dict[str, Any]:
        """Whether the model is loaded, which (URI and registry version), and where it runs."""
        return {
            "status": "ok",
            "model": model_uri,
            "version": version,
            "device": device,
            "ontology": predictor.ontology.name,
            "classes": len(predictor.ontology.types),
        }

    @app.post("/predict")
    async def predict(request: Request) -> JSONResponse:
        """Records for each input: entities, relations and events of the wanted classes."""
        if token is not None and not hmac.compare_digest(
            request.headers.get("authorization", ""), f"Bearer {token}"
        ):
            return JSONResponse(
                {"error": "authorization: missing or wrong bearer token; send Authorization: Bearer <token>"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            body = await _read_body(request, limits.max_body_bytes)
            rows = parse_request(body)
            check_limits(rows, limits)
        except RequestError as error:
            return JSONResponse({"error": str(error)}, status_code=error.status)
        try:
            prepared = await run_in_threadpool(model.prepare, rows)  # checks every row; no model time
            predictions = await batcher.submit(prepared)
        except Exception as error:
            cause = error.__cause__ if error.__cause__ is not None else error
            if isinstance(cause, KnowCoderError | ValueError):
                return JSONResponse({"error": _one_line(str(cause))}, status_code=422)
            raise
        return JSONResponse({"predictions": predictions})

    return app


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, or a 413 :class:`RequestError` as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    too_big = f"body: more than {limit} bytes; send less text per request (or raise --max-body-bytes)"
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(too_big, status=413)
    parts, size = [], 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise RequestError(too_big, status=413)
        parts.append(part)
    return b"".join(parts)


def _one_line(text: str) -> str:
    return " ".join(text.split())
