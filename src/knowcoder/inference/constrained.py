"""Schema-constrained decoding: a logits processor that lets a model write only what its prompt allows.

Each row of a batch has a :class:`~knowcoder.inference.grammar.ResultsGrammar`; at every step the
processor masks each token whose bytes would leave that row's grammar, so the output is a complete
``results = [...]`` followed by EOS, naming only the prompt's classes and quoting only spans of
its sentence. The allowed tokens of a state are found by walking a byte trie of the vocabulary
together with the grammar (a dead byte prunes the whole subtree) and are cached per state.

No item, and no argument within one role's list, is written more often than its first span (the
entity, the relation's head, the trigger, the argument) occurs in the sentence: a token that would
settle such a repeat is masked while another token is left. That stops the loops a weak model
falls into once it may no longer stop by writing something outside the grammar
(``Personnel("above"), Personnel("above"), ...``), and costs nothing in gold data, where an item
repeats only with its mention.

The bytes of each token (:func:`token_table`) are read from the tokenizer's own declared model
and decoder, not guessed from what its vocabulary holds: they are what the token adds to a text
it does not start (``decode([a, token])`` less ``decode([a])``), as a generated answer always
continues its prompt. Supported, from a fast tokenizer's ``tokenizers`` backend:

* ByteLevel decoder (GPT-2, Llama 3, Qwen, SmolLM2, the tiny tokenizer): the GPT-2 stand-in
  characters, whether or not every byte has a token of its own;
* SentencePiece-style BPE or Unigram: a Metaspace decoder or a Sequence of Replace (``▁`` to a
  space), ByteFallback (``<0xNN>`` is that byte), Fuse and Strip (which, after Fuse, touches only
  the text's start: mid-text it changes nothing); with or without byte fallback;
* WordPiece: ``##x`` writes ``x``, a word-initial ``x`` writes `` x`` (the space the decoder puts
  before every word but the first; its clean-up rules, `` .`` to ``.``, applied per token);
  BPEDecoder (a suffix token writes a space after it) and no decoder (tokens joined by spaces).

Special and added tokens, the unknown token, tokens that write nothing, byte-fallback tokens
that the decoder would print as text and partial characters that a later decoder step rewrites
are left out, never guessed. A decoder that works across tokens (CTC, a step after Fuse other
than Strip) and a slow tokenizer without a backend are refused with a one-line ``ValueError``.
Decoding the new ids alone may differ from the table on the first token (WordPiece drops its
space) or across tokens (``clean_up_tokenization_spaces``), so the extractor
(``inference.extract.Extractor`` with ``constrained=True``, which feeds :class:`SchemaConstraint`
to its ``generate`` call) returns the table's bytes, which are what the grammar checked. The table
and trie are cached per tokenizer object; the trie's nodes are made lazily, so a 150k vocabulary
costs a sort up front.

Every allowed token leaves a completion that the vocabulary can write: the grammar counts the
shortest completion in this vocabulary's tokens (``ResultsGrammar.shortest_completion(state,
trie)``), spelling each piece of the shortest route with as few tokens as write exactly it, and
``NEVER`` when no tokens can (a span through a character no token writes, a missing ``]``). Tokens
into such states are masked, budget or not, and a vocabulary that cannot write ``results = []``
is refused up front. With ``max_new_tokens`` the processor also keeps room to finish: a token is
allowed only when that count after it still fits. Greedy search and sampling are supported;
beam search is not (beams reorder rows, and a row's state is tracked in place).
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
import time
import weakref
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import torch
from transformers import LogitsProcessor, PreTrainedTokenizerBase

from knowcoder.inference.grammar import END, NEVER, ResultsGrammar, State

_BYTE_TOKEN = re.compile(r"<0x([0-9A-Fa-f]{2})>")
_TEXT_END = frozenset({"Fuse", "Strip"})  # steps that, once the tokens are fused, touch only the text's ends
# the rewrites WordPiece's decoder applies to each token with ``cleanup`` (tokenizers' ``cleanup``)
_WORDPIECE_CLEANUP = (
    (" .", "."),
    (" ?", "?"),
    (" !", "!"),
    (" ,", ","),
    (" ' ", "'"),
    (" n't", "n't"),
    (" 'm", "'m"),
    (" do not", " don't"),
    (" 's", "'s"),
    (" 've", "'ve"),
    (" 're", "'re"),
)


@lru_cache(maxsize=1)
def _byte_level_alphabet() -> dict[str, int]:
    """GPT-2's printable stand-in character for each byte, inverted (character -> byte)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    chars = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {chr(char): byte for byte, char in zip(printable, chars, strict=True)}


@lru_cache(maxsize=1)
def _byte_level_table() -> dict[int, str]:
    """A ``str.translate`` table taking each stand-in character to the Latin-1 character of its byte;
    the Latin-1 characters that stand for no byte go to one that Latin-1 cannot encode."""
    table = {ord(char): chr(byte) for char, byte in _byte_level_alphabet().items()}
    for code in range(256):
        table.setdefault(code, "\uffff")
    return table


def _byte_level(token: str) -> bytes:
    """What ByteLevel's decoder makes of one token: its stand-in characters' bytes, or, when one of
    its characters stands for no byte, the token's own UTF-8 (as ``tokenizers`` does)."""
    try:
        return token.translate(_byte_level_table()).encode("latin-1")
    except UnicodeEncodeError:
        return token.encode("utf-8")


@dataclass(frozen=True)
class TokenTable:
    """The bytes of each token, read from a tokenizer's own model and decoder.

    ``tokens``: id -> the bytes the token adds to a text it does not start (what
    ``decode([a, token])`` adds to ``decode([a])``); ``excluded``: id -> why a token is left out;
    ``kind``: the model and decoder in words; ``seconds``: how long deriving the table took.
    """

    tokens: dict[int, bytes]
    excluded: dict[int, str]
    kind: str
    seconds: float


def _flatten(decoder: dict[str, Any] | None) -> list[dict[str, Any]]:
    if decoder is None:
        return []
    if decoder.get("type") == "Sequence":
        return [step for inner in decoder.get("decoders", []) for step in _flatten(inner)]
    return [decoder]


def _unsupported(name: str, why: str) -> ValueError:
    return ValueError(
        f"{name}: {why}; constrained decoding reads the bytes of tokens from a fast tokenizer whose "
        "decoder is ByteLevel, Metaspace, WordPiece, BPEDecoder or a Sequence of Replace, "
        "ByteFallback, Fuse and Strip (or that has no decoder)"
    )


def _piece_decoder(name: str, spec: dict[str, Any]) -> tuple[Any, str]:
    """A function from one token string to the bytes it adds in mid-text (``None``: unknowable),
    built from the tokenizer's declared decoder, and the decoder in words."""
    steps = _flatten(spec.get("decoder"))
    kinds = [step.get("type", "?") for step in steps]
    if not steps:
        # tokenizers joins the tokens with spaces when there is no decoder
        return (lambda token: b" " + token.encode("utf-8")), "no decoder (tokens joined by spaces)"
    if kinds == ["ByteLevel"] or (kinds[0] == "ByteLevel" and set(kinds[1:]) <= _TEXT_END):
        return _byte_level, "ByteLevel"
    plan: list[tuple[str, Any]] = []
    fused = False
    for step in steps:
        kind = step.get("type")
        if kind == "Fuse":
            fused = True
        elif kind == "Strip":
            if not fused:  # before tokens are fused it strips each token; after, only the text's ends
                plan.append(("strip", (step.get("content", " "), step.get("start", 0), step.get("stop", 0))))
        elif fused:
            raise _unsupported(name, f"its decoder applies {kind} after fusing the tokens")
        elif kind == "ByteFallback":
            plan.append(("bytes", None))
        elif kind == "Metaspace":
            plan.append(("replace", (step.get("replacement", "▁"), " ")))
        elif kind == "Replace":
            pattern = step.get("pattern", {})
            if "String" in pattern:
                plan.append(("replace", (pattern["String"], step.get("content", ""))))
            else:
                plan.append(("regex", (re.compile(pattern.get("Regex", "")), step.get("content", ""))))
        elif kind == "WordPiece":
            plan.append(("wordpiece", (step.get("prefix", "##"), step.get("cleanup", True))))
        elif kind == "BPEDecoder":
            plan.append(("replace", (step.get("suffix", "</w>"), " ")))
        elif kind == "ByteLevel":
            plan.append(("bytelevel", None))
            fused = True
        else:
            raise _unsupported(
                name, f"its decoder {kind} works across tokens, so one token's bytes are unknown"
            )

    def decode(token: str) -> bytes | None:
        value: str | bytes = token
        for kind, arg in plan:
            if isinstance(value, bytes):
                if kind in ("bytes", "bytelevel"):
                    continue
                try:  # tokenizers turns a byte group back into text before the next step
                    value = value.decode("utf-8")
                except UnicodeDecodeError:
                    return None  # a partial character that a later step would rewrite
            if kind == "bytes":
                if len(value) == 6 and (match := _BYTE_TOKEN.fullmatch(value)):
                    value = bytes((int(match.group(1), 16),))
            elif kind == "replace":
                value = value.replace(*arg)
            elif kind == "regex":
                value = arg[0].sub(arg[1].replace("\\", "\\\\"), value)
            elif kind == "strip":
                content, start, stop = arg
                cut = 0
                while cut < start and value[cut : cut + 1] == content:
                    cut += 1
                end = len(value)
                while len(value) - end < stop and end > cut and value[end - 1] == content:
                    end -= 1
                value = value[cut:end]
            elif kind == "wordpiece":
                prefix, cleanup = arg
                value = value[len(prefix) :] if value.startswith(prefix) else " " + value
                if cleanup:
                    for dirty, clean in _WORDPIECE_CLEANUP:
                        value = value.replace(dirty, clean)
            elif kind == "bytelevel":
                value = _byte_level(value)
        return value if isinstance(value, bytes) else value.encode("utf-8")

    return decode, "+".join(kinds)


def _model_facts(backend: Any) -> tuple[str, bool, str | int | None]:
    """The backend model's type, whether it falls back to ``<0xNN>`` byte tokens, and its unknown token."""
    model = backend.model
    kind = type(model).__name__
    if kind == "Unigram":  # its options are only in its serialised form
        state = json.loads(model.__getstate__())
        return kind, bool(state.get("byte_fallback")), state.get("unk_id")
    return kind, bool(getattr(model, "byte_fallback", False)), getattr(model, "unk_token", None)


def _derive(tokenizer: PreTrainedTokenizerBase) -> TokenTable:
    start = time.perf_counter()
    name = type(tokenizer).__name__
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ValueError(
            f"{name} is a slow (Python) tokenizer with no tokenizers backend, so the bytes of its tokens are "
            "unknown; constrained decoding supports fast tokenizers (byte-level BPE, SentencePiece-style "
            "BPE or Unigram, WordPiece): load it with AutoTokenizer.from_pretrained(path, use_fast=True)"
        )
    model_kind, byte_fallback, unk = _model_facts(backend)
    decoder = backend.decoder
    spec = {"decoder": None if decoder is None else json.loads(decoder.__getstate__())}
    decode, decoder_kind = _piece_decoder(name, spec)
    decodes_bytes = decode is _byte_level or "ByteFallback" in decoder_kind
    vocab: dict[str, int] = backend.get_vocab(with_added_tokens=False)
    special = set(tokenizer.all_special_ids) | set(backend.get_added_tokens_decoder())
    special |= set(getattr(tokenizer, "added_tokens_decoder", {}))
    unk_id = unk if isinstance(unk, int) else vocab.get(unk) if unk is not None else None
    excluded: dict[int, str] = {}
    tokens: dict[int, bytes] = {}
    if decode is _byte_level:  # the common case, kept to one tight loop
        for token, token_id in vocab.items():
            try:
                tokens[token_id] = token.translate(_byte_level_table()).encode("latin-1")
            except UnicodeEncodeError:
                tokens[token_id] = token.encode("utf-8")
    else:
        for token, token_id in vocab.items():
            if byte_fallback and not decodes_bytes and _BYTE_TOKEN.fullmatch(token):
                excluded[token_id] = "a byte-fallback token that the decoder writes as text"
                continue
            data = decode(token)
            if data is None:
                excluded[token_id] = "a partial character that a later decoder step rewrites"
            else:
                tokens[token_id] = data
    for token_id in special:
        if tokens.pop(token_id, None) is not None or token_id not in excluded:
            excluded[token_id] = "a special or added token"
    if unk_id is not None and tokens.pop(unk_id, None) is not None:
        excluded[unk_id] = "the unknown token"
    for token_id in [t for t, data in tokens.items() if not data]:
        del tokens[token_id]
        excluded[token_id] = "writes no bytes"
    fallback = " with byte fallback" if byte_fallback else ""
    return TokenTable(
        tokens=tokens,
        excluded=excluded,
        kind=f"{model_kind}{fallback}, decoder {decoder_kind}",
        seconds=time.perf_counter() - start,
    )


_CACHE: weakref.WeakKeyDictionary[Any, tuple[int, TokenTable, TokenTrie | None]] = weakref.WeakKeyDictionary()


def token_table(tokenizer: PreTrainedTokenizerBase) -> TokenTable:
    """The :class:`TokenTable` of ``tokenizer``, derived once per tokenizer object and cached.

    Raises ``ValueError`` for a slow tokenizer without a ``tokenizers`` backend and for a decoder
    that works across tokens (CTC, steps after the tokens are fused).
    """
    cached = _cached(tokenizer)
    if cached is not None:
        return cached[0]
    table = _derive(tokenizer)
    _remember(tokenizer, table, None)
    return table


def token_bytes(tokenizer: PreTrainedTokenizerBase) -> dict[int, bytes]:
    """The bytes each token adds to a text it does not start; tokens whose bytes are unknown, and
    special and added tokens, are left out (see :func:`token_table` for why each is)."""
    return token_table(tokenizer).tokens


def _cached(tokenizer: Any) -> tuple[TokenTable, TokenTrie | None] | None:
    try:
        entry = _CACHE.get(tokenizer)
    except TypeError:  # not weakly referable
        return None
    if entry is None or entry[0] != len(tokenizer):  # tokens were added since
        return None
    return entry[1], entry[2]


def _remember(tokenizer: Any, table: TokenTable, trie: TokenTrie | None) -> None:
    with contextlib.suppress(TypeError):  # not weakly referable: not cached
        _CACHE[tokenizer] = (len(tokenizer), table, trie)


class _Node:
    """One node of the vocabulary's byte trie: the tokens ending here and the longer ones below.

    Nodes are made lazily: a node is a range of the trie's sorted token bytes sharing its prefix,
    and its children are found (by bisection) the first time they are asked for, so building a
    trie costs one sort, and only the parts that decoding walks are ever made.
    """

    __slots__ = ("_children", "depth", "hi", "ids", "lo", "trie")

    def __init__(self, trie: TokenTrie, lo: int, hi: int, depth: int) -> None:
        self.trie, self.lo, self.hi, self.depth = trie, lo, hi, depth
        whole = lo < hi and len(trie._keys[lo]) == depth  # the token(s) spelling exactly this prefix
        self.ids: list[int] = trie._ids[lo] if whole else []
        self._children: dict[int, _Node] | None = None if hi - lo > whole else {}

    @property
    def children(self) -> dict[int, _Node]:
        found = self._children
        if found is None:
            keys, depth, hi = self.trie._keys, self.depth, self.hi
            found = {}
            i = self.lo + (1 if self.ids else 0)
            while i < hi:
                byte = keys[i][depth]
                end = bisect_left(keys, keys[i][:depth] + bytes((byte + 1,)), i, hi) if byte < 255 else hi
                found[byte] = _Node(self.trie, i, end, depth + 1)
                i = end
            self._children = found
        return found


class TokenTrie:
    """Every ordinary token of a tokenizer in a byte trie; build once per tokenizer and share it.

    It is also the grammar's :class:`~knowcoder.inference.grammar.Spelling`: which tokens spell a
    text from a place on, and how few tokens spell a text exactly.
    """

    def __init__(self, tokens: dict[int, bytes]) -> None:
        start = time.perf_counter()
        self.tokens = tokens
        grouped: dict[bytes, list[int]] = {}
        for token_id, data in tokens.items():
            if data:
                grouped.setdefault(data, []).append(token_id)
        self._keys = sorted(grouped)
        self._ids = [grouped[key] for key in self._keys]
        self.root = _Node(self, 0, len(self._keys), 0)
        self._spelled: dict[bytes, int] = {}
        self.seconds = time.perf_counter() - start  # how long the build took

    @classmethod
    def from_tokenizer(cls, tokenizer: PreTrainedTokenizerBase) -> TokenTrie:
        """The trie of ``tokenizer``'s :func:`token_table`, built once per tokenizer object and cached."""
        cached = _cached(tokenizer)
        if cached is not None and cached[1] is not None:
            return cached[1]
        table = cached[0] if cached is not None else _derive(tokenizer)
        trie = cls(table.tokens)
        _remember(tokenizer, table, trie)
        return trie

    def token_ends(self, data: bytes, start: int) -> list[int]:
        """Every ``end`` where ``data[start:end]`` is the bytes of a token, shortest first."""
        node, ends = self.root, []
        for i in range(start, len(data)):
            found = node.children.get(data[i])
            if found is None:
                break
            node = found
            if node.ids:
                ends.append(i + 1)
        return ends

    def spell(self, data: bytes) -> int:
        """How few tokens spell exactly ``data`` (``NEVER`` when none do); cached."""
        found = self._spelled.get(data)
        if found is None:
            best = [NEVER] * len(data) + [0]
            for p in range(len(data) - 1, -1, -1):
                best[p] = min((1 + best[q] for q in self.token_ends(data, p)), default=NEVER)
            found = self._spelled[data] = min(best[0], NEVER)
        return found


_Settle = tuple[int, int | None, int, bytes]


@dataclass
class _Allowed:
    """The tokens allowed in one state: ids, the state each leads to, the bytes each leaves to write."""

    ids: torch.Tensor
    shortest: torch.Tensor
    longest_need: int  # the largest entry of ``shortest``, to skip filtering when the budget is loose
    next_state: dict[int, State] = field(default_factory=dict)
    # tokens that settle an item (level 1) or a role's argument (level 2): per unit settled, its
    # level, where in the token it starts (None: before the token), where it is settled, and the
    # bytes that must still follow
    settles: dict[int, tuple[_Settle, ...]] = field(default_factory=dict)


def first_span(item: bytes) -> str | None:
    """The first string literal of one results item (its entity, head or trigger), read with ``ast``."""
    try:
        tree = ast.parse(item.decode("utf-8"), mode="eval")
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return None
    for node in ast.walk(tree):  # breadth first: a call's own arguments before nested ones
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
    return None


class SchemaConstraint(LogitsProcessor):
    """Masks every token that would take a row out of its grammar; one instance per ``generate`` call.

    ``grammars`` holds one grammar per batch row; ``eos_token_id`` the id(s) that end a row;
    ``max_new_tokens`` (when given) the budget the output must be finished within. The prompt
    length is read from the first call (prompts are left-padded to one length).
    """

    def __init__(
        self,
        grammars: Sequence[ResultsGrammar],
        trie: TokenTrie,
        eos_token_id: int | Iterable[int],
        *,
        max_new_tokens: int | None = None,
        cap_repeats: bool = True,
    ) -> None:
        self.grammars = list(grammars)
        self.cap_repeats = cap_repeats
        self.trie = trie
        self.eos_ids = torch.tensor([eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id))
        if not len(self.eos_ids):
            raise ValueError(
                "eos_token_id is empty; pass the id that ends a sequence (tokenizer.eos_token_id)"
            )
        needs = [g.shortest_completion(g.initial, trie) for g in self.grammars]
        if any(need >= NEVER for need in needs):
            raise ValueError(
                "this vocabulary cannot write the empty answer 'results = []': no tokens spell it, so "
                "constrained decoding cannot work with it (see token_table(tokenizer) for its tokens)"
            )
        if max_new_tokens is not None:
            need = max(needs, default=-1) + 1
            if max_new_tokens < need:
                raise ValueError(
                    f"max_new_tokens={max_new_tokens} is too small: the shortest answer, 'results = []' "
                    f"and EOS, takes up to {need} tokens; raise it to at least {need}"
                )
        self.max_new_tokens = max_new_tokens
        self.states: list[State] = [g.initial for g in self.grammars]
        self.done = [False] * len(self.grammars)
        # per row and level (1 item, 2 a role's argument; 0 unused): the unfinished unit, and the
        # finished ones (arguments: of the role list being written)
        self.units: list[list[bytearray | None]] = [[None, None, None] for _ in self.grammars]
        self.made: list[list[Counter[bytes]]] = [[Counter(), Counter(), Counter()] for _ in self.grammars]
        self._prompt_length: int | None = None
        self._cache: dict[int, dict[State, _Allowed]] = {}  # per grammar object, per state

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        batch = input_ids.shape[0]
        if batch != len(self.grammars):
            raise ValueError(
                f"the batch has {batch} rows but {len(self.grammars)} grammars were given; pass one grammar "
                "per prompt and use num_beams=1 and num_return_sequences=1"
            )
        if self._prompt_length is None:
            self._prompt_length = input_ids.shape[1]
        else:
            self._consume(input_ids[:, -1].tolist(), input_ids.shape[1] - self._prompt_length)
        budget = None
        if self.max_new_tokens is not None:
            # this token, then as many bytes as are left to write, then EOS
            budget = self.max_new_tokens - (input_ids.shape[1] - self._prompt_length) - 2
        rows: list[int] = []
        pieces: list[torch.Tensor] = []
        free: list[int] = []  # finished rows: generate() overwrites their token with padding anyway
        for row, (grammar, state) in enumerate(zip(self.grammars, self.states, strict=True)):
            if self.done[row]:
                free.append(row)
                continue
            if state == END:
                ids = self.eos_ids
            else:
                allowed = self._allowed(grammar, state)
                ids = allowed.ids
                if budget is not None and allowed.longest_need > budget:
                    ids = ids[allowed.shortest <= budget]
                if self.cap_repeats and allowed.settles and (self.made[row][1] or self.made[row][2]):
                    ids = self._without_repeats(row, allowed, ids)
            rows.append(row)
            pieces.append(ids)
        mask = torch.ones(scores.shape, dtype=torch.bool)
        if rows:
            counts = torch.tensor([len(ids) for ids in pieces])
            mask[torch.repeat_interleave(torch.tensor(rows), counts), torch.cat(pieces)] = False
        mask[free] = False
        return scores.masked_fill(mask.to(scores.device), float("-inf"))

    def _consume(self, tokens: list[int], generated: int) -> None:
        """Move each row's state over the token generate() just appended."""
        for row, token in enumerate(tokens):
            if self.done[row]:
                continue
            state = self.states[row]
            if state == END:
                self.done[row] = True  # its EOS
                continue
            nxt = self._allowed(self.grammars[row], state).next_state.get(token)
            if nxt is None:
                raise RuntimeError(
                    f"row {row} got token {token} at step {generated}, which its grammar forbids: another "
                    "logits processor or a sampling warper re-allowed masked tokens, or this constraint "
                    "was reused across generate() calls (make a new one per call)"
                )
            if self.cap_repeats:
                self._track_items(row, state, self.trie.tokens[token])
            self.states[row] = nxt

    def _track_items(self, row: int, state: State, data: bytes) -> None:
        """Follow ``data`` from ``state``, keeping the row's unfinished units and counting finished ones."""
        grammar, units, made = self.grammars[row], self.units[row], self.made[row]
        for byte in data:
            after = grammar.moves(state)[byte]
            if level := grammar.opens(state, after):
                units[level] = bytearray()
            if after[0] == "args":  # a role's list opens: its arguments are counted afresh
                made[2].clear()
            for unit in units[1:]:
                if unit is not None:
                    unit.append(byte)
            if level := grammar.closes(after):
                made[level][bytes(units[level] or b"")] += 1
                units[level] = None
            state = after

    def _without_repeats(self, row: int, allowed: _Allowed, ids: torch.Tensor) -> torch.Tensor:
        """``ids`` less the tokens that would settle an item (or a role's argument) already written
        as often as its first span occurs in the sentence; all of ``ids`` when that would leave none."""
        made, units, sentence = self.made[row], self.units[row], self.grammars[row].sentence
        blocked = []
        for token_id, settles in allowed.settles.items():
            data = self.trie.tokens[token_id]
            for level, start, end, rest in settles:
                before = bytes(units[level] or b"") + data[:end] if start is None else data[start:end]
                unit = before + rest
                if unit in made[level]:
                    span = first_span(unit)
                    if made[level][unit] >= max(1, sentence.count(span) if span else 1):
                        blocked.append(token_id)
                        break
        if not blocked:
            return ids
        kept = ids[~torch.isin(ids, torch.tensor(blocked))]
        return kept if len(kept) else ids

    def _allowed(self, grammar: ResultsGrammar, state: State) -> _Allowed:
        """The tokens allowed in ``state`` of ``grammar``, walking the trie once per state."""
        cache = self._cache.setdefault(id(grammar), {})
        found = cache.get(state)
        if found is None:
            found = cache[state] = self._walk(grammar, state)
        return found

    def _walk(self, grammar: ResultsGrammar, state: State) -> _Allowed:
        ids: list[int] = []
        shortest: list[int] = []
        next_state: dict[int, State] = {}
        settles: dict[int, tuple[_Settle, ...]] = {}
        # (state, trie node, bytes read, where an item and an argument started in them, units settled)
        Entry = tuple[State, _Node, int, tuple[int | None, int | None], tuple[_Settle, ...]]
        first: Entry = (state, self.trie.root, 0, (None, None), ())
        stack: list[Entry] = [first]
        track = self.cap_repeats
        while stack:
            current, node, depth, starts, settled = stack.pop()
            moves = grammar.moves(current)
            children = node.children
            # iterate the smaller side: few grammar moves inside a span, few trie children deep down
            pairs: Iterable[tuple[int, Any]]
            if len(moves) <= len(children):
                pairs = ((byte, children.get(byte)) for byte in moves)
            else:
                pairs = ((byte, child) for byte, child in children.items() if byte in moves)
            for byte, child in pairs:
                if child is None:
                    continue
                after = moves[byte]
                now, done = starts, settled
                if track:
                    opened = grammar.opens(current, after)
                    if opened:
                        now = (depth, starts[1]) if opened == 1 else (starts[0], depth)
                    if grammar.may_settle(byte, after) and (becomes := grammar.settled(after)) is not None:
                        was = grammar.settled(current)
                        if was is None or was[0] != becomes[0]:  # settled by this very byte
                            level, rest = becomes
                            done = (*settled, (level, now[level - 1], depth + 1, rest))
                if child.ids and (need := grammar.shortest_completion(after, self.trie)) < NEVER:
                    for token_id in child.ids:
                        ids.append(token_id)
                        shortest.append(need)
                        next_state[token_id] = after
                        if done:
                            settles[token_id] = done
                if child.children:
                    stack.append((after, child, depth + 1, now, done))
        return _Allowed(
            ids=torch.tensor(ids, dtype=torch.long),
            shortest=torch.tensor(shortest, dtype=torch.long),
            longest_need=max(shortest, default=0),
            next_state=next_state,
            settles=settles,
        )
