"""A tokenizer trained once on the small in-test corpus, shared by the modeling tests."""

from __future__ import annotations

import pytest

from knowcoder.modeling.tokenizer import train_tokenizer
from tests.modeling.corpus import CORPUS, TINY_VOCAB


@pytest.fixture(scope="session")
def tokenizer():
    return train_tokenizer(CORPUS, vocab_size=TINY_VOCAB)
