"""The byte-level BPE tokenizer: deterministic, exact round trips, nothing added behind the caller's back."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from transformers import AutoTokenizer

from knowcoder.modeling.tokenizer import SpecialTokens, train_tokenizer
from tests.modeling.corpus import CORPUS, TINY_VOCAB

CHINESE = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
CODE_PIECES = [*" \t\n\r\"'()[]=,.:\\`", "    ", "results = [", "class ", "<|eos|>"]
# any character a UTF-8 text can hold: a lone surrogate (Cs) cannot be encoded at all
CODE_TEXT = st.lists(
    st.one_of(st.sampled_from(CODE_PIECES), CHINESE, st.characters(blacklist_categories=("Cs",)))
).map("".join)


def test_same_corpus_gives_the_same_tokenizer():
    # when trained twice on the same corpus (the trainer's hash maps are seeded afresh each time)
    first = train_tokenizer(CORPUS, vocab_size=TINY_VOCAB)
    second = train_tokenizer(CORPUS, vocab_size=TINY_VOCAB)
    # then vocabulary, merges and every setting are identical
    assert first.backend_tokenizer.to_str() == second.backend_tokenizer.to_str()
    assert json.loads(first.backend_tokenizer.to_str())["model"]["merges"][:3] == [
        ["Ġ", "Ġ"],
        ['"', '"'],
        ["Ċ", "ĠĠ"],
    ]


def test_special_tokens_are_distinct_and_registered(tokenizer):
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token) == (
        "<|bos|>",
        "<|eos|>",
        "<|pad|>",
    )
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id) == (0, 1, 2)
    assert tokenizer.convert_ids_to_tokens([0, 1, 2]) == ["<|bos|>", "<|eos|>", "<|pad|>"]


def test_encoding_adds_no_special_tokens(tokenizer):
    # when a text is encoded through the transformers API
    ids = tokenizer("Ada Park works for Acme Corp.")["input_ids"]
    # then it is exactly the backend's encoding: no BOS, no EOS
    assert ids == tokenizer.backend_tokenizer.encode("Ada Park works for Acme Corp.").ids
    assert not {0, 1, 2} & set(ids)


def test_vocab_size_is_reached_and_covers_every_byte(tokenizer):
    assert len(tokenizer) == TINY_VOCAB
    assert tokenizer.decode(tokenizer("\x00\x7f€😀")["input_ids"]) == "\x00\x7f€😀"


@pytest.mark.parametrize(
    "text",
    [
        'results = [Person("Ada \\"Al\\" Park")]',
        "李娜1982年出生于湖北武汉。",
        "tab\there\nnew line\r\n  two spaces  .  ",
        "    ",
        "",
    ],
)
def test_known_texts_round_trip(tokenizer, text):
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text


@given(text=CODE_TEXT)
def test_any_text_round_trips(tokenizer, text):
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text


@pytest.mark.parametrize(
    ("piece", "most"),
    [("results", 1), ("    ", 2), ('")', 1), ("class ", 2), ("(Entity):", 3), ("results = [", 3)],
)
def test_frequent_code_pieces_take_few_tokens(tokenizer, piece, most):
    assert len(tokenizer(piece)["input_ids"]) <= most


def test_saved_tokenizer_loads_back_with_auto_tokenizer(tokenizer, tmp_path):
    # given the tokenizer saved in Hugging Face format; when loaded with AutoTokenizer
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    text = 'class City(Entity):\n\tsentence = "王磊 left"'
    # then it encodes, decodes and names its special tokens the same way
    assert loaded(text)["input_ids"] == tokenizer(text)["input_ids"]
    assert loaded.decode(loaded(text)["input_ids"]) == text
    assert (loaded.bos_token_id, loaded.eos_token_id, loaded.pad_token_id) == (0, 1, 2)


def test_custom_special_tokens_take_the_first_ids():
    tokenizer = train_tokenizer(CORPUS, vocab_size=300, special_tokens=SpecialTokens("<s>", "</s>", "<pad>"))
    assert tokenizer.convert_ids_to_tokens([0, 1, 2]) == ["<s>", "</s>", "<pad>"]
    assert tokenizer.pad_token_id == 2


def test_too_small_vocab_is_refused_with_the_minimum():
    with pytest.raises(ValueError, match=r"vocab_size=100 .* at least 259"):
        train_tokenizer(CORPUS, vocab_size=100)


def test_duplicate_special_tokens_are_refused():
    with pytest.raises(ValueError, match="distinct"):
        train_tokenizer(CORPUS, vocab_size=300, special_tokens=SpecialTokens(pad="<|eos|>"))
