"""The pipeline's console: plain progress lines, the summary table, where library output goes."""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys
import time
import warnings

import pytest

from knowcoder import console

# 2026-01-02 03:04:05 in local time: the lines show the local clock
AT = time.mktime((2026, 1, 2, 3, 4, 5, 0, 0, -1))


class Clock:
    def __init__(self, start: float = AT) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def test_a_progress_line_names_the_stage_its_place_the_step_loss_and_time_left():
    line = console.progress_line(AT, 3, 7, "pretrain", 20, 200, loss=5.99312, eta_s=70.4)
    assert line == "03:04:05 [3/7] pretrain  step 20/200 (10%)  loss 5.9931  eta 1m10s"


def test_an_evaluation_line_counts_batches_and_has_no_loss():
    line = console.progress_line(AT, 6, 7, "evaluate", 1, 3, unit="batch", eta_s=None)
    assert line == "03:04:05 [6/7] evaluate  batch 1/3 (33%)  eta ?"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.04, "0.0s"), (5.55, "5.5s"), (42.4, "42s"), (60, "1m00s"), (245, "4m05s"), (3725, "1h02m")],
)
def test_durations(seconds, shown):
    assert console.format_duration(seconds) == shown


def test_the_plain_display_prints_start_end_and_at_most_one_line_per_tenth():
    # given a stage of 100 steps, reported at every step, one second apart
    stream, clock = io.StringIO(), Clock()
    display = console.PlainDisplay(stream, clock=clock)
    display.begin(["data", "pretrain"])
    display.stage_started("pretrain")
    for step in range(101):
        display.progress(step, 100, loss=2.0)
        clock.now += 1
    display.stage_finished("pretrain", 100.0, cached=False)
    lines = stream.getvalue().splitlines()
    # then: the start, nine progress lines (10% .. 90%; the end has its own line), the end
    assert lines[0] == "03:04:05 [2/2] pretrain  started"
    assert [line.split("  ")[1] for line in lines[1:-1]] == [
        f"step {p}/100 ({p}%)" for p in range(10, 100, 10)
    ]
    assert lines[1] == "03:04:15 [2/2] pretrain  step 10/100 (10%)  loss 2.0000  eta 1m30s"
    assert lines[-1] == "03:05:46 [2/2] pretrain  done in 1m40s"
    assert len(lines) == 11


def test_a_cached_stage_says_so_with_the_time_it_took_when_it_ran():
    stream = io.StringIO()
    display = console.PlainDisplay(stream, clock=Clock())
    display.begin(["data"])
    display.stage_started("data")
    display.stage_finished("data", 5.6, cached=True)
    assert stream.getvalue().splitlines()[-1] == "03:04:05 [1/1] data      cached (took 5.6s when it ran)"


def test_a_failed_stage_is_named_when_the_display_closes():
    stream = io.StringIO()
    display = console.PlainDisplay(stream, clock=Clock())
    display.begin(["sft"])
    display.stage_started("sft")
    display.close(failed=True)
    assert stream.getvalue().splitlines()[-1] == "03:04:05 [1/1] sft       failed"


def test_the_summary_shows_every_stage_the_scores_with_intervals_and_where_to_look(tmp_path):
    summary = {
        "stages": {"data": {"wall_s": 5.58, "cached": True}, "evaluate": {"wall_s": 12.0, "cached": False}},
        "wall_s": 17.6,
        "mlflow_run": "http://127.0.0.1:5000/#/experiments/1/runs/abc",
        "mlflow_ui": "mlflow ui --backend-store-uri sqlite:///mlflow.db",
        "registry": {
            "name": "knowcoder-ie",
            "version": "3",
            "uri": "models:/knowcoder-ie/3",
            "champion": False,
        },
        "promotion": "ner.f1 fell 0.05 below the champion's",
    }
    scores = {
        "ner.f1": 0.52,
        "ner.f1.ci_low": 0.45,
        "ner.f1.ci_high": 0.59,
        "ner.lang.en.f1": 0.6,
        "re.f1": 0.1,
        "re.lang.en.f1": 0.1,
        "re.lang.zh.f1": 0.0,
        "ner.lang.zh.f1": 0.44,
    }
    text = console.summary_table(
        summary,
        scores=scores,
        tasks=["ner", "re"],
        suite="heldout",
        report=tmp_path / "report.html",
        log_file=tmp_path / "pipeline.log",
    )
    lines = text.splitlines()
    assert lines[0] == "Pipeline finished in 18s"
    assert "  data      cached (took 5.6s when it ran)" in lines
    assert "  evaluate  done in 12s" in lines
    assert "  task  F1     95% CI          F1 en  F1 zh" in lines
    assert "  ner   0.520  [0.450, 0.590]  0.600  0.440" in lines
    assert "  re    0.100  -               0.100  0.000" in lines
    assert (
        "Model:    models:/knowcoder-ie/3 (version 3, @challenger; ner.f1 fell 0.05 below the champion's)"
        in lines
    )
    assert f"Report:   {tmp_path / 'report.html'}" in lines
    assert f"Log:      {tmp_path / 'pipeline.log'}" in lines
    assert any(line.startswith("MLflow:   mlflow ui --backend-store-uri") for line in lines)


def test_scores_without_intervals_have_no_interval_column():
    rows = console.score_rows({"ed.f1": 0.25, "ner.f1": 0.5}, tasks=["ner", "re", "ed"])
    assert rows == [["task", "F1"], ["ner", "0.500"], ["ed", "0.250"]]


def test_inside_the_console_library_output_goes_to_the_log_file_and_comes_back_after(tmp_path):
    # given a console open on a display stream that is not a terminal
    stream, log_file = io.StringIO(), tmp_path / "logs" / "pipeline.log"
    handlers_before = list(logging.getLogger().handlers)
    stdout_before = sys.stdout
    with console.pipeline_console(log_file, stream) as display:
        # when the libraries print, log and warn
        assert isinstance(display, console.PlainDisplay) and console.current() is display
        print("{'loss': '5.994', 'learning_rate': '0'}")
        print("Generating train split: 54 examples", file=sys.stderr)
        logging.getLogger("transformers.trainer").warning("a transformers warning")
        logging.getLogger("mlflow.store").warning("an mlflow warning")
        logging.getLogger("knowcoder.stages").info("resuming sft from checkpoint-1")
        logging.getLogger("prefect.flow_runs").warning("the cached registration is gone")
        warnings.warn("dataset source can be interpreted in multiple ways", UserWarning, stacklevel=1)
        os.write(2, b"written to descriptor 2 by a C extension\n")
        subprocess.run([sys.executable, "-c", "print('a worker process prints')"], check=True)
    # then the display has only the pipeline's own warning, the file has all of it
    assert stream.getvalue() == "warning: the cached registration is gone\n"
    text = log_file.read_text(encoding="utf-8")
    for line in (
        "{'loss': '5.994'",
        "Generating train split",
        "a transformers warning",
        "an mlflow warning",
        "resuming sft from checkpoint-1",
        "the cached registration is gone",
        "UserWarning: dataset source can be interpreted",
        "written to descriptor 2 by a C extension",
        "a worker process prints",
    ):
        assert line in text
    # and afterwards everything is as it was
    assert console.current() is console.NULL_DISPLAY
    assert logging.getLogger().handlers == handlers_before
    assert sys.stdout is stdout_before


def test_track_reports_evaluation_batches_to_the_open_display(tmp_path):
    stream = io.StringIO()
    with console.pipeline_console(tmp_path / "pipeline.log", stream) as display:
        display.begin(["evaluate"])
        display.stage_started("evaluate")
        assert list(console.track([[0, 1], [2], [3]], "generate")) == [[0, 1], [2], [3]]
    assert [line.split("  ")[1] for line in stream.getvalue().splitlines()[1:]] == [
        "batch 1/3 (33%)",
        "batch 2/3 (66%)",
    ]


def test_without_an_open_display_there_are_no_training_callbacks_and_track_is_tqdm():
    from tqdm import tqdm

    assert console.training_callbacks() == []
    assert isinstance(console.track([1, 2], "generate"), tqdm)


def test_the_training_callback_stands_in_for_the_trainers_printers_and_reports_steps(tmp_path):
    from transformers import PrinterCallback, ProgressCallback, TrainerControl, TrainerState

    stream = io.StringIO()
    with console.pipeline_console(tmp_path / "pipeline.log", stream) as display:
        display.begin(["sft"])
        display.stage_started("sft")
        (callback,) = console.training_callbacks()
        assert set(callback.replaces) == {ProgressCallback, PrinterCallback}
        state, control = TrainerState(max_steps=4, global_step=0), TrainerControl()
        callback.on_train_begin(None, state, control)
        for step in range(1, 5):
            state.global_step = step
            control.should_log = True
            callback.on_step_end(None, state, control)
            callback.on_log(None, state, control, logs={"loss": 4.0 - step, "learning_rate": 0.001})
    # each line with the loss of its own step (the time left depends on this machine's speed)
    progress = [line.split(" sft ")[1].split("  eta")[0].strip() for line in stream.getvalue().splitlines()]
    assert progress == [
        "started",
        "step 1/4 (25%)  loss 3.0000",
        "step 2/4 (50%)  loss 2.0000",
        "step 3/4 (75%)  loss 1.0000",
    ]
    assert "sft step 2: {'loss': 2.0, 'learning_rate': 0.001}" in (tmp_path / "pipeline.log").read_text()


def test_the_terminal_display_draws_a_row_per_stage_with_steps_loss_and_outcome():
    stream = io.StringIO()
    display = console.RichDisplay(stream)
    display.begin(["pretrain", "evaluate"])
    display.stage_started("pretrain")
    display.progress(1, 2, loss=5.99)
    display.progress(2, 2, loss=5.98)
    display.stage_finished("pretrain", 3.6, cached=False)
    display.stage_started("evaluate")
    display.progress(1, 3, unit="batch")
    display.close(failed=True)
    final = [line.rstrip() for line in stream.getvalue().splitlines()[-2:]]  # no terminal: the last frame
    assert re.match(r"\[1/2\] pretrain .* 2/2 steps +loss 5\.9800 .* done in 3\.6s$", final[0])
    assert re.match(r"\[2/2\] evaluate .* 1/3 batches .* failed$", final[1])
