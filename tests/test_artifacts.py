"""The run layout: every path in one place, and dvc.yaml's outputs where the layout puts them."""

from __future__ import annotations

from pathlib import Path

import yaml

from knowcoder.artifacts import LOCK_NAME, Layout
from knowcoder.config import load_params
from knowcoder.console import log_path_for
from knowcoder.locking import PipelineLock

from .conftest import REPO


def test_a_layout_is_rooted_at_paths_artifacts(tmp_path):
    params = load_params(REPO / "params.yaml", overrides=[f"paths.artifacts={tmp_path}"])
    assert Layout(params).root == Layout(tmp_path).root == Layout(str(tmp_path)).root == tmp_path


def test_the_documented_paths():
    layout = Layout("art")
    assert layout.validated("sample-en") == Path("art/data/validated/sample-en/valid.jsonl")
    assert layout.corpus_report("sft") == Path("art/corpus/sft.report.json")
    assert layout.instructions("align") == Path("art/corpus/align.instructions.jsonl")
    assert layout.model_metrics("sft") == Path("art/models/sft.metrics.json")
    assert layout.model_curve("sft") == Path("art/models/sft.curve.csv")
    assert layout.base_model == Path("art/models/base")
    assert layout.checkpoint_marker("sft") == Path("art/checkpoints/sft/FINGERPRINT")
    assert layout.evaluation("heldout") == Path("art/evaluation/heldout")
    assert layout.stamp("register") == Path("art/stamps/register.json")
    assert layout.prefect_cache == Path("art/cache/prefect")
    assert layout.lock == Path("art") / LOCK_NAME


def test_the_lock_and_the_log_file_live_where_the_layout_says(tmp_path):
    assert PipelineLock(tmp_path).path == Layout(tmp_path).lock
    assert log_path_for(tmp_path, now=0).parent == Layout(tmp_path).logs


def _dvc_paths() -> set[str]:
    """Every dependency, output, metric and plot path of dvc.yaml under artifacts/."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    found: set[str] = set()
    for stage in stages.values():
        body = stage.get("do", stage)
        items = [item for key in ("deps", "outs", "metrics", "plots") for item in body.get(key, [])]
        for item in items:
            path = next(iter(item)) if isinstance(item, dict) else item
            for name in stage.get("foreach", [None]):
                if path.startswith("artifacts/"):
                    found.add(path.replace("${item}", name) if name else path)
    return found


def test_dvc_yaml_reads_and_writes_where_the_layout_says():
    layout = Layout("artifacts")
    expected = {
        layout.synth,
        layout.data / "validated",
        layout.sample_prompts,
        layout.data_summary,
        layout.base_model,
        layout.evaluation("heldout") / "predictions.jsonl",
        layout.evaluation("heldout") / "report.md",
        layout.evaluation("heldout") / "headline.json",
        layout.evaluation("heldout") / "per_type.csv",
        layout.evaluation("sample-test") / "predictions.jsonl",
        layout.evaluation("sample-test") / "report.md",
        layout.evaluation("sample-test") / "headline.json",
    }
    for stage in ("pretrain", "sft", "align"):
        expected |= {layout.corpus(stage), layout.corpus_report(stage), layout.model(stage)}
        expected |= {layout.model_metrics(stage), layout.model_curve(stage)}
    assert {Path(p) for p in _dvc_paths()} == expected
