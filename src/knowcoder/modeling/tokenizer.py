"""A byte-level BPE tokenizer trained on the bundled corpora, for the tiny base model.

What ``tokenizer(text)`` adds: nothing. No BOS, no EOS, no normalisation, no prefix space; callers
that want ``<|bos|>``/``<|eos|>`` add them explicitly (``tokenizer.bos_token_id`` and so on). Being
byte-level, any text (English, Chinese, quotes, tabs, newlines) is encodable and
``tokenizer.decode(tokenizer(text)["input_ids"]) == text`` exactly. As in every Hugging Face
tokenizer, the literal strings of the special tokens inside a text are read as those tokens.

``<|pad|>`` is its own token, distinct from ``<|eos|>``: a collator can then tell padding apart from a
real end of sequence by id, and the model learns to emit EOS without padding being masked with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

#: every byte gets a token up front, so unseen characters still encode (as their UTF-8 bytes)
BYTE_ALPHABET_SIZE = 256


@dataclass(frozen=True)
class SpecialTokens:
    """The three special tokens; they get ids 0, 1 and 2 in this order."""

    bos: str = "<|bos|>"
    eos: str = "<|eos|>"
    pad: str = "<|pad|>"

    def as_list(self) -> list[str]:
        return [self.bos, self.eos, self.pad]


def train_tokenizer(
    texts: Iterable[str],
    *,
    vocab_size: int,
    min_frequency: int = 2,
    special_tokens: SpecialTokens = SpecialTokens(),  # frozen, so one shared default is safe
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer on ``texts``; the same texts give the same tokenizer.

    ``vocab_size`` counts the special tokens and the 256 byte tokens; a small corpus may stop short
    of it. ``min_frequency`` is how often a pair must occur to be merged.
    """
    names = special_tokens.as_list()
    if len(set(names)) != len(names):
        raise ValueError(f"special_tokens must be distinct, got {names}")
    smallest = BYTE_ALPHABET_SIZE + len(names)
    if vocab_size < smallest:
        raise ValueError(
            f"vocab_size={vocab_size} is too small: the byte alphabet and the special tokens "
            f"alone take {smallest}; use at least {smallest} (a few thousand for real corpora)"
        )
    if min_frequency < 1:
        raise ValueError(f"min_frequency={min_frequency} must be at least 1")

    backend = Tokenizer(models.BPE())
    # GPT-2 pre-tokenisation: words keep their leading space, so "Ġresults" and "ĊĠĠĠ" (newline
    # plus indentation) become tokens of their own when the corpus repeats them.
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=names,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=special_tokens.bos,
        eos_token=special_tokens.eos,
        pad_token=special_tokens.pad,
        # explicit, so transformers installs a post-processor that adds nothing (kept in tokenizer.json)
        add_bos_token=False,
        add_eos_token=False,
        # the WordPiece-era clean-up rewrites " ." to "."; off, so decoding is exact on any version
        clean_up_tokenization_spaces=False,
    )
