"""How sure the model was of each record it wrote, from the probabilities of the tokens that wrote it.

A record's confidence is the geometric mean of the probabilities the model gave the tokens that
wrote its item of the ``results = [...]`` list (the whole call, class name and span strings
included: ``Person("Ada Park")``): ``exp(mean(log p))``, in (0, 1]. A token counts when any of its
characters falls inside the item. The probabilities are the model's own, a softmax over its raw
logits at each step, taken before any schema constraint masks the vocabulary: under constrained
decoding a token the grammar forced still counts with what the model thought of it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from knowcoder.parser import parse_results
from knowcoder.records import Record
from knowcoder.tasks.base import Allowed

_RESULTS = re.compile(r"\bresults\s*=\s*\[")
# what matters for splitting the list into items: string literals (closed or not), brackets, commas
_ITEM_TOKENS = re.compile(r'"(?:[^"\\\n]|\\.)*"?|\'(?:[^\'\\\n]|\\.)*\'?|[\[\](){},]')


class TokenLogProbs:
    """A logits processor that keeps the log-probability of each token ``generate`` picks.

    Called at every step with the ids so far and the next token's raw scores, it reads the score of
    the token picked at the step before (the last id) from the previous step's distribution; only
    one step's distribution is held. :meth:`table` adds the last step's pick.
    Put it first in the processor list, so that it sees the scores before any constraint.
    """

    def __init__(self) -> None:
        self._picked: list[torch.Tensor] = []
        self._last: torch.Tensor | None = None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if self._last is not None:
            self._picked.append(self._last.gather(-1, input_ids[:, -1:]).squeeze(-1))
        self._last = torch.log_softmax(scores.float(), dim=-1)
        return scores

    def table(self, new_tokens: torch.Tensor) -> torch.Tensor:
        """``(rows, steps)`` log-probabilities of ``new_tokens`` (the generated columns), on the CPU."""
        picked = list(self._picked)
        if self._last is not None and new_tokens.shape[1] > len(picked):
            picked.append(self._last.gather(-1, new_tokens[:, len(picked) : len(picked) + 1]).squeeze(-1))
        if not picked:
            return torch.zeros((new_tokens.shape[0], 0))
        return torch.stack(picked, dim=1).cpu()


def token_ends(count: int, prefix_length: Callable[[int], int]) -> list[int]:
    """Where each of ``count`` tokens ends in the text: ``prefix_length(k)`` is the length of the
    text the first ``k`` tokens decode to (kept non-decreasing, as a prefix may decode longer than
    the text it later joins)."""
    ends, reach = [], 0
    for k in range(1, count + 1):
        reach = max(reach, prefix_length(k))
        ends.append(reach)
    return ends


def item_spans(output: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each top-level item of the output's ``results = [...]`` list, spaces trimmed.

    An item cut off by the end of the output (or by an unclosed string) runs to the end.
    """
    match = _RESULTS.search(output)
    if match is None:
        return []
    spans: list[tuple[int, int]] = []
    depth, start = 0, match.end()

    def close(end: int) -> None:
        text = output[start:end]
        if text.strip():
            left = start + len(text) - len(text.lstrip())
            spans.append((left, left + len(text.strip())))

    for token in _ITEM_TOKENS.finditer(output, match.end()):
        char = token.group()
        if char[0] in "\"'":
            if len(char) == 1 or char[-1] != char[0]:  # an unclosed string: the rest is one cut item
                break
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                close(token.start())
                return spans
            depth -= 1
        elif char == "," and depth == 0:
            close(token.start())
            start = token.end()
    close(len(output))
    return spans


def span_confidence(ends: Sequence[int], logprobs: Sequence[float], span: tuple[int, int]) -> float:
    """The geometric mean probability of the tokens with a character in ``span`` (1.0 for none)."""
    low, high = span
    chosen, begin = [], 0
    for end, logprob in zip(ends, logprobs, strict=False):
        if end > begin and begin < high and end > low:
            chosen.append(logprob)
        begin = max(begin, end)
    if not chosen:
        return 1.0
    return min(1.0, math.exp(sum(chosen) / len(chosen)))


def record_confidences(
    output: str,
    records: Sequence[Record],
    ends: Sequence[int],
    logprobs: Sequence[float],
    task: str,
    allowed: Allowed,
    parser_limits: Mapping[str, Any] | None = None,
) -> list[float]:
    """One confidence per record of ``records`` (what ``parse_results`` read from ``output``).

    Each item of the list is parsed alone to learn which record it wrote; a record no item
    accounts for gets the confidence of the whole list.
    """
    if not records:
        return []
    spans = item_spans(output)
    written: list[tuple[Record, tuple[int, int]]] = []
    for span in spans:
        item = parse_results(
            f"results = [{output[span[0] : span[1]]}]", task, allowed, **(parser_limits or {})
        )
        written.extend((record, span) for record in item.records)
    whole = (spans[0][0], spans[-1][1]) if spans else (0, len(output))
    used = [False] * len(written)
    confidences = []
    for record in records:
        span = whole
        for at, (candidate, candidate_span) in enumerate(written):
            if not used[at] and candidate == record:
                used[at], span = True, candidate_span
                break
        confidences.append(span_confidence(ends, logprobs, span))
    return confidences
