"""The growing key/value cache and the helpers that lay out per-prompt states, on real tensors."""

from __future__ import annotations

import pytest
import torch
from transformers import DynamicCache, LlamaConfig, MistralConfig

from knowcoder.inference.kv_cache import (
    GrowingCache,
    GrowingLayer,
    right_aligned,
    row_states,
    shared_opening,
    zeros_in,
)

HEADS, DIM, LAYERS = 2, 4, 3


def _config() -> LlamaConfig:
    return LlamaConfig(
        vocab_size=64,
        hidden_size=HEADS * DIM,
        intermediate_size=16,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=HEADS,
    )


def _states(generator: torch.Generator, rows: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    shape = (rows, HEADS, length, DIM)
    return torch.randn(shape, generator=generator), torch.randn(shape, generator=generator)


def _assert_same(growing: DynamicCache, plain: DynamicCache) -> None:
    assert growing.get_seq_length() == plain.get_seq_length()
    for mine, theirs in zip(growing.layers, plain.layers, strict=True):
        torch.testing.assert_close(mine.keys, theirs.keys, rtol=0, atol=0)
        torch.testing.assert_close(mine.values, theirs.values, rtol=0, atol=0)


def test_growing_cache_holds_what_the_dynamic_cache_holds_through_updates_crops_and_reorders():
    # given: a growing and a plain cache of one model shape, fed the same keys and values
    generator = torch.Generator().manual_seed(0)
    growing, plain = GrowingCache(_config()), DynamicCache(config=_config())
    assert all(isinstance(layer, GrowingLayer) for layer in growing.layers) and growing.all_growing
    prefill = [_states(generator, 2, 10) for _ in range(LAYERS)]
    for index, (keys, values) in enumerate(prefill):
        growing.update(keys, values, index)
        plain.update(keys.clone(), values.clone(), index)
    _assert_same(growing, plain)
    # when: 60 one-position steps, past the room kept at prefill (10 + 16), a crop and a row swap
    for step in range(60):
        if step == 40:
            for cache in (growing, plain):
                cache.crop(-20)  # 50 positions to 30
                cache.batch_select_indices(torch.tensor([1, 0]))
        for index in range(LAYERS):
            keys, values = _states(generator, 2, 1)
            got = growing.update(keys, values, index)
            expected = plain.update(keys.clone(), values.clone(), index)
            # then: every update hands attention the same keys and values
            torch.testing.assert_close(got, expected, rtol=0, atol=0)
    _assert_same(growing, plain)
    assert growing.get_seq_length() == 30 + 20


def test_a_growing_layer_writes_steps_into_its_room_without_copying():
    # given: one layer prefilled with 8 positions (room for 8 + 16)
    generator = torch.Generator().manual_seed(1)
    layer = GrowingLayer()
    layer.update(*_states(generator, 1, 8))
    buffer = layer.keys.untyped_storage().data_ptr()
    # when: steps that fit the room, then one that does not
    for _ in range(16):
        layer.update(*_states(generator, 1, 1))
        # then: the keys stay a view of the same buffer while there is room
        assert layer.keys.untyped_storage().data_ptr() == buffer
    kept = layer.keys.clone()
    layer.update(*_states(generator, 1, 1))
    assert layer.keys.untyped_storage().data_ptr() != buffer
    assert layer.get_seq_length() == 25
    torch.testing.assert_close(layer.keys[:, :, :24], kept, rtol=0, atol=0)


def test_sliding_window_layers_are_left_as_they_are():
    config = MistralConfig(
        vocab_size=64,
        hidden_size=HEADS * DIM,
        intermediate_size=16,
        num_hidden_layers=2,
        num_attention_heads=HEADS,
        num_key_value_heads=HEADS,
        sliding_window=6,
    )
    cache = GrowingCache(config)
    assert not any(isinstance(layer, GrowingLayer) for layer in cache.layers)
    assert not cache.all_growing


@pytest.mark.parametrize(
    ("a", "b", "shared"),
    [
        ([1, 2, 3, 4], [1, 2, 9], 2),
        ([1, 2, 3], [1, 2, 3, 4, 5], 3),  # the whole of the shorter one
        ([1, 2, 3], [1, 2, 3], 3),
        ([7, 2, 3], [1, 2, 3], 0),
        ([], [1, 2], 0),
    ],
)
def test_shared_opening_counts_the_common_first_tokens(a, b, shared):
    first, second = torch.tensor(a, dtype=torch.long), torch.tensor(b, dtype=torch.long)
    assert shared_opening(first, second) == shared == shared_opening(second, first)


def test_row_states_reads_each_layer_of_a_one_row_cache():
    cache = DynamicCache(config=_config())
    assert row_states(cache) == []  # nothing computed yet
    generator = torch.Generator().manual_seed(2)
    written = [_states(generator, 1, 5) for _ in range(LAYERS)]
    for index, (keys, values) in enumerate(written):
        cache.update(keys, values, index)
    states = row_states(cache)
    assert len(states) == LAYERS
    for (keys, values), (want_keys, want_values) in zip(states, written, strict=True):
        assert torch.equal(keys, want_keys) and torch.equal(values, want_values)


def test_zeros_in_blanks_only_the_hole():
    generator = torch.Generator().manual_seed(3)
    keys, values = (t + 1 for t in _states(generator, 1, 6))  # no zero anywhere before
    keys, values = keys.abs(), values.abs()
    before = (keys.clone(), values.clone())
    assert zeros_in([(keys, values)], 3, 3)[0][0] is keys and torch.equal(keys, before[0])  # no hole
    ((got_keys, got_values),) = zeros_in([(keys, values)], 2, 4)
    for got, was in ((got_keys, before[0]), (got_values, before[1])):
        assert not got[:, :, 2:4].any()
        assert torch.equal(got[:, :, :2], was[:, :, :2]) and torch.equal(got[:, :, 4:], was[:, :, 4:])


def test_right_aligned_puts_rows_at_the_end_with_zeros_before():
    # given: rows 0 and 2 of a three-row batch, 2 and 4 positions long
    short = (torch.full((1, HEADS, 2, DIM), 1.0), torch.full((1, HEADS, 2, DIM), -1.0))
    long = (torch.full((1, HEADS, 4, DIM), 2.0), torch.full((1, HEADS, 4, DIM), -2.0))
    # when
    keys, values = right_aligned([(0, short), (2, long)], batch=3, length=5)
    # then: each row ends at the last column; row 1, given nothing, is all zeros
    assert keys.shape == values.shape == (3, HEADS, 5, DIM)
    assert keys[0, 0, :, 0].tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]
    assert values[0, 0, :, 0].tolist() == [0.0, 0.0, 0.0, -1.0, -1.0]
    assert keys[2, 1, :, 3].tolist() == [0.0, 2.0, 2.0, 2.0, 2.0]
    assert not keys[1].any() and not values[1].any()
