"""What the fault suite's child processes run: a tiny training stage that SIGKILLs itself on cue.

The children are forked from a forkserver that imported this module (and so torch and
transformers) once, so each costs a fork instead of a 15-second import. A kill is a real
SIGKILL sent by the child to itself at a chosen point:

- ``("step", n)``: right after optimizer step ``n`` (between saves);
- ``("save", n, point)``: inside the save of ``checkpoint-n``, at ``point``:
  ``weights-cut`` (model.safetensors half written), ``after-weights``, ``after-optimizer``,
  ``after-rng``, ``state-cut`` (trainer_state.json half written, the file the Trainer writes last)
  or ``rotating`` (checkpoint-n complete, an older one half deleted by rotation).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import torch
import transformers.trainer as hf_trainer
from transformers import Trainer, TrainerCallback
from transformers.trainer_callback import TrainerState

from knowcoder.config import StageTraining, TrainConfig
from knowcoder.training.trainer import train_stage

SAVE_POINTS = ("weights-cut", "after-weights", "after-optimizer", "after-rng", "state-cut", "rotating")
MAX_STEPS, SAVE_STEPS = 12, 2


def stage_config() -> StageTraining:
    return StageTraining(
        max_length=96,
        max_steps=MAX_STEPS,
        learning_rate=3e-3,
        warmup_ratio=0.0,
        batch_size=4,
        logging_steps=1,
        save_steps=SAVE_STEPS,
        save_total_limit=2,
    )


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _cut(path: Path) -> None:
    """Leave ``path`` half written, as a kill in the middle of writing it would."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


class KillAtStep(TrainerCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            _die()


def _arm_save_kill(step: int, point: str) -> None:
    """Patch the Trainer's checkpoint writers so that the save of ``checkpoint-<step>`` dies at ``point``."""

    def current(trainer_or_dir: Any) -> bool:
        return Path(str(trainer_or_dir)).name == f"checkpoint-{step}"

    save_model = Trainer.save_model
    save_optimizer = Trainer._save_optimizer_and_scheduler
    save_rng = Trainer._save_rng_state
    save_state = TrainerState.save_to_json
    rotate = hf_trainer.rotate_checkpoints

    def save_model_then(self, output_dir=None, _internal_call=False):
        save_model(self, output_dir, _internal_call)
        if output_dir and current(output_dir):
            if point == "weights-cut":
                _cut(Path(output_dir) / "model.safetensors")
                _die()
            if point == "after-weights":
                _die()

    def save_optimizer_then(self, output_dir):
        save_optimizer(self, output_dir)
        if current(output_dir) and point == "after-optimizer":
            _die()

    def save_rng_then(self, output_dir):
        save_rng(self, output_dir)
        if current(output_dir) and point == "after-rng":
            _die()

    def save_state_then(self, json_path):
        save_state(self, json_path)
        if current(Path(json_path).parent) and point == "state-cut":
            _cut(Path(json_path))
            _die()

    def rotate_then(output_dir, save_total_limit=None, **kwargs):
        if point == "rotating" and (Path(output_dir) / f"checkpoint-{step}").is_dir():
            older = sorted(
                (p for p in Path(output_dir).glob("checkpoint-*") if p.name != f"checkpoint-{step}"),
                key=lambda p: int(p.name.split("-")[1]),
            )
            if older:  # rotation removes the oldest: die half-way through deleting it
                files = sorted(older[0].iterdir())
                for path in files[: len(files) // 2 + 1]:
                    path.unlink() if path.is_file() else None
                _die()
        rotate(output_dir, save_total_limit=save_total_limit, **kwargs)

    Trainer.save_model = save_model_then
    Trainer._save_optimizer_and_scheduler = save_optimizer_then
    Trainer._save_rng_state = save_rng_then
    TrainerState.save_to_json = save_state_then
    hf_trainer.rotate_checkpoints = rotate_then


def train(
    root: str, base: str, corpus: str, name: str, kill: tuple | None = None, stage: str = "sft"
) -> None:
    """Train a tiny ``stage`` into ``root/name``; die as ``kill`` says (run in a child process)."""
    torch.set_num_threads(1)  # the same arithmetic in every child: bitwise comparable results
    callbacks: list[TrainerCallback] = []
    if kill is not None and kill[0] == "step":
        callbacks.append(KillAtStep(kill[1]))
    elif kill is not None:
        _arm_save_kill(kill[1], kill[2])
    out = Path(root) / name
    train_stage(
        stage,
        init_dir=base,
        corpus=Path(corpus),
        output_dir=out / "model",
        checkpoint_dir=out / "checkpoints",
        config=stage_config(),
        train=TrainConfig(seed=0),
        cache_dir=Path(root) / "cache",
        callbacks=callbacks,
    )
