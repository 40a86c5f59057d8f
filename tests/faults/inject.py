"""Faults planted in a ``knowcoder`` child process: it SIGKILLs itself at a chosen point.

Run as ``python -m tests.faults.inject POINT -- KNOWCODER ARGS``; ``POINT`` is
``train:<stage>:<step>`` (right after that optimizer step of that stage) or ``register``
(the model version exists, its aliases are not set yet).
"""

from __future__ import annotations

import os
import signal
import sys


def _die() -> None:
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def plant(point: str) -> None:
    if point.startswith("train:"):
        _, stage, step = point.split(":")
        from transformers import TrainerCallback

        import knowcoder.stages.train as training

        class KillAtStep(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                if state.global_step == int(step):
                    _die()

        run_stage = training.run_stage

        def run_stage_then_die(params, stage_, fingerprint_, callbacks=None):
            if stage_ == stage:
                callbacks = [*(callbacks or []), KillAtStep()]
            return run_stage(params, stage_, fingerprint_, callbacks=callbacks)

        training.run_stage = run_stage_then_die
    elif point == "register":
        import mlflow

        def die(*args, **kwargs):
            _die()

        mlflow.MlflowClient.set_registered_model_alias = die
    else:
        raise SystemExit(f"unknown fault point {point!r}")


if __name__ == "__main__":
    point, separator, *argv = sys.argv[1:]
    assert separator == "--"
    plant(point)
    from knowcoder.cli.main import main

    sys.exit(main(argv))
