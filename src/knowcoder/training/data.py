"""Token-level training data: packing for pretraining, prompt/target labels for tuning, collators.

Pretraining packs whole documents into rows of ``max_length`` tokens (next-fit; a document
longer than a row is split). ``position_ids`` restart at every document and no attention mask
is passed, which transformers turns into a block-diagonal causal mask on every attention
backend — so no token attends across a document boundary. The label of each document's first
token is -100 (it would be predicted from the previous document).

Instruction tuning and alignment put -100 on the prompt and on padding, so the loss covers
only the target (and its end-of-sequence token).
"""

from __future__ import annotations

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
def pack_documents(
    documents: Iterable[Sequence[int]], *, max_length: int, bos_id: int, eos_id: int, pad_id: int
) -> Iterator[dict[str, list[int]]]:
    """Rows of exactly ``max_length`` tokens: ``input_ids``, ``labels``, ``position_ids``."""
    if max_length < 2:
        raise ValueError(f"max_length must be at least 2, got {max_length}")
    row: list[int] = []
    labels: list[int] = []
    positions: list[int] = []

    def flush() -> dict[str, list[int]]:
        padding = max_length - len(row)
        out = {
            "input_ids": row + [pad_id] * padding,
            "labels": labels + [IGNORE_INDEX] * padding,
            # padding is its own segment (positions restart), so it never joins a document's block
            "position_ids": positions + list(range(padding)),
        }
        row.clear()
        labels.clear()
        positions.clear()
        return out

    for document in documents:
        tokens = [bos_id, *document, eos_id]
        for start in range(0, len(tokens), max_length):
            piece = tokens[start : start + max_length]
            if len(row) + len(piece) > max_length:
                yield flush()
            labels.extend([IGNORE_INDEX, *piece[1:]] if row else piece)
            row.extend(piece)
            positions.extend(range(len(piece)))
    if row:
        yield flush()


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
