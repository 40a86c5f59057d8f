"""The pipeline's console: one progress display, library output in a log file, a summary table.

While a :func:`pipeline_console` is open, the console shows only what the pipeline says: which
stage runs (``[3/7] pretrain``), its step, loss and time left, Prefect's warnings and errors, and
at the end a summary table. Everything the libraries print or log (Hugging Face log dicts and
progress bars, ``datasets``, MLflow, Prefect's INFO lines, Python warnings) goes to a log file.

On a terminal the display is a live ``rich`` progress table; anywhere else (a pipe, a CI log) it
is plain lines: one when a stage starts and one when it ends, and for a long stage a line at
most every tenth of the way.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import re
import sys
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from knowcoder.artifacts import Layout

log = logging.getLogger(__name__)

#: loggers whose own console handlers give way to the log file while the display is open
LIBRARY_LOGGERS = (
    "transformers",
    "datasets",
    "mlflow",
    "prefect",
    "urllib3",
    "torch",
    "alembic",
    "huggingface_hub",
    "httpx",
    "sqlalchemy",
    "huey",
)
#: loggers whose warnings and errors stay on the console (every other library's go to the file)
OWN_LOGGERS = ("prefect", "knowcoder", "flows")
#: chatty at INFO (one line per HTTP request to the Prefect server): warnings only, even in the file
QUIET_LOGGERS = ("httpx", "httpcore")
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(source)s: %(message)s"


# ---- formatting -----------------------------------------------------------------------------
def format_duration(seconds: float | None) -> str:
    """``7s``, ``4m05s``, ``1h02m``; ``?`` when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "?"
    whole = round(seconds)
    if whole < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def stage_label(index: int, count: int, stage: str) -> str:
    """``[3/7] pretrain``, padded so that the columns after it line up."""
    return f"[{index}/{count}] {stage:<8}"


def progress_line(
    at: float,
    index: int,
    count: int,
    stage: str,
    done: int,
    total: int,
    *,
    unit: str = "step",
    loss: float | None = None,
    eta_s: float | None = None,
) -> str:
    """One plain progress line: ``04:46:23 [3/7] pretrain  step 20/200 (10%)  loss 5.9930  eta 1m10s``."""
    percent = 100 * done // total if total else 0
    parts = [f"{time.strftime('%H:%M:%S', time.localtime(at))} {stage_label(index, count, stage)}"]
    parts.append(f"{unit} {done}/{total} ({percent}%)")
    if loss is not None:
        parts.append(f"loss {loss:.4f}")
    parts.append(f"eta {format_duration(eta_s)}")
    return "  ".join(parts)


def event_line(at: float, index: int, count: int, stage: str, event: str) -> str:
    """A stage's start or end: ``04:46:23 [3/7] pretrain  done in 2.4s``."""
    return f"{time.strftime('%H:%M:%S', time.localtime(at))} {stage_label(index, count, stage)}  {event}"


def finished_event(wall_s: float, cached: bool) -> str:
    return (
        f"cached (took {format_duration(wall_s)} when it ran)"
        if cached
        else f"done in {format_duration(wall_s)}"
    )


# ---- displays -------------------------------------------------------------------------------
class Display:
    """What the pipeline reports to; this base shows nothing (the console as the libraries leave it)."""

    active = False

    def __init__(self) -> None:
        self.stages: list[str] = []
        self.current: str | None = None

    def begin(self, stages: Sequence[str]) -> None:
        self.stages = list(stages)

    def stage_started(self, stage: str) -> None:
        self.current = stage

    def stage_finished(self, stage: str, wall_s: float, cached: bool) -> None:
        self.current = None

    def progress(self, done: int, total: int, *, unit: str = "step", loss: float | None = None) -> None:
        """The running stage has done ``done`` of ``total`` units (training steps, evaluation batches)."""

    def message(self, text: str) -> None:
        """A line for the user (a warning, an error, the summary)."""

    def close(self, failed: bool = False) -> None:
        """Stop the display; ``failed``: the running stage did not finish."""

    def position(self, stage: str) -> tuple[int, int]:
        index = self.stages.index(stage) + 1 if stage in self.stages else len(self.stages) + 1
        return index, max(len(self.stages), index)


class PlainDisplay(Display):
    """Plain lines, for pipes and CI logs: start and end of each stage, progress every tenth at most."""

    active = True
    STEPS = 10

    def __init__(self, stream: IO[str], clock: Any = time.time) -> None:
        super().__init__()
        self.stream = stream
        self.clock = clock
        self._started: tuple[float, int] | None = None  # (time, units done) at the first report
        self._shown = 0  # tenths already reported for the running stage

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def stage_started(self, stage: str) -> None:
        super().stage_started(stage)
        self._started, self._shown = None, 0
        self._write(event_line(self.clock(), *self.position(stage), stage, "started"))

    def stage_finished(self, stage: str, wall_s: float, cached: bool) -> None:
        super().stage_finished(stage, wall_s, cached)
        self._write(event_line(self.clock(), *self.position(stage), stage, finished_event(wall_s, cached)))

    def progress(self, done: int, total: int, *, unit: str = "step", loss: float | None = None) -> None:
        if self.current is None or total <= 0:
            return
        now = self.clock()
        if self._started is None or done < self._started[1]:
            self._started = (now, done)
        tenths = self.STEPS * done // total
        if done >= total or tenths <= self._shown:
            return
        self._shown = tenths
        eta = _eta(self._started, now, done, total)
        line = progress_line(
            now, *self.position(self.current), self.current, done, total, unit=unit, loss=loss, eta_s=eta
        )
        self._write(line)

    def message(self, text: str) -> None:
        self._write(text)

    def close(self, failed: bool = False) -> None:
        if failed and self.current is not None:
            self._write(event_line(self.clock(), *self.position(self.current), self.current, "failed"))
        self.current = None


def _eta(started: tuple[float, int], now: float, done: int, total: int) -> float | None:
    at, first = started
    if done <= first or now <= at:
        return None
    return (now - at) / (done - first) * (total - done)


PLURALS = {"batch": "batches"}


class RichDisplay(Display):
    """A live ``rich`` table on a terminal: a row per stage with its bar, step/total, loss and time left."""

    active = True

    def __init__(self, stream: IO[str]) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskID,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        super().__init__()
        self.console = Console(file=stream, highlight=False)
        self.bars = Progress(
            TextColumn("{task.fields[label]}"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"),
            TextColumn("{task.fields[loss]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"),
            console=self.console,
            redirect_stdout=False,  # stdout and stderr already go to the log file
            redirect_stderr=False,
        )
        self.rows: dict[str, TaskID] = {}

    def begin(self, stages: Sequence[str]) -> None:
        super().begin(stages)
        self.bars.start()

    def stage_started(self, stage: str) -> None:
        super().stage_started(stage)
        label = stage_label(*self.position(stage), stage)
        self.rows[stage] = self.bars.add_task(stage, total=None, label=label, unit="", loss="", status="")

    def stage_finished(self, stage: str, wall_s: float, cached: bool) -> None:
        super().stage_finished(stage, wall_s, cached)
        row = self.rows.get(stage)
        if row is None:
            return
        total = self.bars.tasks[row].total or 1
        self.bars.update(row, total=total, completed=total, status=finished_event(wall_s, cached))
        self.bars.stop_task(row)

    def progress(self, done: int, total: int, *, unit: str = "step", loss: float | None = None) -> None:
        row = self.rows.get(self.current or "")
        if row is None or total <= 0:
            return
        fields: dict[str, Any] = {"unit": PLURALS.get(unit, f"{unit}s")}
        if loss is not None:
            fields["loss"] = f"loss {loss:.4f}"
        self.bars.update(row, total=total, completed=min(done, total), **fields)

    def message(self, text: str) -> None:
        self.bars.console.print(text, markup=False, highlight=False)

    def close(self, failed: bool = False) -> None:
        row = self.rows.get(self.current or "")
        if failed and row is not None:
            self.bars.update(row, status="failed")
            self.bars.stop_task(row)
        self.bars.stop()
        self.current = None


NULL_DISPLAY = Display()
_current: Display = NULL_DISPLAY


def current() -> Display:
    """The open display, or one that shows nothing (``--verbose``, a flow called from Python)."""
    return _current


def is_terminal(stream: IO[str]) -> bool:
    """Whether ``stream`` is an interactive terminal that can redraw a live display."""
    from rich.console import Console

    return Console(file=stream).is_terminal and os.environ.get("TERM") != "dumb"


# ---- the progress of training and evaluation ------------------------------------------------
def training_callbacks() -> list[Any]:
    """Trainer callbacks that report to the open display (none when nothing is open)."""
    display = current()
    if not display.active:
        return []
    return [_training_progress_type()(display)]


@functools.cache
def _training_progress_type() -> type:
    from transformers import PrinterCallback, ProgressCallback, TrainerCallback

    class TrainingProgress(TrainerCallback):
        """Step, total and loss of a training stage, for the display; each log dict to the log file."""

        #: the Trainer's own printers, which the display stands in for (``train_stage`` removes them)
        replaces = (ProgressCallback, PrinterCallback)

        def __init__(self, display: Display) -> None:
            self.display = display
            self.loss: float | None = None

        def on_train_begin(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                self.display.progress(state.global_step, state.max_steps, loss=self.loss)

        def on_step_end(self, args, state, control, **kwargs):
            # a step that logs is reported by on_log, with its own loss rather than the last one
            if state.is_world_process_zero and not control.should_log:
                self.display.progress(state.global_step, state.max_steps, loss=self.loss)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs:
                return
            log.info("%s step %d: %s", self.display.current, state.global_step, logs)
            if "loss" in logs:
                self.loss = float(logs["loss"])
                self.display.progress(state.global_step, state.max_steps, loss=self.loss)

    return TrainingProgress


def track(items: Sequence[Any], description: str, unit: str = "batch") -> Iterable[Any]:
    """``items``, reported to the open display as they are consumed; a tqdm bar when none is open."""
    display = current()
    if not display.active:
        from tqdm import tqdm

        return tqdm(items, desc=description, unit=f" {unit}", disable=None)
    return _reported(items, display, unit)


def _reported(items: Sequence[Any], display: Display, unit: str) -> Iterator[Any]:
    total = len(items)
    display.progress(0, total, unit=unit)
    for done, item in enumerate(items, 1):
        yield item
        display.progress(done, total, unit=unit)


# ---- where library output goes ---------------------------------------------------------------
class DisplayHandler(logging.Handler):
    """The pipeline's own warnings and errors, one line each, on the display (tracebacks: the file)."""

    def __init__(self, display: Display) -> None:
        super().__init__(logging.WARNING)
        self.display = display
        self.addFilter(lambda record: record.name.split(".")[0] in OWN_LOGGERS)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            first = record.getMessage().strip().splitlines()[0] if record.getMessage().strip() else ""
            self.display.message(f"{record.levelname.lower()}: {first}")
        except Exception:  # logging must never raise into the pipeline
            self.handleError(record)


class LogFormatter(logging.Formatter):
    """The log file's lines: time, level, logger, and for Prefect the flow or task run it belongs to."""

    def format(self, record: logging.LogRecord) -> str:
        run = getattr(record, "task_run_name", None) or getattr(record, "flow_run_name", None)
        record.source = f"{record.name} {run!r}" if run else record.name
        return super().format(record)


class _Routing:
    """Moves console handlers of the root and library loggers to the log file, and back."""

    def __init__(self, log_file: IO[str], display: Display) -> None:
        self.file_handler = logging.StreamHandler(log_file)
        self.file_handler.setFormatter(LogFormatter(LOG_FORMAT))
        self.display_handler = DisplayHandler(display)
        self.saved: list[tuple[logging.Logger, list[logging.Handler], bool, int]] = []
        self.progress_bars: list[Any] = []
        self.environ: dict[str, str | None] = {}
        self.showwarning = warnings.showwarning

    def start(self) -> None:
        import datasets
        import mlflow  # noqa: F401 - configures its logger on import: strip it after that
        import transformers.utils.logging as hf_logging

        root = logging.getLogger()
        self._save(root)
        root.handlers = [h for h in root.handlers if not _is_console(h)]
        root.addHandler(self.file_handler)
        root.addHandler(self.display_handler)
        own = logging.getLogger("knowcoder")
        self._save(own)
        if own.level == logging.NOTSET:  # the pipeline's INFO lines (a resumed checkpoint, log dicts)
            own.setLevel(logging.INFO)
        for name in LIBRARY_LOGGERS:
            logger = logging.getLogger(name)
            self._save(logger)
            logger.handlers = [h for h in logger.handlers if not _is_console(h)]
            logger.propagate = True
        for name in QUIET_LOGGERS:
            logger = logging.getLogger(name)
            self._save(logger)
            logger.setLevel(max(logger.level, logging.WARNING))
        # Python warnings as log records (py.warnings), whoever hooked them before: logging's own
        # captureWarnings does nothing when a library already turned it on
        self.showwarning = warnings.showwarning
        warnings.showwarning = _warning_to_log
        if hf_logging.is_progress_bar_enabled():
            hf_logging.disable_progress_bar()
            self.progress_bars.append(hf_logging.enable_progress_bar)
        if not datasets.are_progress_bars_disabled():
            datasets.disable_progress_bars()
            self.progress_bars.append(datasets.enable_progress_bars)
        self.environ = {
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": os.environ.get("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
        }
        os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"

    def _save(self, logger: logging.Logger) -> None:
        self.saved.append((logger, list(logger.handlers), logger.propagate, logger.level))

    def stop(self) -> None:
        warnings.showwarning = self.showwarning
        for logger, handlers, propagate, level in reversed(self.saved):
            logger.handlers = handlers
            logger.propagate = propagate
            logger.setLevel(level)
        for enable in self.progress_bars:
            enable()
        for key, value in self.environ.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self.file_handler.flush()


def _warning_to_log(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """``warnings.showwarning`` while the console is open: the warning goes to the log file."""
    text = warnings.formatwarning(message, category, filename, lineno, line)
    logging.getLogger("py.warnings").warning("%s", text.rstrip())


def _is_console(handler: logging.Handler) -> bool:
    """A handler that writes to a stream: the terminal, in practice (a file handler is not one).

    Libraries hold stderr in many ways (the object itself, ``ext://sys.stderr``, MLflow's stream
    that looks ``sys.stderr`` up at each write), so every plain stream handler counts.
    """
    return isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler)


def log_path_for(artifacts: str | Path, now: float | None = None) -> Path:
    """``<artifacts>/logs/pipeline-<YYYYmmdd-HHMMSS>.log``."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if now is None else now))
    return Layout(artifacts).logs / f"pipeline-{stamp}.log"


@contextlib.contextmanager
def pipeline_console(log_path: Path, stream: IO[str] | None = None) -> Iterator[Display]:
    """Open the display on ``stream`` (stderr) and send all other output to ``log_path``.

    Inside, ``sys.stdout`` and ``sys.stderr`` and the process's descriptors 1 and 2 are the log
    file: whatever a library, a C extension or a child process (a Dask worker) prints lands
    there. On leaving, every handler, stream and progress-bar switch is as it was.
    """
    global _current
    stream = stream if stream is not None else sys.stderr
    log_path.parent.mkdir(parents=True, exist_ok=True)
    terminal = is_terminal(stream)
    failed = False
    with (
        open(log_path, "a", encoding="utf-8", buffering=1) as log_file,
        _output_to(log_file, stream) as shown,
    ):
        display: Display = RichDisplay(shown) if terminal else PlainDisplay(shown)
        routing = _Routing(log_file, display)
        routing.start()
        _current = display
        try:
            with contextlib.redirect_stdout(log_file), contextlib.redirect_stderr(log_file):
                yield display
        except BaseException:
            failed = True
            raise
        finally:
            _current = NULL_DISPLAY
            display.close(failed=failed)
            routing.stop()


@contextlib.contextmanager
def _output_to(log_file: IO[str], stream: IO[str]) -> Iterator[IO[str]]:
    """Point descriptors 1 and 2 at ``log_file``; yield where the display writes.

    That is ``stream`` itself, or, when ``stream`` is the process's stdout or stderr, a copy of
    its descriptor as it was before.
    """
    for handle in (sys.stdout, sys.stderr, stream):
        with contextlib.suppress(AttributeError, OSError, ValueError):
            handle.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    try:
        number: int | None = stream.fileno()
    except (AttributeError, OSError, ValueError):  # a StringIO, a captured stream
        number = None
    shown = stream
    if number in saved:
        encoding = getattr(stream, "encoding", None) or "utf-8"
        shown = open(os.dup(saved[number]), "w", encoding=encoding, buffering=1)  # noqa: SIM115
    for fd in saved:
        os.dup2(log_file.fileno(), fd)
    try:
        yield shown
    finally:
        log_file.flush()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        if shown is not stream:
            shown.close()


# ---- the summary ----------------------------------------------------------------------------
_TASK_F1 = re.compile(r"^(?P<task>[^.]+)\.f1$")
_LANG_F1 = re.compile(r"^(?P<task>[^.]+)\.lang\.(?P<lang>[^.]+)\.f1$")


def read_scores(path: Path) -> dict[str, float]:
    """The numbers of an evaluation's ``headline.json`` (empty when it is missing or unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: float(v) for k, v in data.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def _interval(scores: Mapping[str, float], prefix: str) -> tuple[float, float] | None:
    for low, high in (
        (f"{prefix}.f1.ci_low", f"{prefix}.f1.ci_high"),
        (f"{prefix}.f1_ci_low", f"{prefix}.f1_ci_high"),
    ):
        if low in scores and high in scores:
            return scores[low], scores[high]
    return None


def score_rows(scores: Mapping[str, float], tasks: Sequence[str] = ()) -> list[list[str]]:
    """Header and a row per task: F1, its 95% interval when the scores carry one, F1 per language."""
    found = [m["task"] for key in scores if (m := _TASK_F1.match(key))]
    ordered = [t for t in tasks if t in found] + [t for t in found if t not in tasks]
    langs = sorted({m["lang"] for key in scores if (m := _LANG_F1.match(key)) and m["task"] in ordered})
    with_ci = any(_interval(scores, task) for task in ordered)
    header = ["task", "F1", *(["95% CI"] if with_ci else []), *(f"F1 {lang}" for lang in langs)]
    rows = [header]
    for task in ordered:
        row = [task, f"{scores[f'{task}.f1']:.3f}"]
        if with_ci:
            interval = _interval(scores, task)
            row.append(f"[{interval[0]:.3f}, {interval[1]:.3f}]" if interval else "-")
        for lang in langs:
            value = scores.get(f"{task}.lang.{lang}.f1")
            row.append("-" if value is None else f"{value:.3f}")
        rows.append(row)
    return rows


def _columns(rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(max(map(len, rows)))]
    return [indent + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]


def shown_path(path: str | Path) -> str:
    """A path relative to the working directory when it lies below it."""
    path = Path(path)
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    return str(path)


def summary_table(
    summary: Mapping[str, Any],
    *,
    scores: Mapping[str, float],
    tasks: Sequence[str] = (),
    suite: str = "",
    report: Path | None = None,
    log_file: Path | None = None,
    json_file: Path | None = None,
) -> str:
    """The text the pipeline ends with: stage times, scores, the registered model, where to look."""
    lines = [f"Pipeline finished in {format_duration(summary.get('wall_s'))}", ""]
    stages = summary.get("stages", {})
    rows = [["stage", "time"]]
    for stage, info in stages.items():
        rows.append([stage, finished_event(float(info.get("wall_s", 0.0)), bool(info.get("cached")))])
    lines += _columns(rows)
    if scores:
        lines += ["", f"Scores{f' on {suite}' if suite else ''}:"]
        lines += _columns(score_rows(scores, tasks))
    lines.append("")
    registry = summary.get("registry")
    if registry:
        alias = "champion" if registry.get("champion") else "challenger"
        cached = stages.get("register", {}).get("cached")
        note = "unchanged, registered by an earlier run" if cached else summary.get("promotion", "")
        lines.append(f"Model:    {registry['uri']} (version {registry['version']}, @{alias}; {note})")
    if report is not None:
        lines.append(f"Report:   {shown_path(report)}")
    if summary.get("mlflow_run"):
        lines.append(f"MLflow:   {summary['mlflow_ui']}  then open {summary['mlflow_run']}")
    if log_file is not None:
        lines.append(f"Log:      {shown_path(log_file)}")
    if json_file is not None:
        lines.append(f"Summary:  {shown_path(json_file)}")
    return "\n".join(lines)
