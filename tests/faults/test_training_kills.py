"""SIGKILL a training stage at seeded points, during saves too, then resume: the weights match.

Each case forks a child (from a forkserver that imported torch once) that trains the tiny sft
stage and kills itself with SIGKILL at its cue; a second child resumes in the same folders. The
resumed model must equal, bit for bit, the model of an uninterrupted run.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import signal
from pathlib import Path

import pytest
from safetensors.torch import load_file

from knowcoder.data.jsonl import write_jsonl
from knowcoder.modeling.tiny import build_tiny_model, save_model_dir
from knowcoder.modeling.tokenizer import train_tokenizer

from . import workers

pytestmark = [pytest.mark.fault, pytest.mark.slow]

NAMES = ["Ada Park", "Li Ming", "Acme Corp", "Bo Chen", "Kai Sun", "Mia Roth", "Zed Labs", "Ivo Hart"]
SAVES = list(range(workers.SAVE_STEPS, workers.MAX_STEPS + 1, workers.SAVE_STEPS))


def _rows() -> list[dict[str, str]]:
    rows = []
    for i, name in enumerate(NAMES * 2):
        kind = "Organization" if name in ("Acme Corp", "Zed Labs") else "Person"
        prompt = f'class {kind}(Entity):\n    pass\nsentence = "{name} met us {i}."\nOutput:\n'
        rows.append({"prompt": prompt, "target": f'results = [{kind}("{name}")]'})
    return rows


def save_kills(count: int = 10) -> list[tuple[str, int, str]]:
    """``count`` seeded kills inside a save, every save point covered."""
    cases = []
    for seed in range(count):
        rng = random.Random(seed)
        point = workers.SAVE_POINTS[seed % len(workers.SAVE_POINTS)]
        # rotation starts once save_total_limit (2) checkpoints exist
        steps = SAVES[2:] if point == "rotating" else SAVES
        cases.append(("save", rng.choice(steps), point))
    return cases


def step_kills(count: int = 3) -> list[tuple[str, int]]:
    rng = random.Random(1000)
    return [("step", rng.randrange(1, workers.MAX_STEPS)) for _ in range(count)]


@pytest.fixture(scope="module")
def context():
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["tests.faults.workers"])
    return ctx


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, context):
    root = tmp_path_factory.mktemp("kills")
    rows = _rows()
    texts = [r["prompt"] + r["target"] for r in rows] * 3
    tokenizer = train_tokenizer(texts, vocab_size=320, min_frequency=1)
    model = build_tiny_model(
        tokenizer, hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64, seed=0
    )
    save_model_dir(model, tokenizer, root / "base")
    write_jsonl(root / "sft.jsonl", rows)
    write_jsonl(root / "pretrain.jsonl", [{"text": text} for text in texts])
    space = {"root": str(root), "base": str(root / "base"), "corpus": str(root / "sft.jsonl")}
    assert child(context, space, "reference") == 0
    assert child(context, space, "reference-pretrain", stage="pretrain") == 0
    return space


def child(context, space: dict[str, str], name: str, kill: tuple | None = None, stage: str = "sft") -> int:
    corpus = space["corpus"] if stage == "sft" else str(Path(space["root"]) / "pretrain.jsonl")
    process = context.Process(
        target=workers.train, args=(space["root"], space["base"], corpus, name, kill, stage)
    )
    process.start()
    process.join(timeout=300)
    assert process.exitcode is not None, f"{name} hung"
    return process.exitcode


def weights(space: dict[str, str], name: str):
    return load_file(str(Path(space["root"]) / name / "model" / "model.safetensors"))


def assert_same_weights(space, name, reference_name="reference"):
    reference, resumed = weights(space, reference_name), weights(space, name)
    assert reference.keys() == resumed.keys()
    for key, tensor in reference.items():
        assert tensor.equal(resumed[key]), f"{name}: {key} differs from the uninterrupted run"


def metrics(space, name) -> dict:
    return json.loads((Path(space["root"]) / name / "model.metrics.json").read_text())


@pytest.mark.parametrize("kill", save_kills(), ids=lambda k: f"{k[2]}@{k[1]}")
def test_a_kill_during_a_save_resumes_from_the_last_complete_checkpoint(context, workspace, kill):
    _, step, point = kill
    name = f"save-{point}-{step}"
    # given a stage killed by SIGKILL while it wrote checkpoint-<step>
    assert child(context, workspace, name, kill) == -signal.SIGKILL
    checkpoints = Path(workspace["root"]) / name / "checkpoints"
    assert not (Path(workspace["root"]) / name / "model").exists()
    # when it is started again
    assert child(context, workspace, name) == 0
    # then it resumed from the newest complete checkpoint, removed the broken one, and ended
    # exactly where the uninterrupted run did
    resumed = metrics(workspace, name)
    if point == "rotating":  # checkpoint-<step> was complete; the one being deleted was not
        assert resumed["resumed_from"] == str(checkpoints / f"checkpoint-{step}")
        assert resumed["discarded_checkpoints"] == [f"checkpoint-{step - 2 * workers.SAVE_STEPS}"]
    else:
        before = step - workers.SAVE_STEPS
        assert resumed["resumed_from"] == (str(checkpoints / f"checkpoint-{before}") if before else None)
        assert resumed["discarded_checkpoints"] == [f"checkpoint-{step}"]
    assert resumed["steps"] == workers.MAX_STEPS
    assert_same_weights(workspace, name)


@pytest.mark.parametrize("kill", step_kills(), ids=lambda k: f"step{k[1]}")
def test_a_kill_between_saves_resumes_and_ends_bitwise_equal(context, workspace, kill):
    name = f"step-{kill[1]}"
    assert child(context, workspace, name, kill) == -signal.SIGKILL
    assert child(context, workspace, name) == 0
    resumed = metrics(workspace, name)
    last_save = (kill[1] - 1) // workers.SAVE_STEPS * workers.SAVE_STEPS  # saves come after on_step_end
    expected = str(Path(workspace["root"]) / name / "checkpoints" / f"checkpoint-{last_save}")
    assert resumed["resumed_from"] == (expected if last_save else None)
    assert resumed["discarded_checkpoints"] == []
    assert_same_weights(workspace, name)


def test_a_packed_pretraining_stage_killed_mid_epoch_ends_bitwise_equal(context, workspace):
    # pretraining packs documents and samples at random: its resume must be exact as well
    assert child(context, workspace, "pretrain-step-5", ("step", 5), stage="pretrain") == -signal.SIGKILL
    assert child(context, workspace, "pretrain-step-5", stage="pretrain") == 0
    assert metrics(workspace, "pretrain-step-5")["resumed_from"].endswith("checkpoint-4")
    assert_same_weights(workspace, "pretrain-step-5", "reference-pretrain")
