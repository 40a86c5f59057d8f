"""The importer fixtures (tests/fixtures/importers/) and the helpers the importer tests share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from knowcoder.data.importers import ImportReport, import_dataset
from knowcoder.data.instance import Instance
from knowcoder.schema.ontology import Ontology, load_ontology

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "importers"
#: the small ontology of the synthetic samples
ONTOLOGY: Ontology = load_ontology(FIXTURES / "ontology.yaml")
#: the classes of the real datasets the cut fixtures come from
REAL_ONTOLOGY: Ontology = load_ontology(FIXTURES / "real_ontology.yaml")


def _run(
    ontology: Ontology, fmt: str, path: str | Path, dataset: str, lang: str, **options: Any
) -> tuple[list[Instance], ImportReport]:
    path = path if isinstance(path, Path) else FIXTURES / path
    instances, report = import_dataset(fmt, path, ontology=ontology, dataset=dataset, lang=lang, **options)
    return list(instances), report


def run(
    fmt: str, path: str | Path, dataset: str, lang: str, **options: Any
) -> tuple[list[Instance], ImportReport]:
    """Import a fixture (or ``path``) against the small ontology; the instances as a list."""
    return _run(ONTOLOGY, fmt, path, dataset, lang, **options)


def run_real(
    fmt: str, path: str | Path, dataset: str, lang: str, **options: Any
) -> tuple[list[Instance], ImportReport]:
    """Import a fixture cut from a real file against the real datasets' ontology."""
    return _run(REAL_ONTOLOGY, fmt, path, dataset, lang, **options)


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def entities(instance: Instance) -> list[tuple[str, str]]:
    return [(instance.span_text(entity), entity.type) for entity in instance.entities or []]


def spans(instance: Instance) -> list[tuple[int, int, str, str]]:
    return [(e.start, e.end, e.type, instance.span_text(e)) for e in instance.entities or []]
