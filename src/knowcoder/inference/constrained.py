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

With ``max_new_tokens`` the processor also keeps room to finish: a token is allowed only when the
shortest completion after it still fits, counting one token per byte, as every byte-level
vocabulary has a token for each byte. Greedy search and sampling are supported; beam search is
not (beams reorder rows, and a row's state is tracked in place).
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import torch
from transformers import LogitsProcessor, LogitsProcessorList, PreTrainedTokenizerBase

from knowcoder.inference.grammar import END, ResultsGrammar, State


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


def token_bytes(tokenizer: PreTrainedTokenizerBase) -> dict[int, bytes]:
    """The bytes each ordinary token stands for; special and added tokens are left out.

    Knows byte-level BPE (GPT-2, Llama 3, Qwen, the tiny tokenizer) and SentencePiece with byte
    fallback (``▁`` for a space, ``<0xNN>`` for a byte).
    """
    vocab = tokenizer.get_vocab()
    skip = set(tokenizer.all_special_ids) | set(getattr(tokenizer, "added_tokens_decoder", {}))
    alphabet = _byte_level_alphabet()
    if all(char in vocab for char in alphabet):
        out = {}
        for token, token_id in vocab.items():
            if token_id not in skip and all(char in alphabet for char in token):
                out[token_id] = bytes(alphabet[char] for char in token)
        return out
    if all(f"<0x{byte:02X}>" in vocab for byte in range(256)):
        out = {}
        for token, token_id in vocab.items():
            if token_id in skip:
                continue
            if len(token) == 6 and token.startswith("<0x") and token.endswith(">"):
                out[token_id] = bytes((int(token[3:5], 16),))
            else:
                out[token_id] = token.replace("▁", " ").encode("utf-8")
        return out
    raise ValueError(
        f"{type(tokenizer).__name__} is neither byte-level BPE nor SentencePiece with byte fallback, so "
        "the bytes of its tokens are unknown; constrained decoding needs one of those two kinds"
    )


class _Node:
    """One node of the vocabulary's byte trie: the tokens ending here and the longer ones below."""

    __slots__ = ("children", "ids")

    def __init__(self) -> None:
        self.children: dict[int, _Node] = {}
        self.ids: list[int] = []


class TokenTrie:
    """Every ordinary token of a tokenizer in a byte trie; build once per tokenizer and share it."""

    def __init__(self, tokens: dict[int, bytes]) -> None:
        self.tokens = tokens
        self.root = _Node()
        for token_id, data in tokens.items():
            if not data:
                continue
            node = self.root
            for byte in data:
                node = node.children.setdefault(byte, _Node())
            node.ids.append(token_id)

    @classmethod
    def from_tokenizer(cls, tokenizer: PreTrainedTokenizerBase) -> TokenTrie:
        return cls(token_bytes(tokenizer))


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
        if max_new_tokens is not None:
            need = max(g.shortest_completion(g.initial) for g in self.grammars) + 1 if self.grammars else 0
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
                if child.ids:
                    need = grammar.shortest_completion(after)
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


def constrained_generate(
    model: Any,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    grammars: Sequence[ResultsGrammar],
    *,
    max_new_tokens: int,
    constrain: bool = True,
    trie: TokenTrie | None = None,
    **generate_kwargs: Any,
) -> list[str]:
    """Greedy answers to ``prompts`` in one batch, each held to its grammar unless ``constrain=False``.

    ``trie`` is the vocabulary's :class:`TokenTrie` (built here when not given; build it once when
    generating many batches). Extra keyword arguments go to ``model.generate``.
    """
    if len(prompts) != len(grammars):
        raise ValueError(
            f"got {len(prompts)} prompts but {len(grammars)} grammars; pass one grammar per prompt"
        )
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError(f"{type(tokenizer).__name__} has no eos token; constrained answers must end in one")
    batch = tokenizer(list(prompts), return_tensors="pt", padding=True, padding_side="left")
    batch = batch.to(model.device)
    processors = LogitsProcessorList()
    if constrain:
        trie = trie or TokenTrie.from_tokenizer(tokenizer)
        processors.append(SchemaConstraint(grammars, trie, eos, max_new_tokens=max_new_tokens))
    generate_kwargs.setdefault("do_sample", False)
    with torch.inference_mode():
        output = model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            logits_processor=processors,
            eos_token_id=eos,
            pad_token_id=tokenizer.pad_token_id,
            **generate_kwargs,
        )
    new = output[:, batch["input_ids"].shape[1] :]
    return tokenizer.batch_decode(new, skip_special_tokens=True)
