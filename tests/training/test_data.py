from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from knowcoder.training.data import (
    IGNORE_INDEX,
    PackedCollator,
    PaddingCollator,
    TokenStats,
    encode_example,
    pack_documents,
    shuffle_buffered,
)

BOS, EOS, PAD = 1, 2, 0
documents_strategy = st.lists(st.lists(st.integers(3, 50), min_size=0, max_size=40), min_size=1, max_size=30)


def unpack(rows):
    """Split packed rows back into segments using the position ids (a restart = a new segment)."""
    segments = []
    for row in rows:
        current = []
        for token, position in zip(row["input_ids"], row["position_ids"], strict=True):
            if position == 0 and current:
                segments.append(current)
                current = []
            current.append(token)
        segments.append(current)
    return [s for s in segments if any(t != PAD for t in s)]


@settings(max_examples=200, deadline=None)
@given(documents=documents_strategy, max_length=st.integers(2, 64))
def test_packing_loses_no_token_and_keeps_boundaries(documents, max_length):
    rows = list(pack_documents(documents, max_length=max_length, bos_id=BOS, eos_id=EOS, pad_id=PAD))
    assert all(
        len(row["input_ids"]) == len(row["labels"]) == len(row["position_ids"]) == max_length for row in rows
    )
    # each segment is a whole document (or, for long ones, a max_length piece of one), each once
    expected = []
    for document in documents:
        tokens = [BOS, *document, EOS]
        expected += [tokens[i : i + max_length] for i in range(0, len(tokens), max_length)]
    assert sorted(unpack(rows)) == sorted(expected)
    # a window of one row is next fit: the documents' tokens in their order
    rows = list(
        pack_documents(documents, max_length=max_length, bos_id=BOS, eos_id=EOS, pad_id=PAD, open_rows=1)
    )
    assert unpack(rows) == expected


def test_best_fit_fills_the_rows_next_fit_leaves_half_empty():
    documents = [[5] * 4, [6] * 4, [], []]  # 6, 6, 2 and 2 tokens with BOS and EOS
    best = list(pack_documents(documents, max_length=8, bos_id=BOS, eos_id=EOS, pad_id=PAD))
    assert [row["input_ids"] for row in best] == [[1, 5, 5, 5, 5, 2, 1, 2], [1, 6, 6, 6, 6, 2, 1, 2]]
    assert [row["position_ids"] for row in best] == [[0, 1, 2, 3, 4, 5, 0, 1]] * 2
    nxt = list(pack_documents(documents, max_length=8, bos_id=BOS, eos_id=EOS, pad_id=PAD, open_rows=1))
    assert len(nxt) == 3 and sum(row["input_ids"].count(PAD) for row in nxt) == 8
    with pytest.raises(ValueError, match="open_rows"):
        list(pack_documents(documents, max_length=8, bos_id=BOS, eos_id=EOS, pad_id=PAD, open_rows=0))


def test_labels_mask_padding_and_cross_document_predictions():
    rows = list(pack_documents([[5, 6], [7]], max_length=8, bos_id=BOS, eos_id=EOS, pad_id=PAD))
    assert rows == [
        {
            "input_ids": [1, 5, 6, 2, 1, 7, 2, 0],
            # the second document's BOS would be predicted from the first's EOS: ignored
            "labels": [1, 5, 6, 2, IGNORE_INDEX, 7, 2, IGNORE_INDEX],
            "position_ids": [0, 1, 2, 3, 0, 1, 2, 0],
        }
    ]


def test_packed_rows_give_a_block_diagonal_mask_in_the_model():
    """Document 2 must not see document 1: its logits equal those of document 2 alone.

    Only without a KV cache: with one, transformers ignores restarting position ids, which is
    why the trainer turns ``use_cache`` off for every stage.
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
        attn_implementation="sdpa",
        use_cache=False,
    )
    model = LlamaForCausalLM(config).eval()
    rows = list(pack_documents([[5, 6, 7], [8, 9]], max_length=9, bos_id=BOS, eos_id=EOS, pad_id=PAD))
    batch = PackedCollator(PAD)(rows)
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits
        alone = model(input_ids=torch.tensor([[BOS, 8, 9, EOS]])).logits
    torch.testing.assert_close(packed[0, 5:9], alone[0], rtol=1e-4, atol=1e-4)
    model.config.use_cache = True  # the trap the trainer avoids: a cache hides the packing
    with torch.no_grad():
        leaky = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits
    assert not torch.allclose(leaky[0, 5:9], alone[0], atol=1e-3)


def test_packed_collator_counts_padding():
    stats = TokenStats()
    rows = list(pack_documents([[5, 6], [7]], max_length=8, bos_id=BOS, eos_id=EOS, pad_id=PAD))
    batch = PackedCollator(PAD, stats)(rows)
    assert set(batch) == {"input_ids", "labels", "position_ids"}  # no attention_mask: packing mode
    assert (stats.real_tokens, stats.total_tokens, stats.target_tokens) == (7, 8, 6)
    assert stats.padding_share == pytest.approx(1 / 8)


@pytest.fixture(scope="module")
def tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    texts = ['results = [Person("Ada Park")]', "sentence = 'Ada Park joined Acme.'"] * 20
    raw.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=300,
            special_tokens=["<|pad|>", "<|bos|>", "<|eos|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=raw, pad_token="<|pad|>", bos_token="<|bos|>", eos_token="<|eos|>"
    )


def test_labels_are_ignored_exactly_on_the_prompt(tokenizer):
    prompt, target = "sentence = 'Ada Park joined Acme.'\nOutput:\n", 'results = [Person("Ada Park")]'
    encoded = encode_example(prompt, target, tokenizer, max_length=200)
    n_prompt = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    n_target = len(tokenizer(target, add_special_tokens=False)["input_ids"])
    assert encoded["length"] == len(encoded["input_ids"]) == 1 + n_prompt + n_target + 1
    assert encoded["labels"][: 1 + n_prompt] == [IGNORE_INDEX] * (1 + n_prompt)
    assert encoded["labels"][1 + n_prompt :] == encoded["input_ids"][1 + n_prompt :]
    assert tokenizer.decode(encoded["input_ids"][1 + n_prompt : -1]) == target
    assert encoded["input_ids"][-1] == tokenizer.eos_token_id


def test_too_long_examples_are_dropped_not_truncated(tokenizer):
    assert encode_example("x " * 100, "results = []", tokenizer, max_length=20) is None


def test_padding_collator_masks_padding_in_labels(tokenizer):
    short = encode_example("a", "results = []", tokenizer, max_length=100)
    long = encode_example("a b c d e f g", 'results = [Person("Ada Park")]', tokenizer, max_length=100)
    stats = TokenStats()
    batch = PaddingCollator(tokenizer.pad_token_id, stats=stats)([short, long])
    width = long["length"]
    padding = width - short["length"]
    assert batch["input_ids"].shape == (2, width)
    assert batch["labels"][0, short["length"] :].tolist() == [IGNORE_INDEX] * padding
    assert batch["attention_mask"][0].tolist() == [1] * short["length"] + [0] * padding
    assert batch["labels"][1].tolist() == long["labels"]
    assert stats.total_tokens == 2 * width and stats.real_tokens == short["length"] + long["length"]
    wide = PaddingCollator(tokenizer.pad_token_id, multiple_of=8)([short])
    assert wide["input_ids"].shape[1] % 8 == 0


@settings(max_examples=100, deadline=None)
@given(items=st.lists(st.integers(), max_size=60), buffer=st.integers(1, 80), seed=st.integers(0, 5))
def test_buffered_shuffle_is_a_seeded_permutation(items, buffer, seed):
    shuffled = list(shuffle_buffered(items, buffer=buffer, seed=seed))
    assert sorted(shuffled) == sorted(items)
    assert shuffled == list(shuffle_buffered(items, buffer=buffer, seed=seed))
    if buffer == 1:
        assert shuffled == items


def test_buffered_shuffle_spreads_the_documents_of_one_sentence_over_rows():
    """Four documents per sentence, side by side in the corpus: packed in corpus order, a row of
    eight documents holds two sentences; drawn from a buffer, it holds documents of many."""
    documents = [[1000 + sentence, 3 + task] for sentence in range(200) for task in range(4)]

    def sentences_per_row(order):
        rows = list(pack_documents(order, max_length=32, bos_id=BOS, eos_id=EOS, pad_id=PAD))
        return [len({t for t in row["input_ids"] if t >= 1000}) for row in rows]

    in_order = sentences_per_row(documents)
    shuffled = sentences_per_row(list(shuffle_buffered(documents, buffer=512, seed=0)))
    assert max(in_order) == 2
    assert sum(shuffled) / len(shuffled) > 6
    with pytest.raises(ValueError, match="buffer must be at least 1"):
        list(shuffle_buffered(documents, buffer=0, seed=0))


def test_rows_left_open_at_the_end_are_packed_again_when_that_saves_rows():
    # 2, 2, 5 and 5 tokens with BOS and EOS: online best fit leaves [2 2] [5] [5] open at the end;
    # packed again, largest first, they fit in two rows
    documents = [[], [], [5, 5, 5], [6, 6, 6]]
    rows = list(pack_documents(documents, max_length=8, bos_id=BOS, eos_id=EOS, pad_id=PAD))
    assert [row["input_ids"] for row in rows] == [
        [1, 5, 5, 5, 2, 1, 2, 0],
        [1, 6, 6, 6, 2, 1, 2, 0],
    ]
    assert [row["position_ids"] for row in rows] == [[0, 1, 2, 3, 4, 0, 1, 0]] * 2
    assert [row["labels"][5] for row in rows] == [IGNORE_INDEX] * 2  # a later piece's first token
