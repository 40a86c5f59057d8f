"""The trained model as an MLflow pyfunc: rows of text (and wanted classes) in, one record dict per row out.

The logged model carries three artifacts: the model directory (weights and tokenizer), the
ontology YAML and ``prompt.json`` (the :class:`ServingConfig` in its flat form); its MLmodel file
names no path of the machine that logged it (see :class:`_PortablePyfunc`). Input rows have
``text``, optionally ``types`` (a list of class names or a comma-separated string; all classes
when absent) and ``ontology`` (the YAML of an ontology to use instead of the packaged one).
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import re
import tempfile
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import Model, ModelSignature
from mlflow.models.model import MLMODEL_FILE_NAME, ModelInfo
from mlflow.pyfunc import PythonModel, PythonModelContext
from mlflow.types.schema import AnyType, ColSpec, ParamSchema, ParamSpec, Schema

from knowcoder.errors import KnowCoderError
from knowcoder.schema.ontology import Kind, load_ontology, parse_ontology
from knowcoder.serving.chunking import Chunk, merge_chunks, split_text
from knowcoder.serving.predictor import Job, PredictionInputError, Predictor, ServingConfig

MODEL_ARTIFACT = "model"
ONTOLOGY_ARTIFACT = "ontology"
PROMPT_ARTIFACT = "prompt"
PROMPT_FILE = "prompt.json"
#: the distributions a serving environment needs, pinned to the versions installed at logging time
#: (the knowcoder package itself travels as code, see ``model_code.py``; it is no requirement)
REQUIREMENTS = ("torch", "transformers", "peft", "mlflow", "pandas", "pydantic", "pyyaml")
#: the models-from-code script MLflow runs to build the model on load
MODEL_CODE = Path(__file__).with_name("model_code.py")
#: the package logged with the model, so that it loads where this repository is not installed
PACKAGE_DIR = Path(__file__).resolve().parents[1]
INPUT_COLUMNS = ("text", "types", "ontology")
#: predictors kept for custom ontologies sent with the input (each shares the one loaded model)
CUSTOM_ONTOLOGIES = 8
EXAMPLE_TEXT = "Ada Park joined Acme Corp in Paris."
_LOCAL_LABEL = re.compile(r"\+.*$")  # "2.13.0+cpu": the build is the serving machine's choice


@dataclass
class PreparedRows:
    """Input rows checked, planned and cut into chunks: what one call of the model generates for.

    ``parts`` holds, per chunk, the predictor (one per ontology), the job, the row and the chunk.
    """

    texts: list[str]
    parts: list[tuple[Predictor, Job, int, Chunk]]


class KnowCoderModel(PythonModel):
    """MLflow's handle on a :class:`Predictor`: loads it from the artifacts and feeds it input rows."""

    def load_context(self, context: PythonModelContext) -> None:
        artifacts = context.artifacts
        options = json.loads(Path(artifacts[PROMPT_ARTIFACT]).read_text(encoding="utf-8"))
        self.config = ServingConfig.from_dict(options)
        self.predictor = Predictor.load(artifacts[MODEL_ARTIFACT], artifacts[ONTOLOGY_ARTIFACT], self.config)
        self._custom: OrderedDict[str, Predictor] = OrderedDict()

    # Annotated DataFrame, what MLflow hands over under the signature; a richer hint would make MLflow 3
    # derive its own signature from it. Direct callers may also pass a list of dicts or one dict.
    def predict(
        self,
        context: PythonModelContext | None,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """One ``{text, entities, relations, events, report, chunks}`` per input row, in row order.

        Every span carries ``start``/``end``: character offsets in the row's text.
        """
        constrained = (params or {}).get("constrained")
        try:
            prepared = self.prepare(model_input)  # every row is checked before any row is generated for
            return self.run([prepared], constrained=None if constrained is None else bool(constrained))[0]
        except (KnowCoderError, ValueError) as error:
            # MLflow's scoring server answers an invalid_parameter_value with 400, not 500
            raise MlflowException.invalid_parameter_value(str(error)) from error

    def prepare(self, model_input: Any) -> PreparedRows:
        """Check and plan every row, and cut long texts into chunks; a bad row fails before any generation."""
        rows = _rows(model_input)
        texts, parts = [], []
        for index, row in enumerate(rows):
            ontology_yaml = row.pop("ontology", None)
            predictor = self._predictor_for(ontology_yaml, f"row {index}.ontology")
            (job,) = predictor.prepare([row], labels=[f"row {index}"])
            texts.append(job.text)
            for chunk in split_text(job.text, self.config.chunk_chars, self.config.chunk_overlap):
                parts.append((predictor, Job(chunk.text, job.plan), index, chunk))
        return PreparedRows(texts, parts)

    def run(self, batches: Sequence[PreparedRows], *, constrained: bool | None = None) -> list[list[dict]]:
        """Generate for several prepared inputs at once (one batch per ontology); results per input."""
        groups: dict[int, tuple[Predictor, list[tuple[int, int]]]] = {}
        for b, batch in enumerate(batches):
            for p, (predictor, _, _, _) in enumerate(batch.parts):
                groups.setdefault(id(predictor), (predictor, []))[1].append((b, p))
        outputs: dict[tuple[int, int], dict[str, Any]] = {}
        for predictor, members in groups.values():
            jobs = [batches[b].parts[p][1] for b, p in members]
            for member, output in zip(members, predictor.run(jobs, constrained=constrained), strict=True):
                outputs[member] = output
        results = []
        for b, batch in enumerate(batches):
            per_row: list[list[tuple[Chunk, dict[str, Any]]]] = [[] for _ in batch.texts]
            for p, (_, _, row, chunk) in enumerate(batch.parts):
                per_row[row].append((chunk, outputs[(b, p)]))
            pairs = zip(batch.texts, per_row, strict=True)
            results.append([merge_chunks(text, parts) for text, parts in pairs])
        return results

    def _predictor_for(self, ontology_yaml: str | None, field: str) -> Predictor:
        if ontology_yaml is None:
            return self.predictor
        predictor = self._custom.get(ontology_yaml)
        if predictor is None:
            predictor = self.predictor.with_ontology(parse_ontology(ontology_yaml, source=field))
            self._custom[ontology_yaml] = predictor
            while len(self._custom) > CUSTOM_ONTOLOGIES:  # oldest first out
                self._custom.popitem(last=False)
        return predictor


def _rows(model_input: Any) -> list[dict[str, Any]]:
    """Input rows as dicts without their missing cells; a DataFrame, a list of dicts or one dict."""
    if isinstance(model_input, pd.DataFrame):
        raw = model_input.to_dict(orient="records")
    elif isinstance(model_input, Mapping):
        raw = [dict(model_input)]
    elif isinstance(model_input, list):
        raw = model_input
    else:
        raise PredictionInputError(
            f"must be a DataFrame, a list of dicts or a dict, got {type(model_input).__name__}",
            field="model_input",
        )
    rows = []
    for index, row in enumerate(raw):
        if not isinstance(row, Mapping):
            raise PredictionInputError(
                f"must be a dict with {', '.join(INPUT_COLUMNS)}, got {type(row).__name__}",
                field=f"row {index}",
            )
        unknown = [key for key in row if key not in INPUT_COLUMNS]
        if unknown:
            raise PredictionInputError(
                f"unknown column {unknown[0]!r}; use {', '.join(INPUT_COLUMNS)}", field=f"row {index}"
            )
        cells = {key: _cell(value) for key, value in row.items() if not _missing(value)}
        if not isinstance(cells.get("ontology", ""), str):
            raise PredictionInputError(
                f"must be the YAML text of an ontology, got {type(cells['ontology']).__name__}",
                field=f"row {index}.ontology",
            )
        rows.append(cells)
    if not rows:
        raise PredictionInputError("has no rows; send at least one text", field="model_input")
    return rows


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _cell(value: Any) -> Any:
    """A list for an array cell (pandas hands numpy arrays), the value itself otherwise."""
    return value.tolist() if hasattr(value, "tolist") and not isinstance(value, str) else value


# ---- logging --------------------------------------------------------------------------------
def signature(config: ServingConfig) -> ModelSignature:
    """Inputs ``text`` (string), ``types`` (optional) and ``ontology`` (optional); param ``constrained``.

    ``types`` is declared ``Any``: MLflow's ``Array(string)`` would reject comma-separated strings
    and, in a batch where only some rows name types, the rows that do not.
    """
    inputs = Schema(
        [
            ColSpec("string", "text"),
            ColSpec(AnyType(), "types", required=False),
            ColSpec("string", "ontology", required=False),
        ]
    )
    outputs = Schema(
        [
            ColSpec("string", "text"),
            ColSpec(AnyType(), "entities"),
            ColSpec(AnyType(), "relations"),
            ColSpec(AnyType(), "events"),
            ColSpec(AnyType(), "report"),
            ColSpec("long", "chunks"),
        ]
    )
    params = ParamSchema([ParamSpec("constrained", "boolean", config.constrained)])
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


def pip_requirements() -> list[str]:
    """``REQUIREMENTS`` pinned to the installed versions, without local labels such as ``+cpu``."""
    pins = []
    for name in REQUIREMENTS:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pins.append(name)
            continue
        pins.append(f"{name}=={_LOCAL_LABEL.sub('', version)}")
    return pins


def log_pyfunc_model(
    model_dir: str | Path,
    ontology_path: str | Path,
    prompt_options: Mapping[str, Any],
    *,
    name: str = "model",
    registered_model_name: str | None = None,
    extra: Mapping[str, Any] | None = None,
    run_id: str | None = None,
) -> ModelInfo:
    """Log ``model_dir`` with its ontology and prompt options as a pyfunc model of ``run_id`` (default:
    the active run), leaving that run's status as it is.

    ``prompt_options`` is the flat :meth:`ServingConfig.from_dict` form; ``extra`` is stored in the
    MLmodel metadata (e.g. the params digest or data versions).
    """
    model_dir = _checked_model_dir(Path(model_dir))
    ontology = load_ontology(ontology_path)  # fail here, not when the model is first served
    config = ServingConfig.from_dict(prompt_options)
    example_types = (ontology.names(Kind.ENTITY) or list(ontology.types))[:1]
    metadata = {
        "knowcoder": {"ontology": ontology.name, "classes": len(ontology.types), "prompt": config.to_dict()},
        **(extra or {}),
    }
    with tempfile.TemporaryDirectory() as scratch:
        prompt_file = Path(scratch) / PROMPT_FILE
        prompt_file.write_text(json.dumps(config.to_dict(), indent=2), encoding="utf-8")
        # Model.log is what mlflow.pyfunc.log_model calls; it takes the run by id, so that logging on a
        # run that another process owns (the pipeline's parent run) neither starts nor ends it
        info = Model.log(
            artifact_path=None,
            name=name,
            flavor=_PortablePyfunc(name),
            flavor_name="pyfunc.ModelFromCode",
            run_id=run_id,
            python_model=str(MODEL_CODE),
            artifacts={
                MODEL_ARTIFACT: str(model_dir),
                ONTOLOGY_ARTIFACT: str(ontology_path),
                PROMPT_ARTIFACT: str(prompt_file),
            },
            signature=signature(config),
            input_example=pd.DataFrame([{"text": EXAMPLE_TEXT, "types": example_types}]),
            pip_requirements=pip_requirements(),
            code_paths=[str(PACKAGE_DIR)],
            registered_model_name=registered_model_name,
            metadata=metadata,
        )
    return info


class _PortablePyfunc:
    """``mlflow.pyfunc`` as the flavor ``Model.log`` saves with, writing an MLmodel free of local paths.

    MLflow records where each artifact was copied from (``uri``), the path of the model code and
    the artifact store's location; loading reads none of them (artifacts come from their ``path``
    inside the model, the code from its file name), so they are dropped or cut to the name.
    """

    __name__ = "mlflow.pyfunc"

    def __init__(self, name: str) -> None:
        self.name = name

    def save_model(self, path: str, mlflow_model: Model, **kwargs: Any) -> None:
        mlflow.pyfunc.save_model(path=path, mlflow_model=mlflow_model, **kwargs)
        portable_mlmodel(mlflow_model, self.name)
        mlflow_model.save(str(Path(path) / MLMODEL_FILE_NAME))


def portable_mlmodel(model: Model, name: str) -> Model:
    """``model`` without the logging machine's paths: artifact ``uri``s, ``model_code_path``'s folder
    and the store location in ``artifact_path`` (which becomes ``name``, as in MLflow 2)."""
    model.artifact_path = name
    config = model.flavors.get(mlflow.pyfunc.FLAVOR_NAME, {})
    for artifact in config.get("artifacts", {}).values():
        artifact.pop("uri", None)
    if config.get("model_code_path"):
        config["model_code_path"] = Path(config["model_code_path"]).name
    return model


def _checked_model_dir(path: Path) -> Path:
    """``path`` if it is a model directory whose weights all travel with it."""
    adapter = path / "adapter_config.json"
    if adapter.is_file():
        base = json.loads(adapter.read_text(encoding="utf-8")).get("base_model_name_or_path", "")
        if base and Path(base).expanduser().exists():
            raise ValueError(
                f"model_dir: {path} is a LoRA adapter on the local base model {base}, which would not be "
                "logged with it; merge the adapter (modeling.loading.merge_adapter, then save_model_dir) "
                "and log the merged directory"
            )
        return path
    if not (path / "config.json").is_file():
        raise ValueError(
            f"model_dir: {path} has no config.json or adapter_config.json; pass a directory written by "
            "save_pretrained (a merged checkpoint or a LoRA adapter)"
        )
    return path
