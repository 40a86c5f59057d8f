"""IE scores during training: the dev evaluator, its schedule, and that it changes nothing trained."""

from __future__ import annotations

import json
import math

import pytest
from safetensors.torch import load_file

from knowcoder.artifacts import Layout
from knowcoder.config import load_params
from knowcoder.data.jsonl import read_instances
from knowcoder.errors import ConfigError
from knowcoder.schema.ontology import load_ontology
from knowcoder.stages.corpus import build_corpus
from knowcoder.stages.data import prepare_data
from knowcoder.stages.train import dev_evaluator, run_training
from knowcoder.training.dev import DevSchedule, sample_instances

from ..conftest import REPO

TINY = [
    "model.tiny.vocab_size=400",
    "model.tiny.hidden_size=32",
    "model.tiny.num_layers=1",
    "model.tiny.num_heads=2",
    "model.tiny.intermediate_size=64",
]


def _params(root, *extra):
    return load_params(  # the data paths resolve against the params file, from any folder
        REPO / "params.yaml",
        overrides=[
            f"paths.artifacts={root}",
            "data.synth.train=40",
            "data.synth.dev=12",
            "data.synth.test=4",
            *TINY,
            "train.pretrain.max_steps=2",
            "train.pretrain.batch_size=4",
            "train.sft.max_steps=3",
            "train.sft.batch_size=4",
            "train.sft.save_steps=10",
            "evaluation.max_new_tokens=24",
            *extra,
        ],
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The same sft stage twice from one pretrained model: with dev scoring every step, and without."""
    runs = {}
    for name, every in (("with", 1), ("without", 0)):
        root = tmp_path_factory.mktemp(f"dev-{name}")
        params = _params(
            root, f"train.dev.every={every}", "train.dev.sentences=3", "train.dev.max_new_tokens=24"
        )
        prepare_data(params)
        for stage in ("pretrain", "sft"):
            build_corpus(params, stage)
        run_training(params, "pretrain")
        runs[name] = (params, run_training(params, "sft"))
    return runs


def test_dev_scores_are_logged_at_every_scheduled_step(trained):
    _, result = trained["with"]
    metrics = json.loads(result.metrics_path.read_text())
    assert [point["step"] for point in metrics["dev_curve"]] == [1, 2, 3]
    for point in metrics["dev_curve"]:
        assert 0.0 <= point["dev/ner/f1"] <= 1.0
        assert math.isfinite(point["dev/loss"]) and point["dev/loss"] > 0
    assert metrics["dev_evaluations"] == 3
    assert metrics["dev_sentences"] == 6  # 3 per language, en and zh
    assert metrics["dev/ner/f1"] == metrics["dev_curve"][-1]["dev/ner/f1"]
    assert metrics["dev_eval_s"] > 0


def test_dev_scoring_changes_nothing_that_is_trained(trained):
    with_dev = load_file(str(trained["with"][1].model_dir / "model.safetensors"))
    without = load_file(str(trained["without"][1].model_dir / "model.safetensors"))
    assert with_dev.keys() == without.keys()
    for name, tensor in with_dev.items():
        assert tensor.equal(without[name]), name
    curve = json.loads(trained["with"][1].metrics_path.read_text())["curve"]
    reference = json.loads(trained["without"][1].metrics_path.read_text())["curve"]
    assert [p["loss"] for p in curve] == [p["loss"] for p in reference]


def _with_dev(params, **update):
    dev = params.train.dev.model_copy(update=update)
    return params.model_copy(update={"train": params.train.model_copy(update={"dev": dev})})


def test_off_by_default_and_only_for_its_stages(trained):
    params, result = trained["without"]
    metrics = json.loads(result.metrics_path.read_text())
    assert metrics["dev_curve"] == [] and "dev_evaluations" not in metrics
    on = _with_dev(params, every=5)
    assert dev_evaluator(on, "pretrain", Layout(on)) is None  # default stages: sft and align
    assert dev_evaluator(on, "sft", Layout(on)) is not None


def test_the_training_split_is_refused_as_dev_split(trained):
    params, _ = trained["with"]
    bad = _with_dev(params, split="train")
    with pytest.raises(
        ConfigError, match=r"train\.dev\.split 'train' is the split the corpora are built from"
    ):
        dev_evaluator(bad, "sft", Layout(bad))


def test_sample_is_the_first_annotated_sentences_per_language(trained):
    params, _ = trained["with"]
    ontology = load_ontology(params.paths.ontology)
    dev = [i for i in read_instances(Layout(params).validated("synth")) if i.split == "dev"]
    sample = sample_instances(dev, 2, ["ner"], ontology)
    assert [i.lang for i in sample].count("en") == 2 and [i.lang for i in sample].count("zh") == 2
    assert sample == sample_instances(dev, 2, ["ner"], ontology)
    first_en = next(i for i in dev if i.lang == "en" and i.entities)
    assert sample[[i.lang for i in sample].index("en")] == first_en


class _State:
    def __init__(self, step, max_steps):
        self.global_step, self.max_steps = step, max_steps


class _Control:
    should_evaluate = False


@pytest.mark.parametrize(("every", "steps"), [(4, [4, 8, 10]), (3, [3, 6, 9, 10]), (20, [10])])
def test_schedule_asks_every_n_steps_and_at_the_end(every, steps):
    schedule = DevSchedule(every)
    asked = []
    for step in range(1, 11):
        control = schedule.on_step_end(None, _State(step, 10), _Control())
        if control.should_evaluate:
            asked.append(step)
    assert asked == steps
