"""Data stages on a real local Dask cluster through prefect-dask: same bytes, retries, manifests.

Each shard is a Prefect task on a Dask worker process. The in-process run (``data.workers=0``) is
the reference: one and two workers must write the same bytes, and a worker process that dies in
the middle of a shard must cost that shard only.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from knowcoder.artifacts import Layout
from knowcoder.config import load_params
from knowcoder.corpus.annotate import Gazetteer, annotate_file
from knowcoder.corpus.build import build_part, plan_corpus
from knowcoder.corpus.shards import FAULT_ENV, line_ranges
from knowcoder.schema.ontology import load_ontology
from knowcoder.stages.corpus import build_corpus
from knowcoder.stages.data import prepare_data

from ..conftest import REPO

ANNOTATE = REPO / "tests" / "fixtures" / "annotate"
pytestmark = pytest.mark.slow  # each run starts a Dask cluster


@pytest.fixture(scope="module")
def validated(tmp_path_factory):
    """The data stage's output for 40 synthetic sentences and the English sample."""
    root = tmp_path_factory.mktemp("data")
    params = load_params(REPO / "params.yaml", overrides=_overrides(root, 0))
    prepare_data(params)
    return root


def _overrides(root, workers, shard_size=20):
    return [
        f"paths.ontology={REPO / 'data/ontology.yaml'}",
        f"paths.raw=[{REPO / 'data/raw/sample/en.jsonl'}]",
        f"paths.parallel={REPO / 'data/raw/parallel/en_zh.jsonl'}",
        f"paths.artifacts={root}",
        "corpus.inputs=[sample-en, synth]",
        "data.synth.train=40",
        "data.synth.dev=2",
        "data.synth.test=2",
        f"data.workers={workers}",
        f"data.shard_size={shard_size}",
    ]


def _params(root, workers, shard_size=20):
    return load_params(REPO / "params.yaml", overrides=_overrides(root, workers, shard_size))


def _check_manifest(path):
    """The manifest names each shard with its rows and sha256; in order they make the file."""
    manifest = json.loads(path.with_suffix(".manifest.json").read_text())
    assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    if manifest["stage"] == "align":  # its shards hold the alignment examples; instructions are mixed in
        assert sum(shard["rows"] for shard in manifest["shards"]) < manifest["rows"]
        return manifest
    data = path.read_bytes().splitlines(keepends=True)
    at = 0
    for shard in manifest["shards"]:
        chunk = b"".join(data[at : at + shard["rows"]])
        assert hashlib.sha256(chunk).hexdigest() == shard["sha256"], shard["name"]
        at += shard["rows"]
    assert at == len(data) == manifest["rows"]
    return manifest


def test_corpora_are_the_same_bytes_with_one_and_two_dask_workers(prefect_server, validated):
    # Given the reference corpora built in this process
    reference = {stage: build_corpus(_params(validated, 0), stage) for stage in ("sft", "align")}
    expected = {stage: result.path.read_bytes() for stage, result in reference.items()}
    reports = {stage: result.report for stage, result in reference.items()}
    # sample-en (30 lines) and synth (44 lines) in shards of 20 lines: 2 + 3 shards
    assert [s["name"] for s in _check_manifest(reference["sft"].path)["shards"]] == [
        "input0-00000",
        "input0-00001",
        "input1-00000",
        "input1-00001",
        "input1-00002",
    ]
    for workers in (1, 2):
        # When the same corpora are built on a local Dask cluster of that many workers
        for stage in ("sft", "align"):
            result = build_corpus(_params(validated, workers), stage)
            # Then every byte and every count is the same, and the manifest matches the file
            assert result.path.read_bytes() == expected[stage], (workers, stage)
            assert result.report == reports[stage]
            _check_manifest(result.path)
            assert not result.path.with_name(f"{stage}.parts").exists()  # parts go once assembled


def test_a_complete_shard_is_not_built_again(validated):
    # Given an interrupted build that finished its first two shards
    params = _params(validated, 0)
    path = Layout(params).corpus("pretrain")
    reference = build_corpus(params, "pretrain").path.read_bytes()
    shards = plan_corpus(params, "pretrain", path)
    assert [s.name for s in shards][:2] == ["classes", "input0-00000"]
    first = [build_part(shard) for shard in shards[:2]]
    assert not any(part.reused for part in first)
    # When the build runs again
    from knowcoder.corpus.build import build_corpus_file

    built = build_corpus_file(params, "pretrain", path)
    # Then only the other shards are built, and the corpus is the same
    assert built.computed == len(shards) - 2
    assert path.read_bytes() == reference


def test_a_shard_whose_worker_dies_is_run_again_alone(prefect_server, tmp_path, monkeypatch):
    # Given 300 lines in ranges of 70 (five shards), and the process of shard 2 exiting at its first try
    ontology = load_ontology(REPO / "data/ontology.yaml")
    gazetteer = Gazetteer.load(ANNOTATE / "names.tsv", ontology, relations=ANNOTATE / "relations.tsv")
    text = tmp_path / "sentences.txt"
    text.write_text((ANNOTATE / "en.txt").read_text(encoding="utf-8") * 50, encoding="utf-8")
    assert len(line_ranges(text, 70)) == 5
    options = {"lang": "en", "dataset": "wiki", "shard_size": 40, "shard_lines": 70}
    reference = annotate_file(text, tmp_path / "ref", gazetteer, workers=0, **options)
    marker = tmp_path / "died"
    monkeypatch.setenv(FAULT_ENV, f"part-00002:{marker}")
    # When two Dask workers annotate the ranges
    report = annotate_file(text, tmp_path / "out", gazetteer, workers=2, **options)
    # Then the shard's first process died (the marker names it), and its retry completed the run
    assert marker.read_text().split()[0] == "part-00002"
    names = sorted(p.name for p in (tmp_path / "ref").iterdir())
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == names  # no parts left behind
    for name in names:
        if name != "coverage.json":
            assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "ref" / name).read_bytes()
    expected = {k: v for k, v in reference.to_dict().items() if k not in ("seconds", "mb_per_s")}
    assert {k: v for k, v in report.to_dict().items() if k not in ("seconds", "mb_per_s")} == expected
    # the manifest: one entry per output shard with its instances and sha256
    for shard in report.shards:
        data = (tmp_path / "out" / shard["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == shard["sha256"]
        assert data.count(b"\n") == shard["instances"]
