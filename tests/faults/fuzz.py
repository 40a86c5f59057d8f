"""A seeded fuzzer for the output parser: valid outputs, mutated, plus hostile and extreme ones.

Shared by the fault suite (``tests/faults/test_parser_fuzz.py``, 100k outputs) and the benchmark
(``benchmarks/bench_fuzz.py``, 1M). Every output is parsed with an audit hook watching for any
event that would mean the text was run (exec, import, open, a process started).
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from knowcoder.parser import DEFAULT_MAX_CHARS, parse_results
from knowcoder.tasks import Allowed

TASKS = ("ner", "re", "ed", "eae")
SENTENCE = 'Ada Park joined Acme Corp in Paris on "Monday"; 李娜 left.'
ALLOWED = {
    "ner": Allowed(types=frozenset({"Person", "Company", "Location"}), sentence=SENTENCE),
    "re": Allowed(
        types=frozenset({"Employment", "LocatedIn"}),
        entity_types=frozenset({"Person", "Company", "Location"}),
        sentence=SENTENCE,
    ),
    "ed": Allowed(types=frozenset({"StartPosition", "EndPosition"}), sentence=SENTENCE),
    "eae": Allowed(
        types=frozenset({"StartPosition"}),
        entity_types=frozenset({"Person", "Company", "Location"}),
        roles={"StartPosition": frozenset({"employee", "employer", "place", "from"})},
        sentence=SENTENCE,
    ),
}
SEEDS = {
    "ner": [
        'results = [Person("Ada Park"), Company("Acme Corp"), Location("Paris")]',
        'results = [\n\tPerson(name="李娜"),\n\tRobot("x")\n]',
        "results = []",
    ],
    "re": [
        'results = [Employment(Person("Ada Park"), Company("Acme Corp"))]',
        'results = [LocatedIn(head_entity=Company("Acme Corp"), tail_entity=Location("Paris"))]',
    ],
    "ed": ['results = [StartPosition("joined"), EndPosition("left")]'],
    "eae": [
        'results = [StartPosition(trigger="joined", employee=[Person("Ada Park")], '
        'employer=[Company("Acme Corp")], place=[Location("Paris")])]',
        'results = [StartPosition(trigger = "joined", from = [Location("Paris")])]',
    ],
}
# Pieces a confused or hostile model might write.
FRAGMENTS = [
    "__import__('os').system('id')",
    "open('/etc/passwd').read()",
    "exec('import os')",
    "eval('1')",
    "(lambda: 1)()",
    "[x for x in ()]",
    "{1: 2}",
    '{"a"}',
    "f'{__import__(\"os\")}'",
    "b'\\x00'",
    "0x",
    "1e",
    "09",
    "1_000_",
    "0b2",
    "1if 1else 2",
    ":=",
    "**",
    "@",
    "...",
    "yield",
    "await x",
    "async",
    "from",
    "import",
    "class",
    "=",
    "==",
    "\\",
    "\\N{",
    "\\u",
    '"""',
    "'''",
    "#",
    "\n",
    "\t",
    "\r",
    "\x00",
    "\x0c",
    "\ufeff",
    "\ud800",
    "\u202e",
    "é",
    "李",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    '"',
    "'",
    ".",
    ";",
    "results = [",
    "Person(",
    'Person("Ada Park")',
    "from_ = [",
]
ALPHABET = "()[]{},.:;=+-*/%<>!&|^~@#'\"\\ \n\tabcxyzABCXYZ_0123456789李é"


def _mutate(text: str, rng: random.Random) -> str:
    """One random edit: insert, delete, duplicate, repeat, nest, cut or replace."""
    n = len(text)
    i, j = sorted((rng.randrange(n + 1), rng.randrange(n + 1)))
    kind = rng.randrange(8)
    if kind == 0:
        return text[:i] + rng.choice(FRAGMENTS) + text[i:]
    if kind == 1:
        return text[:i] + text[j:]
    if kind == 2:
        return text[:j] + text[i:j] + text[j:]
    if kind == 3:
        return text[:i] + rng.choice(ALPHABET) + text[i + 1 :]
    if kind == 4:
        return text[:i]  # cut off, as max_new_tokens does
    if kind == 5:
        opener = rng.choice("([{")
        depth = rng.choice((2, 9, 40))
        return text[:i] + opener * depth + text[i:j] + ")]}"["([{".index(opener)] * depth + text[j:]
    if kind == 6:
        return text[:i] + text[i:j] * rng.choice((2, 3, 10)) + text[j:]
    return text[:i] + "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(1, 12))) + text[j:]


def _extreme(rng: random.Random, max_chars: int) -> str:
    """A long output built to be expensive: many items, deep nesting, long runs of one token."""
    unit = rng.choice(
        [
            'Person("a"), ',
            'Person("a" x), ',
            "1,",
            "(",
            "{",
            "[",
            "{[(",
            "()",
            "[0]",
            ".a",
            "1+",
            "1<",
            "not ",
            "-",
            "lambda:",
            'f"{',
            '\\"',
            "'",
            "0x",
            "x;",
            "from=1,",
            "results = [",
            "\\\n",
        ]
    )
    head = "results = [" if rng.random() < 0.9 else ""
    body = head + unit * (max_chars // len(unit) + 1)
    return body[: rng.choice((max_chars, max_chars // 2, max_chars + 100))]


def outputs(count: int, seed: int = 0, max_chars: int = DEFAULT_MAX_CHARS) -> Iterator[tuple[str, str]]:
    """``count`` (task, output) pairs: mostly mutated valid outputs, one in 500 an extreme one."""
    rng = random.Random(seed)
    for _ in range(count):
        task = rng.choice(TASKS)
        if rng.random() < 0.002:
            yield task, _extreme(rng, max_chars)
            continue
        text = rng.choice(SEEDS[task])
        for _ in range(rng.choice((1, 1, 2, 3, 5, 8))):
            text = _mutate(text, rng)
        yield task, text


# ---- watching for anything being run ------------------------------------------------------
_WATCHED = (
    "exec",
    "import",
    "open",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "subprocess.Popen",
    "ctypes",
    "socket",
    "shutil",
    "os.remove",
    "os.rename",
)
_STATE: dict[str, list[str] | None] = {"events": None}


def _audit(event: str, args: tuple) -> None:
    events = _STATE["events"]
    if events is not None and event.startswith(_WATCHED):
        events.append(event)


_HOOKED = [False]


def _install_hook() -> None:
    if not _HOOKED[0]:  # audit hooks cannot be removed: one per process, switched on and off
        sys.addaudithook(_audit)
        _HOOKED[0] = True


@dataclass
class FuzzReport:
    outputs: int = 0
    crashes: int = 0
    audit_events: int = 0
    kept: int = 0
    parseable: int = 0
    worst_cpu_ms: float = 0.0
    worst_wall_ms: float = 0.0
    worst_output: str = ""
    over_100ms: int = 0
    crash_examples: list[str] = field(default_factory=list)
    event_names: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "outputs": self.outputs,
            "crashes": self.crashes,
            "audit_events": self.audit_events,
            "kept_records": self.kept,
            "parseable": self.parseable,
            "worst_cpu_ms": round(self.worst_cpu_ms, 2),
            "worst_wall_ms": round(self.worst_wall_ms, 2),
            "worst_output_head": self.worst_output[:80],
            "worst_output_chars": len(self.worst_output),
            "over_100ms_wall": self.over_100ms,
            "crash_examples": self.crash_examples[:5],
            "event_names": sorted(set(self.event_names)),
            "wall_s": round(self.wall_s, 1),
        }


def run_fuzz(count: int, seed: int = 0, max_chars: int = DEFAULT_MAX_CHARS) -> FuzzReport:
    """Parse ``count`` fuzzed outputs; count crashes, audit events and the slowest call."""
    _install_hook()
    for task in TASKS:  # warm up: lazy imports and regex compilation happen before watching
        parse_results(SEEDS[task][0], task, ALLOWED[task], max_chars=max_chars)
    report = FuzzReport()
    events: list[str] = []
    started = time.perf_counter()
    for task, text in outputs(count, seed, max_chars):
        report.outputs += 1
        cpu, wall = time.thread_time_ns(), time.perf_counter_ns()
        _STATE["events"] = events
        try:
            result = parse_results(text, task, ALLOWED[task], max_chars=max_chars)
        except Exception as error:  # the point of the fuzzer: any exception is a crash
            _STATE["events"] = None
            report.crashes += 1
            report.crash_examples.append(f"{type(error).__name__}: {error} <- {text[:120]!r}")
            continue
        finally:
            _STATE["events"] = None
        cpu_ms = (time.thread_time_ns() - cpu) / 1e6
        wall_ms = (time.perf_counter_ns() - wall) / 1e6
        report.kept += result.report.kept
        report.parseable += result.report.parseable
        report.over_100ms += wall_ms > 100
        if cpu_ms > report.worst_cpu_ms:
            report.worst_cpu_ms, report.worst_output = cpu_ms, text
        report.worst_wall_ms = max(report.worst_wall_ms, wall_ms)
    report.audit_events = len(events)
    report.event_names = events
    report.wall_s = time.perf_counter() - started
    return report
