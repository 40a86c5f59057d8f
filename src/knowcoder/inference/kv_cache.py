"""The key/value cache of batched generation: a cache that grows in place, and per-prompt states.

:class:`GrowingCache` is transformers' ``DynamicCache`` with each full-attention layer a
:class:`GrowingLayer`, which writes new positions into spare room instead of concatenating.
The helpers below lay out the keys and values of single prompts (``RowStates``) so that a batch
can be assembled from prompts prefilled apart: :func:`shared_opening` finds how much of a prompt an
earlier one already computed, :func:`row_states` reads a one-row cache, :func:`zeros_in` blanks the
hole a shorter rest leaves, and :func:`right_aligned` stacks rows into one batch tensor.
How a batch uses them is ``inference.extract.Extractor``'s business.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers.cache_utils import DynamicCache, DynamicLayer

#: per layer, the keys and values of one prompt, each ``(1, heads, length, dim)``
RowStates = list[tuple[torch.Tensor, torch.Tensor]]


class GrowingLayer(DynamicLayer):
    """A key/value cache layer that writes each step into spare room instead of concatenating.

    ``DynamicLayer`` copies the whole layer on every step (``torch.cat``); for a batch of long
    prompts that copy costs as much as the attention itself. Here keys and values live in buffers
    with a quarter of their length to spare, and ``keys``/``values`` are views of the filled part.
    """

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        super().lazy_initialization(key_states, value_states)
        self._room: tuple[torch.Tensor, torch.Tensor] | None = None
        self._view: torch.Tensor | None = None  # the last ``keys`` handed out, a view of ``_room``

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        start = self.get_seq_length()
        end = start + key_states.shape[-2]
        # new room when full, or when crop/reorder/offload replaced the views with other tensors
        if self._room is None or self._view is not self.keys or end > self._room[0].shape[-2]:
            self._room = self._reserve(start, end, key_states, value_states)
        keys, values = self._room
        keys[:, :, start:end].copy_(key_states)
        values[:, :, start:end].copy_(value_states)
        self.keys, self.values = keys[:, :, :end], values[:, :, :end]
        self._view = self.keys
        return self.keys, self.values

    def _reserve(
        self, start: int, end: int, key_states: torch.Tensor, value_states: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Buffers for ``end`` positions and a quarter more, holding the first ``start`` ones."""
        room = end + max(end // 4, 16)
        keys = key_states.new_empty((*key_states.shape[:2], room, key_states.shape[-1]))
        values = value_states.new_empty((*value_states.shape[:2], room, value_states.shape[-1]))
        if start:
            assert self.keys is not None and self.values is not None
            keys[:, :, :start].copy_(self.keys)
            values[:, :, :start].copy_(self.values)
        return keys, values


class GrowingCache(DynamicCache):
    """The model's dynamic cache with every full-attention layer a :class:`GrowingLayer`."""

    def __init__(self, config: Any) -> None:
        super().__init__(config=config)
        self.layers = [GrowingLayer() if type(layer) is DynamicLayer else layer for layer in self.layers]

    @property
    def all_growing(self) -> bool:
        """True when no layer keeps a window (or other shape) that per-row prefill cannot line up."""
        return bool(self.layers) and all(isinstance(layer, GrowingLayer) for layer in self.layers)


def shared_opening(a: torch.Tensor, b: torch.Tensor) -> int:
    """How many tokens two 1-D id tensors share from their start."""
    n = min(len(a), len(b))
    differ = torch.nonzero(a[:n] != b[:n])
    return int(differ[0]) if len(differ) else n


def row_states(cache: DynamicCache) -> RowStates:
    """Each layer's keys and values in a one-row cache; empty when it holds nothing."""
    if not cache.get_seq_length():
        return []
    states = []
    for layer in cache.layers:
        assert isinstance(layer, DynamicLayer) and layer.keys is not None and layer.values is not None
        states.append((layer.keys, layer.values))
    return states


def zeros_in(states: RowStates, start: int, stop: int) -> RowStates:
    """``states`` with positions ``start:stop`` zeroed (a hole the attention mask hides)."""
    if start == stop:
        return states
    for keys, values in states:
        keys[:, :, start:stop] = 0
        values[:, :, start:stop] = 0
    return states


def right_aligned(
    rows: Sequence[tuple[int, tuple[torch.Tensor, torch.Tensor]]], batch: int, length: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """One layer's ``(at, (keys, values))`` rows as ``batch``-row tensors ``length`` long, zeros first."""
    sample_keys, sample_values = rows[0][1]
    keys = sample_keys.new_zeros((batch, sample_keys.shape[1], length, sample_keys.shape[-1]))
    values = sample_values.new_zeros((batch, sample_values.shape[1], length, sample_values.shape[-1]))
    for at, (row_keys, row_values) in rows:
        keys[at, :, length - row_keys.shape[-2] :] = row_keys[0]
        values[at, :, length - row_values.shape[-2] :] = row_values[0]
    return keys, values
