"""The parser under 100k fuzzed outputs: no crash, nothing run, and a hard worst case per call."""

from __future__ import annotations

import time

import pytest

from knowcoder.parser import DEFAULT_MAX_CHARS, parse_results

from . import fuzz

pytestmark = pytest.mark.fault

#: the hard bound per call at max_chars, in CPU time of the calling thread (one core)
WORST_MS = 50.0


def test_the_audit_hook_sees_what_it_must_fail_on(tmp_path):
    # the fuzz test below could not fail if the hook missed an open or an exec
    events: list[str] = []
    fuzz._install_hook()
    fuzz._STATE["events"] = events
    try:
        (tmp_path / "x").write_text("x")
        exec("1")  # the point: the hook reports it
    finally:
        fuzz._STATE["events"] = None
    assert "open" in events and "exec" in events


@pytest.mark.slow
def test_100k_fuzzed_outputs_never_crash_and_run_nothing():
    report = fuzz.run_fuzz(100_000, seed=16)
    assert report.outputs == 100_000
    assert report.crashes == 0, report.crash_examples[:3]
    assert report.audit_events == 0, sorted(set(report.event_names))
    assert report.kept > 0 and report.parseable > 0  # the fuzzer also feeds outputs that parse


@pytest.mark.parametrize("task", fuzz.TASKS)
def test_the_most_expensive_outputs_at_max_chars_stay_under_the_bound(task):
    # given each extreme family at max_chars: many items, deep nesting, long chains of one token
    worst = 0.0
    for seed in range(60):
        text = fuzz._extreme(__import__("random").Random(seed), DEFAULT_MAX_CHARS)
        best = min(_cpu_ms(text, task) for _ in range(3))  # the least disturbed of three runs
        worst = max(worst, best)
    assert worst <= WORST_MS


def _cpu_ms(text: str, task: str) -> float:
    started = time.thread_time_ns()
    parse_results(text, task, fuzz.ALLOWED[task])
    return (time.thread_time_ns() - started) / 1e6
