"""Token-level training data: packing for pretraining, prompt/target labels for tuning, collators.

Pretraining packs whole documents into rows of ``max_length`` tokens (best fit over a window
of rows being filled, the rows left open at the end packed again largest first; a document longer
than a row is split), in an order drawn from a seeded buffer so that a row holds documents of many
sentences (:func:`shuffle_buffered`). ``position_ids`` restart at every
document and no attention mask is passed, which transformers turns into a block-diagonal
causal mask on every attention backend — so no token attends across a document boundary. The
label of each document's first token is -100 (it would be predicted from the previous document).

Instruction tuning and alignment put -100 on the prompt and on padding, so the loss covers
only the target (and its end-of-sequence token).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

IGNORE_INDEX = -100


@dataclass
class TokenStats:
    """Real vs padded tokens the collator has produced; shared with the metrics callback."""

    real_tokens: int = 0
    total_tokens: int = 0
    target_tokens: int = 0  # tokens that carry a label

    @property
    def padding_share(self) -> float:
        return 1 - self.real_tokens / self.total_tokens if self.total_tokens else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "real_tokens": self.real_tokens,
            "total_tokens": self.total_tokens,
            "target_tokens": self.target_tokens,
            "padding_share": round(self.padding_share, 6),
        }


# ---- pretraining ------------------------------------------------------------------------
class _Row:
    """A packed row being filled: tokens, labels and position ids so far."""

    __slots__ = ("labels", "positions", "tokens")

    def __init__(self) -> None:
        self.tokens: list[int] = []
        self.labels: list[int] = []
        self.positions: list[int] = []

    def add(self, piece: Sequence[int]) -> None:
        # a piece after another one starts a new document: its first token (BOS) would be
        # predicted from the previous document's last, so it carries no label
        self.labels.extend([IGNORE_INDEX, *piece[1:]] if self.tokens else piece)
        self.tokens.extend(piece)
        self.positions.extend(range(len(piece)))

    def padded(self, max_length: int, pad_id: int) -> dict[str, list[int]]:
        padding = max_length - len(self.tokens)
        return {
            "input_ids": self.tokens + [pad_id] * padding,
            "labels": self.labels + [IGNORE_INDEX] * padding,
            # padding is its own segment (positions restart), so it never joins a document's block
            "position_ids": self.positions + list(range(padding)),
        }


def pack_documents(
    documents: Iterable[Sequence[int]],
    *,
    max_length: int,
    bos_id: int,
    eos_id: int,
    pad_id: int,
    open_rows: int = 64,
) -> Iterator[dict[str, list[int]]]:
    """Rows of exactly ``max_length`` tokens: ``input_ids``, ``labels``, ``position_ids``.

    Best fit over a window of ``open_rows`` rows being filled: each document (or, when longer
    than a row, each ``max_length`` piece of it) goes into the open row with the least room
    that still holds it, or opens a new row. A row leaves the window when it is full, or, when
    a new row needs its place, the fullest row leaves. Short documents of mixed lengths thus fill
    rows almost completely, where next fit (``open_rows=1``) pads each row's tail. Streaming
    and deterministic; every token of every document appears exactly once, in its document's
    order.
    """
    if max_length < 2:
        raise ValueError(f"max_length must be at least 2, got {max_length}")
    if open_rows < 1:
        raise ValueError(f"open_rows must be at least 1, got {open_rows}")
    window: list[_Row] = []
    for document in documents:
        tokens = [bos_id, *document, eos_id]
        for start in range(0, len(tokens), max_length):
            piece = tokens[start : start + max_length]
            fits = [row for row in window if max_length - len(row.tokens) >= len(piece)]
            if fits:
                row = min(fits, key=lambda r: max_length - len(r.tokens))
            else:
                if len(window) == open_rows:  # no room for another row: the fullest leaves
                    fullest = max(window, key=lambda r: len(r.tokens))
                    window.remove(fullest)
                    yield fullest.padded(max_length, pad_id)
                row = _Row()
                window.append(row)
            row.add(piece)
            if len(row.tokens) == max_length:
                window.remove(row)
                yield row.padded(max_length, pad_id)
    yield from (row.padded(max_length, pad_id) for row in _repacked(window, max_length))


def _repacked(window: list[_Row], max_length: int) -> list[_Row]:
    """The rows left open at the end, their pieces packed again, largest first, when that saves rows.

    Mid-stream a row waits for a piece that fits its room; at the end nothing more comes, and the
    open rows (up to the window's size) are each part empty. First fit decreasing over their pieces
    usually needs fewer rows; when it does not, the rows are kept as they were.
    """
    if len(window) < 2:
        return window
    pieces = []
    for row in window:
        starts = [i for i, position in enumerate(row.positions) if position == 0] + [len(row.tokens)]
        pieces += [row.tokens[a:b] for a, b in itertools.pairwise(starts)]
    rows: list[_Row] = []
    for piece in sorted(pieces, key=len, reverse=True):
        fit = next((r for r in rows if max_length - len(r.tokens) >= len(piece)), None)
        if fit is None:
            fit = _Row()
            rows.append(fit)
        fit.add(piece)
    return rows if len(rows) < len(window) else window


def shuffle_buffered(items: Iterable[Any], *, buffer: int, seed: int) -> Iterator[Any]:
    """``items`` in a seeded random order, holding at most ``buffer`` of them at a time.

    A corpus lists the documents of one sentence (one per task) next to each other; packed in
    that order, a long row holds a few sentences many times over and a batch sees few sentences.
    Drawn from a buffer instead, a row holds documents of many sentences. Deterministic for a
    seed; ``buffer`` 1 keeps the order.
    """
    import random

    if buffer < 1:
        raise ValueError(f"buffer must be at least 1, got {buffer}")
    rng = random.Random(seed)  # noqa: S311  (a data order, not a secret)
    held: list[Any] = []
    for item in items:
        held.append(item)
        if len(held) >= buffer:
            index = rng.randrange(len(held))
            held[index], held[-1] = held[-1], held[index]
            yield held.pop()
    rng.shuffle(held)
    yield from held


class PackedCollator:
    """Stacks packed rows; no attention mask, so transformers builds per-document masks."""

    def __init__(self, pad_id: int, stats: TokenStats | None = None) -> None:
        self.pad_id = pad_id
        self.stats = stats or TokenStats()

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = {
            key: torch.tensor([feature[key] for feature in features], dtype=torch.long)
            for key in ("input_ids", "labels", "position_ids")
        }
        labels = batch["labels"]
        self.stats.total_tokens += labels.numel()
        # a padded position is a pad token in a segment whose labels are all ignored
        self.stats.real_tokens += int((batch["input_ids"] != self.pad_id).sum())
        self.stats.target_tokens += int((labels != IGNORE_INDEX).sum())
        return batch


# ---- instruction tuning -----------------------------------------------------------------
def encode_example(
    prompt: str, target: str, tokenizer: Any, *, max_length: int
) -> dict[str, list[int] | int] | None:
    """``bos + prompt + target + eos`` with labels only on the target and eos; None if too long."""
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    target_ids = tokenizer(target, add_special_tokens=False)["input_ids"]
    input_ids = [tokenizer.bos_token_id, *prompt_ids, *target_ids, tokenizer.eos_token_id]
    if len(input_ids) > max_length:
        return None
    labels = [IGNORE_INDEX] * (1 + len(prompt_ids)) + [*target_ids, tokenizer.eos_token_id]
    return {"input_ids": input_ids, "labels": labels, "length": len(input_ids)}


class PaddingCollator:
    """Pads to the longest sequence of the batch (right side); labels -100 on padding."""

    def __init__(self, pad_id: int, *, multiple_of: int = 1, stats: TokenStats | None = None) -> None:
        self.pad_id = pad_id
        self.multiple_of = multiple_of
        self.stats = stats or TokenStats()

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        longest = max(len(feature["input_ids"]) for feature in features)
        width = -(-longest // self.multiple_of) * self.multiple_of
        input_ids, labels, mask = [], [], []
        for feature in features:
            padding = width - len(feature["input_ids"])
            input_ids.append([*feature["input_ids"], *[self.pad_id] * padding])
            labels.append([*feature["labels"], *[IGNORE_INDEX] * padding])
            mask.append([1] * len(feature["input_ids"]) + [0] * padding)
        batch = {
            "input_ids": torch.tensor(input_ids, dtype=torch.long),
            "labels": torch.tensor(labels, dtype=torch.long),
            "attention_mask": torch.tensor(mask, dtype=torch.long),
        }
        self.stats.total_tokens += batch["input_ids"].numel()
        self.stats.real_tokens += int(batch["attention_mask"].sum())
        self.stats.target_tokens += int((batch["labels"] != IGNORE_INDEX).sum())
        return batch
