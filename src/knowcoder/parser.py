"""Read model output (``results = [...]`` code) into records without running any of it.

Only ``ast.parse`` touches the text, and only ``ast.Call`` nodes whose callee is a plain name
and whose arguments are string literals, lists of such calls, or keywords are read. Nothing
is evaluated, imported, or looked up; a hostile output is at worst a list of rejects.

Released KnowCoder writes keyword role names as they are (``from = [Entity("x")]``), which
``ast`` cannot read; one linear pass first renames such keyword arguments to ``from_ =``
(never inside a string literal), and the EAE task reads ``from_`` back as the role ``from``.

Work is bounded: the text is cut at ``max_chars``; ``ast`` is never handed more than
``max_tokens`` Python tokens (``ast``'s cost grows with tokens, not characters: 64 KB of ``1,``
or ``a()()`` cost a hundred times more than 64 KB of string), counted by one linear regular
expression; an item nested deeper than ``max_depth`` (brackets inside string literals do not
count) is rejected before ``ast.parse`` sees it, whether the list is read whole (the common case,
after a depth check of the whole list) or split into its top-level items by one linear scan (when
it cannot be read whole, or holds such an item). Output cut off mid-object keeps every complete
object before the cut. Warnings ``ast`` raises on odd literals
(``SyntaxWarning: invalid decimal literal``) are silenced.
"""

from __future__ import annotations

import ast
import functools
import keyword
import re
import unicodedata  # noqa: F401  # ast imports it on the first "\N{...}"; parsing itself imports nothing
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from knowcoder.records import Record
from knowcoder.tasks import get_task
from knowcoder.tasks.base import Allowed, Dropped, Reject, Task

DEFAULT_MAX_CHARS = 65_536
DEFAULT_MAX_DEPTH = 8
#: far above any real output (640 new model tokens are fewer than 2,000 Python tokens), and the
#: bound that keeps one call under 50 ms of CPU whatever the text
DEFAULT_MAX_TOKENS = 4096

_RESULTS = re.compile(r"\bresults\s*=\s*\[")
# Tokens that matter for splitting the list: string literals (closed or not), brackets, commas.
_TOKENS = re.compile(
    r'"""|\'\'\''
    r'|"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\''
    r"|[\[\](){},\"'#]"
)
_OPEN, _CLOSE = "([{", ")]}"
# A string literal, closed or running to the end of its line: always a match, so a scan never
# starts again inside one (restarting at each quote of ``"\"\"\"...`` is quadratic).
_STRING = r'"(?:[^"\\\n]|\\[\s\S]?)*+(?:"|(?=\n)|\Z)' + r"|'(?:[^'\\\n]|\\[\s\S]?)*+(?:'|(?=\n)|\Z)"
# The depth guard: string literals and comments dropped, then all but brackets, then innermost pairs
_STRING_OR_COMMENT = re.compile(_STRING + r"|#[^\n]*")
_NOT_BRACKET = re.compile(r"[^()\[\]{}]++")
_PAIR = re.compile(r"\(\)|\[\]|\{\}")
# A string literal (kept as is), or a keyword used as an argument name right after "(" or ","
_KEYWORD_ARGUMENT = re.compile(_STRING + r"|(?<=[(,])(\s*)(" + "|".join(keyword.kwlist) + r")(\s*=)(?!=)")
# One Python token, roughly: a string, a name or number, or any other single character.
_TOKEN = r"(?:\s*+(?:" + _STRING + r"|\w++|\S))"


@functools.lru_cache(maxsize=8)
def _first_tokens(max_tokens: int) -> re.Pattern[str]:
    """Matches at most ``max_tokens`` tokens: its end is where a token budget runs out."""
    return re.compile(f"{_TOKEN}{{0,{max_tokens}}}")


def rewrite_keyword_arguments(code: str) -> str:
    """``Marriage(trigger = "t", from = [...])`` -> ``... from_ = [...]``: readable by ``ast``."""

    def rename(match: re.Match[str]) -> str:
        if match.group(2) is None:
            return match.group(0)
        return f"{match.group(1)}{match.group(2)}_{match.group(3)}"

    return _KEYWORD_ARGUMENT.sub(rename, code)


@dataclass
class ParseReport:
    """What happened to one output: how much was read, kept and dropped, and why."""

    objects: int = 0  # top-level items seen in the results list
    kept: int = 0
    found_results: bool = False  # a ``results = [`` was present
    complete: bool = False  # the list was closed
    truncated: int = 0  # items cut off by the end of the output
    syntax_errors: int = 0  # items that are not valid Python
    too_deep: int = 0  # items nested deeper than allowed
    bad_shapes: int = 0  # valid Python, but not an object of this task
    unknown_types: Counter[str] = field(default_factory=Counter)
    spans_not_found: int = 0
    unknown_roles: int = 0
    oversized: bool = False  # the output was longer than max_chars and was cut

    @property
    def parseable(self) -> bool:
        """True when the output was a complete results list with no syntax errors."""
        return self.found_results and self.complete and not self.syntax_errors and not self.truncated

    def to_dict(self) -> dict[str, Any]:
        return {
            "objects": self.objects,
            "kept": self.kept,
            "parseable": self.parseable,
            "truncated": self.truncated,
            "syntax_errors": self.syntax_errors,
            "too_deep": self.too_deep,
            "bad_shapes": self.bad_shapes,
            "unknown_types": dict(self.unknown_types),
            "spans_not_found": self.spans_not_found,
            "unknown_roles": self.unknown_roles,
            "oversized": self.oversized,
        }


@dataclass
class ParseResult:
    records: list[Record]
    report: ParseReport


def parse_results(
    code: str,
    task: str | Task,
    allowed: Allowed | None = None,
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_tokens: int = DEFAULT_MAX_TOKENS,
) -> ParseResult:
    """Records of ``task`` written in ``code``, keeping only what ``allowed`` permits.

    ``max_chars`` and ``max_tokens`` bound the work: text beyond either is treated as cut off.
    """
    task = get_task(task)
    allowed = allowed or Allowed()
    report = ParseReport()
    if len(code) > max_chars:
        code = code[:max_chars]
        report.oversized = True
    match = _RESULTS.search(code)
    if match is None:
        return ParseResult([], report)
    budget = _first_tokens(max_tokens).match(code, match.start())
    assert budget is not None  # zero tokens match too
    budget_end = budget.end()
    over_budget = bool(code[budget_end:].strip())
    code = code[: match.start()] + rewrite_keyword_arguments(code[match.start() : budget_end])
    match = _RESULTS.search(code, match.start())
    assert match is not None  # the rewrite never touches "results = ["
    report.found_results = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ast warns on stderr about odd literals in model output
        items = _fast_items(code, match.end() - 1, max_depth)
        if items is None:
            items, report.complete = _scan_items(code, match.end(), max_depth, report)
        else:
            report.complete = True
    report.oversized = report.oversized or (over_budget and not report.complete)
    records: list[Record] = []
    dropped = Dropped()
    for node in items:
        report.objects += 1
        if not isinstance(node, ast.Call):
            report.bad_shapes += 1
            continue
        try:
            records.append(task.parse_call(node, allowed, dropped))
        except Reject as reject:
            if reject.reason == "bad_shapes":
                report.bad_shapes += 1
        except RecursionError:
            report.too_deep += 1
    report.kept = len(records)
    report.unknown_types.update(dropped.unknown_types)
    report.spans_not_found = dropped.spans_not_found
    report.unknown_roles = dropped.unknown_roles
    return ParseResult(records, report)


def _fast_items(code: str, start: int, max_depth: int) -> list[ast.expr] | None:
    """The common case: the output is one well-formed list, ``[`` at ``start``, then nothing.

    ``None`` when it is not, or when an item nests deeper than ``max_depth`` (the list's own
    bracket is one level more): the item-by-item scan then rejects that item unread.
    """
    tail = code[start:]
    end = tail.find('"""')
    if end >= 0:
        tail = tail[:end]
    if _nests_deeper(tail, max_depth + 1):
        return None
    try:
        # "eval" mode: for a syntax error in "exec" mode CPython opens the file named as the
        # source ("<unknown>") to quote the line; nothing here may open a file
        expression = ast.parse(tail.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    if isinstance(expression.body, ast.List):
        return list(expression.body.elts)
    return None


def _nests_deeper(text: str, limit: int) -> bool:
    """Whether brackets outside string literals and comments nest deeper than ``limit`` in ``text``.

    Each pass drops the innermost bracket pairs, so a pair left after ``limit`` passes sits deeper.
    Meant for text ``ast`` is about to read: where its brackets do not balance, ``ast`` fails anyway.
    """
    brackets = _NOT_BRACKET.sub("", _STRING_OR_COMMENT.sub("", text))
    for _ in range(limit):
        brackets, pairs = _PAIR.subn("", brackets)
        if not pairs:
            return False
    return _PAIR.search(brackets) is not None


def _scan_items(code: str, pos: int, max_depth: int, report: ParseReport) -> tuple[list[ast.expr], bool]:
    """Split the list after ``pos`` into its items in one pass and parse each item alone."""
    items: list[ast.expr] = []
    depth = 0  # depth inside the results list
    deepest = 0
    item_start = pos
    closed = False

    def flush(end: int, *, cut: bool) -> None:
        text = code[item_start:end].strip()
        if not text:
            return
        if deepest > max_depth:
            report.objects += 1
            report.too_deep += 1
            return
        try:
            node = ast.parse(text, mode="eval").body
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            report.objects += 1
            if cut:
                report.truncated += 1
            else:
                report.syntax_errors += 1
            return
        items.append(node)

    for token in _TOKENS.finditer(code, pos):
        char = token.group()
        if char in ('"""', "'''", '"', "'", "#"):
            # An unclosed string or a comment: nothing after it can be trusted as code.
            flush(token.start(), cut=True)
            return items, False
        if char in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif char in _CLOSE:
            if depth == 0:
                flush(token.start(), cut=False)
                closed = True
                break
            depth -= 1
        elif char == "," and depth == 0:
            flush(token.start(), cut=False)
            item_start = token.end()
            deepest = 0
    else:
        flush(len(code), cut=True)
    return items, closed
