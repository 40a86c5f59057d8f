"""MLflow, wrapped: where runs go, how params/metrics/datasets are logged, training curves.

The default store is SQLite under ``mlruns/`` with artifacts beside it, so a fresh machine
needs no server; ``tracking.uri`` or ``$MLFLOW_TRACKING_URI`` point at any tracking server.
Every call names its run id explicitly (no reliance on MLflow's active-run stack), because
orchestrators run tasks in worker threads.

Metric names: the library names metrics with dots (``ner.f1``, ``ner.lang.zh.f1``); in MLflow they
are logged with ``/`` instead (``ner/f1``, ``ner/lang/zh/f1``), because the MLflow UI groups charts
by the part before the first ``/``: one section per task instead of hundreds of charts in one.
:func:`mlflow_name` and :func:`from_mlflow_name` convert between the two.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from knowcoder.config import Params, TrackingConfig
from knowcoder.versioning import DataVersion

log = logging.getLogger(__name__)

_PARAM_LIMIT = 6000  # MLflow's longest parameter value
_BATCH = 900  # MLflow accepts at most 1000 metrics per log_batch
#: MLflow 3 opens an experiment in its GenAI view unless this experiment tag says otherwise
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}


def mlflow_name(metric: str) -> str:
    """The MLflow name of a library metric: ``ner.lang.zh.f1`` → ``ner/lang/zh/f1`` (grouped charts)."""
    return metric.replace(".", "/")


def from_mlflow_name(metric: str) -> str:
    """The library name of an MLflow metric: ``ner/f1`` → ``ner.f1``."""
    return metric.replace("/", ".")


def tracking_uri(config: TrackingConfig) -> str:
    return config.uri or os.environ.get("MLFLOW_TRACKING_URI") or config.default_uri


def configure(config: TrackingConfig) -> str:
    """Point MLflow at the store and return the experiment's id (created on first use)."""
    import mlflow

    uri = tracking_uri(config)
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(config.experiment)
    if experiment is not None:
        if experiment.tags.get("mlflow.experimentKind") is None:
            for key, value in EXPERIMENT_KIND.items():
                client.set_experiment_tag(experiment.experiment_id, key, value)
        return str(experiment.experiment_id)
    location = None
    if "://" not in uri or uri.startswith(("sqlite:", "file:")):
        location = (
            Path(config.artifact_location).resolve().as_uri()
        )  # a local store keeps artifacts beside it
    return str(client.create_experiment(config.experiment, artifact_location=location, tags=EXPERIMENT_KIND))


def source_tags(commit: str, source: str) -> dict[str, str]:
    """MLflow's standard source and user tags, which the UI shows in its run table and run page."""
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (some containers)
        user = "unknown"
    tags = {"mlflow.source.name": source, "mlflow.source.type": "PROJECT", "mlflow.user": user}
    if commit and commit != "unknown":
        tags["mlflow.source.git.commit"] = commit
    return tags


def registry_target(config: TrackingConfig) -> str:
    """Where registrations go: the tracking URI (the registry URI when it differs), without credentials."""
    from urllib.parse import urlsplit, urlunsplit

    import mlflow

    uris = dict.fromkeys([tracking_uri(config), mlflow.get_registry_uri() or tracking_uri(config)])
    cleaned = []
    for uri in uris:
        parts = urlsplit(uri)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        cleaned.append(urlunsplit(parts._replace(netloc=netloc)) if parts.netloc else uri)
    return " ".join(cleaned)


def ui_base(config: TrackingConfig) -> str:
    """Where a browser reaches the MLflow UI: the tracking server itself, else ``tracking.ui_url``."""
    uri = tracking_uri(config)
    return (uri if uri.startswith(("http://", "https://")) else config.ui_url).rstrip("/")


def run_url(config: TrackingConfig, experiment_id: str, run_id: str) -> str:
    return f"{ui_base(config)}/#/experiments/{experiment_id}/runs/{run_id}"


def ui_command(config: TrackingConfig) -> str:
    uri = tracking_uri(config)
    if uri.startswith(("http://", "https://")):
        return f"open {uri}"
    return f"mlflow ui --backend-store-uri {uri}"


def flat(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``; lists stay values."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flat(value, f"{name}."))
        else:
            out[name] = value
    return out


def encode_params(tree: Mapping[str, Any]) -> dict[str, str]:
    """Parameters under dotted names as MLflow stores them: strings as is, the rest as JSON, bounded."""
    out = {}
    for key, value in flat(tree).items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        out[key] = text[:_PARAM_LIMIT]
    return out


def flat_params(params: Params) -> dict[str, str]:
    """Every parameter under its dotted name, encoded like :func:`encode_params`."""
    return encode_params(params.model_dump(mode="json"))


def numeric(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The numeric entries of a metrics dict (bools and strings dropped)."""
    return {k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}


class Tracker:
    """Logs to one run by id; safe to use from any thread."""

    def __init__(self, run_id: str) -> None:
        import mlflow

        self.run_id = run_id
        self.client = mlflow.MlflowClient()

    def params(self, values: Mapping[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)) for k, v in values.items()]
        for start in range(0, len(items), 90):  # the store takes at most 100 params per batch
            self.client.log_batch(self.run_id, params=items[start : start + 90])

    def metrics(self, values: Mapping[str, float], step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(mlflow_name(k), float(v), now, step) for k, v in values.items()]
        for start in range(0, len(items), _BATCH):
            self.client.log_batch(self.run_id, metrics=items[start : start + _BATCH])

    def tags(self, values: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)[:5000]) for k, v in values.items()])

    def artifact(self, path: str | Path, folder: str | None = None) -> None:
        path = Path(path)
        if path.is_dir():
            self.client.log_artifacts(self.run_id, str(path), folder)
        elif path.is_file():
            self.client.log_artifact(self.run_id, str(path), folder)

    def text(self, text: str, name: str) -> None:
        self.client.log_text(self.run_id, text, name)

    def table(self, rows: list[dict[str, Any]], name: str) -> None:
        if rows:
            import pandas as pd

            self.client.log_table(self.run_id, pd.DataFrame(rows), name)

    def datasets(self, versions: Iterable[DataVersion], context: str) -> None:
        """``log_input`` each input with its DVC hash as the digest, so the run says what it saw."""
        from mlflow.data.dataset_source_registry import resolve_dataset_source
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.entities import DatasetInput, InputTag

        inputs = []
        for version in versions:
            dataset = MetaDataset(  # type: ignore[abstract]  # concrete at runtime; its stub marks profile abstract
                source=resolve_dataset_source(version.path),
                name=Path(version.path).name,
                digest=version.md5,
            )
            tags = [
                InputTag("mlflow.data.context", context),
                InputTag("dvc.tracked_by", version.tracked_by),
                InputTag("dvc.hash", version.dvc_hash or ""),
                InputTag("path", version.path),
            ]
            inputs.append(DatasetInput(dataset._to_mlflow_entity(), tags))
        if inputs:
            self.client.log_inputs(self.run_id, datasets=inputs)


def data_tags(versions: Iterable[DataVersion]) -> dict[str, str]:
    """One tag per input (``data.<path>`` = its MD5) and one per DVC file (``dvc.<file>`` = its hash)."""
    tags: dict[str, str] = {}
    for version in versions:
        tags[f"data.{version.path}"] = version.md5
        if version.dvc_hash:
            tags[f"dvc.{version.tracked_by}"] = version.dvc_hash
    return tags


class TrainingCurves(TrainerCallback):
    """Logs loss, learning rate, gradient norm and tokens/s per logging step; rank 0 only."""

    def __init__(self, run_id: str, prefix: str = "") -> None:
        self.tracker = Tracker(run_id)
        self.prefix = prefix
        self._last: tuple[float, int] | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self._last = (time.perf_counter(), state.num_input_tokens_seen)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        values = {
            f"{self.prefix}{name}": float(logs[name])
            for name in ("loss", "learning_rate", "grad_norm")
            if isinstance(logs.get(name), int | float)
        }
        values.update(  # IE scores on the dev sample (knowcoder.training.dev): dev/loss, dev/ner/f1, ...
            {
                f"{self.prefix}{k}": float(v)
                for k, v in logs.items()
                if k.startswith("dev/") and isinstance(v, int | float)
            }
        )
        now, tokens = time.perf_counter(), state.num_input_tokens_seen
        if self._last is not None and now > self._last[0] and "loss" in logs:
            values[f"{self.prefix}tokens_per_s"] = (tokens - self._last[1]) / (now - self._last[0])
        self._last = (now, tokens)
        if values:
            try:
                self.tracker.metrics(values, step=state.global_step)
            except Exception as error:
                log.warning("could not log training metrics to MLflow: %s", error)


def is_model_uri(value: str) -> bool:
    return value.startswith(("models:/", "runs:/", "mlflow-artifacts:/"))


def local_model_dir(uri: str, dst: str | Path | None = None) -> Path:
    """The transformers model folder inside a logged pyfunc (``models:/name@alias``, ``runs:/...``).

    Downloads the logged model and follows its ``MLmodel`` file to the ``model`` artifact.
    """
    import mlflow
    import yaml
    from mlflow.exceptions import MlflowException

    from knowcoder.modeling.loading import ModelNotFoundError

    try:
        local = Path(
            mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dst) if dst else None)
        )
    except MlflowException as error:
        from urllib.parse import urlsplit

        where = mlflow.get_tracking_uri()
        parts = urlsplit(where)
        if parts.username or parts.password:  # never print credentials
            where = parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]).geturl()
        raise ModelNotFoundError(
            f"{uri}: {' '.join(error.message.split())} (tracking store {where}){_known_aliases(uri)}; "
            "name an existing version or alias, or point tracking.uri (or MLFLOW_TRACKING_URI) at the "
            "right store"
        ) from error
    spec = yaml.safe_load((local / "MLmodel").read_text(encoding="utf-8"))
    artifacts = spec.get("flavors", {}).get("python_function", {}).get("artifacts", {})
    entry = artifacts.get("model")
    if not entry:
        raise ValueError(f"{uri} is not a knowcoder model: its MLmodel has no 'model' artifact")
    return local / entry["path"]


def _known_aliases(uri: str) -> str:
    """``; aliases of NAME: champion (v3), ...`` for a ``models:/NAME...`` URI whose model exists."""
    import mlflow
    from mlflow.exceptions import MlflowException

    if not uri.startswith("models:/"):
        return ""
    name = uri.removeprefix("models:/").split("@")[0].split("/")[0]
    try:
        aliases = mlflow.MlflowClient().get_registered_model(name).aliases
    except MlflowException:
        return ""  # MLflow's own message already says that the model is not there
    listed = ", ".join(f"{alias} (v{version})" for alias, version in sorted(aliases.items()))
    return f"; aliases of {name}: {listed or 'none'}"
