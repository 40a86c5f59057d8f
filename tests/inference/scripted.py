"""A stand-in model for constrained-decoding tests: it wants to write one script, token by token."""

from __future__ import annotations

from typing import Any

import torch

from knowcoder.inference.constrained import SchemaConstraint


def scripted_decode(
    grammar, trie, eos: int, vocab: int, script: str, *, prompt_id: int, steps: int, cap_repeats: bool = True
) -> str:
    """Greedy decoding, under the constraint, of a stand-in model that wants to write ``script``: it
    scores each token by how much of the script's rest it spells, and once the output has left the
    script it has no preference (the lowest allowed id wins)."""
    constraint = SchemaConstraint([grammar], trie, eos, max_new_tokens=steps, cap_repeats=cap_repeats)
    ids: Any = torch.tensor([[prompt_id] * 3])
    written, target = b"", script.encode()
    for _ in range(steps):
        scores = torch.zeros(1, vocab)
        if target.startswith(written):
            rest = target[len(written) :]
            for token_id, data in trie.tokens.items():
                if rest.startswith(data):
                    scores[0, token_id] = len(data)
            scores[0, eos] = 0 if rest else 1000
        token = int(constraint(ids, scores).argmax())
        if token == eos:
            break
        written += trie.tokens[token]
        ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
    return written.decode()
