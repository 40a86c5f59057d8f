"""Token bytes read from each kind of tokenizer's own model and decoder, and constrained decoding with them.

Four tokenizers are built here with the ``tokenizers`` library: SentencePiece-style BPE with byte
fallback (Llama 2), Unigram with Metaspace and no byte fallback (T5, ALBERT), byte-level BPE with
a regex Split pre-tokenizer and some single-byte tokens removed (Llama 3, Qwen, SmolLM2) and
WordPiece (BERT). For each, every token's bytes are what ``decode`` adds for it after another
token, and a stand-in model held to a grammar writes only parseable answers in the schema. The
real SmolLM2 tokenizer (``models/smollm2-135m-instruct``, made by ``make models``) is checked too.
"""

from __future__ import annotations

import json
import time

import pytest
import torch
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from knowcoder.inference.constrained import (
    SchemaConstraint,
    TokenTable,
    TokenTrie,
    token_bytes,
    token_table,
)
from knowcoder.inference.extract import ExtractionRequest, Extractor
from knowcoder.inference.grammar import NEVER, ResultsGrammar
from knowcoder.parser import parse_results
from knowcoder.prompts import PromptBuilder, PromptOptions
from knowcoder.records import EntityRecord
from tests.inference.scripted import scripted_decode

from ..conftest import REPO

SMOLLM2 = REPO / "models/smollm2-135m-instruct"
CORPUS = [
    'results = [Person("Ada Park"), Company("Acme Corp"), Location("Paris")]',
    "Ada Park joined Acme Corp in Paris.",
    "Kenji Watanabe joined Orion Systems in Osaka.",
    'results = [Person("Kenji Watanabe"), Company("Orion Systems")]',
    "李明于2020年加入星河科技，办公室在上海。",
    'results = [Person("李明"), Company("星河科技"), Location("上海")]',
    "Zoë moved to Iraq, then to Qatar; she said: “fine”.",
]
SPECIALS = ["<unk>", "<s>", "</s>"]
LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def _wrap(backend: Tokenizer, **special: str) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(tokenizer_object=backend, clean_up_tokenization_spaces=False, **special)


def _trained_bpe(pre_tokenizer, normalizer=None, *, vocab_size: int, alphabet=()) -> tuple[dict, list]:
    """The vocabulary and merges of a BPE trained on the corpus, without special tokens."""
    backend = Tokenizer(models.BPE())
    if normalizer is not None:
        backend.normalizer = normalizer
    if pre_tokenizer is not None:
        backend.pre_tokenizer = pre_tokenizer
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, initial_alphabet=list(alphabet), show_progress=False
    )
    backend.train_from_iterator(CORPUS * 3, trainer=trainer)
    model = json.loads(backend.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return model["vocab"], merges


def _renumber(tokens: list[str]) -> dict[str, int]:
    return {token: i for i, token in enumerate(dict.fromkeys(tokens))}


def llama2_style() -> PreTrainedTokenizerFast:
    """SentencePiece-converted BPE: ``▁`` for a space, ``<0xNN>`` byte fallback, Replace decoder."""
    normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    learned, merges = _trained_bpe(None, normalizer, vocab_size=300)
    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    vocab = _renumber([*SPECIALS, *byte_tokens, *sorted(learned, key=learned.get)])
    backend = Tokenizer(models.BPE(vocab, merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    backend.normalizer = normalizer
    backend.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    backend.add_special_tokens(SPECIALS)
    return _wrap(backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>")


def metaspace_unigram() -> PreTrainedTokenizerFast:
    """A Unigram with a Metaspace pre-tokenizer and decoder and no byte fallback (T5, ALBERT)."""
    backend = Tokenizer(models.Unigram())
    backend.pre_tokenizer = pre_tokenizers.Metaspace()
    backend.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=180, special_tokens=SPECIALS, unk_token="<unk>", show_progress=False
    )
    backend.train_from_iterator([line for line in CORPUS * 3 if "Zoë" not in line], trainer=trainer)
    return _wrap(backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>")


#: single bytes a byte-level vocabulary may lack: never in UTF-8, control bytes, and here also
#: "q" (with every token holding it) and the lead byte of 中 (left only inside longer tokens)
REMOVED_BYTES = [0xC0, 0xC1, *range(0xF5, 0x100), 0x00, 0x01, 0x7F, ord("q"), 0xE4]


def byte_level_bpe() -> PreTrainedTokenizerFast:
    """Llama 3 / Qwen style: a regex Split, then ByteLevel without its own regex; some bytes missing."""
    pre = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    learned, merges = _trained_bpe(pre, vocab_size=600, alphabet=pre_tokenizers.ByteLevel.alphabet())
    from knowcoder.inference.constrained import _byte_level_alphabet

    stand_in = {byte: char for char, byte in _byte_level_alphabet().items()}
    gone = {stand_in[b] for b in REMOVED_BYTES}
    kept = [t for t in sorted(learned, key=learned.get) if t not in gone and "q" not in t]
    vocab = _renumber(["<|endoftext|>", *kept])
    merges = [(a, b) for a, b in merges if a in vocab and b in vocab and a + b in vocab]
    backend = Tokenizer(models.BPE(vocab, merges))
    backend.pre_tokenizer = pre
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(["<|endoftext|>"])
    return _wrap(backend, bos_token="<|endoftext|>", eos_token="<|endoftext|>")


WORDS = [
    "results",
    "=",
    "[",
    "]",
    "(",
    ")",
    '"',
    ",",
    ".",
    "Person",
    "Company",
    "Ada",
    "Park",
    "Acme",
    "Corp",
]


def wordpiece() -> PreTrainedTokenizerFast:
    """BERT style: ``##`` continues a word, a word-initial token is written after a space."""
    chars = sorted({ch for line in CORPUS for ch in line if not ch.isspace()} - {"李", "明"})
    tokens = [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        *WORDS,
        *chars,
        *(f"##{w}" for w in WORDS),
        *(f"##{c}" for c in chars),
    ]
    tokens += ["##", "n't", "'s"]
    backend = Tokenizer(models.WordPiece(_renumber(tokens), unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    backend.add_special_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]"])
    return _wrap(backend, unk_token="[UNK]", bos_token="[CLS]", eos_token="[SEP]", pad_token="[PAD]")


KINDS = {
    "llama2": llama2_style,
    "unigram": metaspace_unigram,
    "bytelevel": byte_level_bpe,
    "wordpiece": wordpiece,
}


@pytest.fixture(scope="module", params=list(KINDS))
def kind(request) -> tuple[str, PreTrainedTokenizerFast]:
    return request.param, KINDS[request.param]()


def _prefix(tokenizer: PreTrainedTokenizerFast) -> int:
    """A plain token to decode each token after: "Ada" where it is one, else the first ASCII word."""
    table = token_table(tokenizer)
    ada = tokenizer.get_vocab().get("Ada")
    if ada in table.tokens:
        return ada
    return next(t for t, data in table.tokens.items() if data.isalpha() and len(data) > 1)


# (tokens, included, excluded by reason, kind)
TABLES = {
    "llama2": (
        507,
        504,
        {"a special or added token": 3},
        "BPE with byte fallback, decoder Replace+ByteFallback+Fuse+Strip",
    ),
    "unigram": (75, 72, {"a special or added token": 3}, "Unigram, decoder Metaspace"),
    "bytelevel": (395, 394, {"a special or added token": 1}, "BPE, decoder ByteLevel"),
    "wordpiece": (
        149,
        144,
        {"a special or added token": 4, "writes no bytes": 1},
        "WordPiece, decoder WordPiece",
    ),
}


def _reasons(table: TokenTable) -> dict[str, int]:
    out: dict[str, int] = {}
    for reason in table.excluded.values():
        out[reason] = out.get(reason, 0) + 1
    return out


def test_each_kind_yields_its_table(kind):
    name, tokenizer = kind
    table = token_table(tokenizer)
    assert (len(tokenizer), len(table.tokens), _reasons(table), table.kind) == TABLES[name]
    assert len(table.tokens) + len(table.excluded) == len(tokenizer)
    assert not set(table.tokens) & set(tokenizer.all_special_ids)


def test_token_bytes_are_what_decode_adds_after_another_token(kind):
    _, tokenizer = kind
    table, first = token_table(tokenizer), _prefix(tokenizer)
    base = tokenizer.decode([first])
    ids = sorted(table.tokens)
    texts = tokenizer.batch_decode([[first, t] for t in ids])
    wrong = {
        tokenizer.convert_ids_to_tokens(t): text
        for t, text in zip(ids, texts, strict=True)
        if text != base + table.tokens[t].decode("utf-8", "replace")
    }
    assert wrong == {}


def test_byte_fallback_tokens_are_bytes():
    tokenizer = llama2_style()
    pieces = token_bytes(tokenizer)
    ids = tokenizer.convert_tokens_to_ids(["<0xE4>", "<0xB8>", "<0xAD>"])  # 中, which the corpus lacks
    assert [pieces[t] for t in ids] == [b"\xe4", b"\xb8", b"\xad"]
    assert tokenizer.decode(ids) == "中"
    encoded = tokenizer("中 Ada")["input_ids"]
    assert b"".join(pieces[t] for t in encoded) == " 中 Ada".encode()  # the SentencePiece prefix space
    assert tokenizer.decode(encoded) == "中 Ada"  # decode strips it only at the start of a text


def test_wordpiece_word_starts_are_written_after_a_space():
    tokenizer = wordpiece()
    pieces = token_bytes(tokenizer)
    vocab = tokenizer.get_vocab()
    assert [pieces[vocab[t]] for t in ["Park", "##Park", "(", "##(", ".", "n't", "'s"]] == [
        b" Park",
        b"Park",
        b" (",
        b"(",
        b".",  # the decoder's clean-up joins these to the word before
        b"n't",
        b"'s",
    ]
    assert vocab["##"] not in pieces  # the bare prefix writes nothing


def test_byte_level_without_some_byte_tokens():
    tokenizer = byte_level_bpe()
    pieces = token_bytes(tokenizer)
    singles = {data[0] for data in pieces.values() if len(data) == 1}
    assert set(range(256)) - singles == set(REMOVED_BYTES)
    assert not any(b"q" in data for data in pieces.values())
    assert "上".encode() in pieces.values()  # its lead byte only inside longer tokens
    trie = TokenTrie(pieces)
    assert trie.spell("上海".encode()) == 1 and trie.spell("上".encode()) == 1
    assert trie.spell(b"Iraq") == NEVER and trie.spell(b"\xe4") == NEVER


# ---- constrained decoding with each kind ---------------------------------------------------------
SENTENCE = "Ada Park joined Acme Corp in Paris."


def _scripted(grammar, trie, eos: int, vocab: int, script: str, *, steps: int = 60) -> str:
    """The scripted stand-in model (``scripted_decode``) for a vocabulary of ``vocab`` ids."""
    return scripted_decode(grammar, trie, eos, vocab, script, prompt_id=eos, steps=steps)


def _check(output: str, grammar: ResultsGrammar, sentence: str) -> list[tuple[str, str]]:
    """The (class, span) items of a parseable NER answer, checked to be in the schema."""
    assert grammar.accepts(output), output
    records = parse_results(output, "ner").records
    assert all(isinstance(r, EntityRecord) for r in records), output
    items = [(r.type, r.text) for r in records if isinstance(r, EntityRecord)]
    assert all(kind in ("Person", "Company") and span in sentence for kind, span in items), output
    return items


def test_each_kind_writes_what_the_model_wants_when_it_is_allowed(kind):
    _, tokenizer = kind
    trie = TokenTrie.from_tokenizer(tokenizer)
    grammar = ResultsGrammar("ner", ["Person", "Company"], SENTENCE)
    script = 'results = [Person("Ada Park"), Company("Acme Corp")]'
    assert _scripted(grammar, trie, tokenizer.eos_token_id, len(tokenizer), script) == script


def test_each_kind_keeps_a_hallucinating_model_in_the_schema(kind):
    _, tokenizer = kind
    trie = TokenTrie.from_tokenizer(tokenizer)
    grammar = ResultsGrammar("ner", ["Person", "Company"], SENTENCE)
    script = 'results = [Person("Ada Park"), Location("Paris"), Person("Bob")]'
    output = _scripted(grammar, trie, tokenizer.eos_token_id, len(tokenizer), script)
    assert _check(output, grammar, SENTENCE)[0] == ("Person", "Ada Park")


@pytest.mark.parametrize(
    ("name", "sentence", "unwritable", "writable"),
    [
        ("unigram", "Ada Park met Zoë in Paris.", "Zoë", "Paris"),  # Z and ë are in no token
        ("bytelevel", "Ada Park met Iraq's envoy in 上海.", "Iraq", "上海"),  # q is in no token
    ],
)
def test_spans_through_an_unwritable_character_are_unreachable(name, sentence, unwritable, writable):
    tokenizer = KINDS[name]()
    trie = TokenTrie.from_tokenizer(tokenizer)
    eos, size = tokenizer.eos_token_id, len(tokenizer)
    grammar = ResultsGrammar("ner", ["Person", "Company"], sentence)
    opened = grammar.advance(grammar.initial, 'results = [Person("')
    assert opened is not None and grammar.shortest_completion(opened, trie) < NEVER
    inside = grammar.advance(opened, unwritable[:2])
    assert inside is not None  # the grammar (bytes) allows it ...
    assert grammar.shortest_completion(inside, trie) == NEVER  # ... but no tokens can finish it
    wanted = f'results = [Person("{unwritable}"), Company("{writable}")]'
    output = _scripted(grammar, trie, eos, size, wanted)
    assert unwritable not in output and unwritable[-1] not in output
    assert _check(output, grammar, sentence)
    fine = f'results = [Company("{writable}")]'
    assert _scripted(grammar, trie, eos, size, fine) == fine


def test_a_vocabulary_that_cannot_write_the_empty_answer_is_refused():
    grammar = ResultsGrammar("ner", ["Person"], SENTENCE)
    trie = TokenTrie({0: b"results", 1: b" = ", 2: b"["})  # no "]"
    with pytest.raises(ValueError, match="cannot write the empty answer"):
        SchemaConstraint([grammar], trie, 3)


def test_constrained_extraction_returns_the_checked_bytes(mini_ontology):
    """WordPiece's decode drops the first token's space and has no "##" to show; the extractor's
    answer is the bytes the grammar checked."""
    tokenizer = wordpiece()
    trie = TokenTrie.from_tokenizer(tokenizer)
    script = 'results = [Person("Ada Park")]'
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=8,
        intermediate_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=4096,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )

    class WantsScript(LlamaForCausalLM):
        """A real one-layer Llama whose last logits prefer the tokens that spell the script's rest
        after what it wrote, then EOS."""

        written = b""

        def forward(self, input_ids=None, past_key_values=None, **kwargs):
            prefill = past_key_values is None or not past_key_values.get_seq_length()
            out = super().forward(input_ids=input_ids, past_key_values=past_key_values, **kwargs)
            if prefill:
                self.written = b""
            else:
                self.written += b"".join(trie.tokens.get(t, b"") for t in input_ids[0].tolist())
            rest = script.encode()[len(self.written) :]
            scores = torch.zeros(len(tokenizer))
            for token_id, data in trie.tokens.items():
                if rest.startswith(data):
                    scores[token_id] = len(data)
            scores[tokenizer.eos_token_id] = 0 if rest else 1000
            out.logits[:, -1] = scores
            return out

    builder = PromptBuilder(mini_ontology, PromptOptions(system=False, descriptions=False))
    extractor = Extractor(WantsScript(config).eval(), tokenizer, builder, max_new_tokens=30, constrained=True)
    request = ExtractionRequest("r", "ner", SENTENCE, ("Person", "Company"))
    (prediction,) = extractor.extract([request])
    assert prediction.output == script
    assert prediction.records == [EntityRecord("Person", "Ada Park")]
    assert tokenizer.decode(tokenizer(script, add_special_tokens=False)["input_ids"]) != script


# ---- errors, caching and speed ---------------------------------------------------------------------
def test_tokenizers_whose_token_bytes_are_unknown_are_refused():
    class SlowTokenizer:
        pass

    with pytest.raises(ValueError, match=r"^SlowTokenizer is a slow \(Python\) tokenizer .*use_fast=True"):
        token_table(SlowTokenizer())
    backend = Tokenizer(models.WordPiece({"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    backend.decoder = decoders.CTC()
    with pytest.raises(ValueError, match="its decoder CTC works across tokens"):
        token_table(_wrap(backend))


def test_tables_and_tries_are_cached_per_tokenizer():
    tokenizer = byte_level_bpe()
    table = token_table(tokenizer)
    assert token_table(tokenizer) is table and token_bytes(tokenizer) is table.tokens
    trie = TokenTrie.from_tokenizer(tokenizer)
    assert TokenTrie.from_tokenizer(tokenizer) is trie and trie.tokens is table.tokens
    tokenizer.add_tokens(["<extra>"])
    assert token_table(tokenizer) is not table
    assert tokenizer.convert_tokens_to_ids("<extra>") in token_table(tokenizer).excluded


def test_a_qwen_sized_byte_level_table_builds_fast():
    """150,000 tokens of byte-level BPE: the table and the trie in a few seconds on a slow machine."""
    import random

    from knowcoder.inference.constrained import _byte_level_alphabet

    rng = random.Random(0)
    chars = sorted(_byte_level_alphabet())
    vocab = {char: i for i, char in enumerate(chars)}
    while len(vocab) < 150_000:
        vocab.setdefault("".join(rng.choices(chars[:94], k=rng.randint(2, 10))), len(vocab))
    backend = Tokenizer(models.BPE(vocab, []))
    backend.decoder = decoders.ByteLevel()
    tokenizer = _wrap(backend)
    start = time.perf_counter()
    trie = TokenTrie.from_tokenizer(tokenizer)
    seconds = time.perf_counter() - start
    assert len(trie.tokens) == 150_000
    assert seconds < 6, seconds


# ---- the real SmolLM2 tokenizer ----------------------------------------------------------------------
SMOLLM2_INCLUDED = 49_135
SMOLLM2_EXCLUDED = {"a special or added token": 17}  # <|endoftext|>, <|im_start|>, <repo_name>, ...
#: single bytes without a token of their own: six control bytes, the lead bytes of planes 4 to 11
#: (0xF1, 0xF2), and bytes that never occur in UTF-8 (0xC0, 0xC1, 0xF5 to 0xFF)
SMOLLM2_MISSING_BYTES = {0x04, 0x06, 0x13, 0x14, 0x16, 0x1D, 0xC0, 0xC1, 0xF1, 0xF2, *range(0xF5, 0x100)}


@pytest.fixture(scope="module")
def smollm2():
    """SmolLM2-135M-Instruct's tokenizer, from the directory ``make models`` converts."""
    return AutoTokenizer.from_pretrained(SMOLLM2)


def test_smollm2_table(smollm2):
    table = token_table(smollm2)
    assert len(smollm2) == 49_152
    assert table.kind == "BPE, decoder ByteLevel"
    assert (len(table.tokens), _reasons(table)) == (SMOLLM2_INCLUDED, SMOLLM2_EXCLUDED)
    singles = {data[0] for data in table.tokens.values() if len(data) == 1}
    assert set(range(256)) - singles == SMOLLM2_MISSING_BYTES
    first = smollm2.convert_tokens_to_ids("Ada") if "Ada" in smollm2.get_vocab() else _prefix(smollm2)
    base = smollm2.decode([first])
    ids = sorted(table.tokens)
    texts = smollm2.batch_decode([[first, t] for t in ids])
    wrong = [
        t
        for t, text in zip(ids, texts, strict=True)
        if text != base + table.tokens[t].decode("utf-8", "replace")
    ]
    assert wrong == []


def test_smollm2_constrained_answers(smollm2):
    trie = TokenTrie.from_tokenizer(smollm2)
    sentence = '李明于2020年加入"星河科技"，Ada Park joined Acme Corp in Paris.'
    grammar = ResultsGrammar("ner", ["Person", "Company"], sentence)
    script = 'results = [Person("Ada Park"), Company("\\"星河科技\\""), Location("Paris")]'
    output = _scripted(grammar, trie, smollm2.eos_token_id, len(smollm2), script)
    assert output.startswith('results = [Person("Ada Park"), Company("\\"星河科技\\""), ')  # then off script
    assert _check(output, grammar, sentence)[:2] == [("Person", "Ada Park"), ("Company", '"星河科技"')]
    # "results", " =", " []": the budget counts the tokens of the whole fixed text
    assert grammar.shortest_completion(grammar.initial, trie) == trie.spell(b"results = []") == 3
