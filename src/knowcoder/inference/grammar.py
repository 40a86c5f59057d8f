"""The answers one prompt admits: ``results = [...]`` with only its classes and spans of its sentence.

:class:`ResultsGrammar` is a deterministic automaton over the UTF-8 bytes of the single-line
(``style="knowcoder"``) results format that :func:`knowcoder.prompts.render_results` writes. It
works on bytes, not characters, because byte-level BPE tokens may end inside a character. States
are small hashable tuples, so callers can cache per state; their layout is private.

The format, per task (``Ent`` is an entity class wrapping one span, ``S`` a span literal)::

    results = []    |    results = [ITEM, ITEM, ...]
    ner, ed: Type(S)        re: Type(Ent(S), Ent(S))
    eae:     Type(trigger=S, role=[Ent(S), ...], ...)   roles: a subset, in declared order

A span literal is the :func:`~knowcoder.schema.literals.py_str` form of a non-empty substring of
the sentence that neither starts nor ends with whitespace. Matching runs on the escaped sentence
and may start and end only where a character starts, so an escape sequence or a multi-byte
character is never cut; by default (``words=True``)
it also never cuts a word of a script written with spaces (Latin, Greek, Cyrillic letters and
digits), so a model that closes a name early ("Port Hel") cannot write it. Scripts without
spaces (Chinese, Japanese) and others whose entities may sit inside a word keep every
character boundary.

:meth:`ResultsGrammar.shortest_completion` counts bytes, or, given a vocabulary's
:class:`Spelling` (the constraint's token trie), tokens: the fixed text of the shortest route
between spans is spelt with as few tokens as write exactly it and each span with as few as take
it to a place it may end, and a completion no tokens can write is ``NEVER``. The moves themselves
do not depend on the vocabulary.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from knowcoder.prompts import PromptBuilder
from knowcoder.schema.literals import py_str
from knowcoder.schema.ontology import Ontology
from knowcoder.tasks import get_task
from knowcoder.tasks.base import Allowed, Task

#: an automaton state; a plain tuple so that it hashes and compares cheaply
State = tuple[Any, ...]

END: State = ("end",)  # the list is closed: only EOS may follow
_OPEN: State = ("open",)  # just after "results = [": "]" or the first item
_SEP: State = ("sep",)  # after an item: ", " and another, or "]"
_ITEM, _ENT = "item", "ent"  # which name set a ("name", ...) state draws from
ITEM_START: State = ("name", _ITEM, b"", _SEP)  # after ", ": the next item's class name
ITEM_END: State = _SEP
_UNSEEN = object()
_SETTLING = frozenset(b'")]')
#: the object shapes (``Task.call_shape``) the automaton writes
SUPPORTED_SHAPES = ("span", "pair", "event")

_QUOTE, _LPAREN, _RPAREN, _COMMA, _EQUALS, _RBRACKET = b'"(),=]'

#: the length of a completion that no sequence of tokens can write
NEVER = 1 << 40


class Spelling(Protocol):
    """What a vocabulary can write: the unit :meth:`ResultsGrammar.shortest_completion` counts in."""

    def token_ends(self, data: bytes, start: int) -> list[int]:
        """Every ``end`` where ``data[start:end]`` is one token's bytes."""
        ...

    def spell(self, data: bytes) -> int:
        """How few tokens write exactly ``data``; ``NEVER`` when none do."""
        ...


class _Bytes:
    """The default spelling: one token per byte, every byte writable (a byte-level vocabulary)."""

    def token_ends(self, data: bytes, start: int) -> list[int]:
        return [start + 1] if start < len(data) else []

    def spell(self, data: bytes) -> int:
        return len(data)


BYTES: Spelling = _Bytes()


def _plus(*lengths: int) -> int:
    return min(sum(lengths), NEVER)


def _lit(text: bytes, cont: State) -> State:
    """Expect ``text`` byte by byte, then continue in ``cont``."""
    return ("lit", text, 0, cont)


def _span(cont: State) -> State:
    """Expect a quoted span of the sentence, then continue in ``cont``."""
    return _lit(b'"', ("str", None, cont))


class _Names:
    """A set of class or role names as a byte trie: next bytes and shortest completion per prefix."""

    def __init__(self, names: Iterable[str]) -> None:
        self.complete = frozenset(name.encode("utf-8") for name in names if name)
        self.next_bytes: dict[bytes, set[int]] = {}
        for name in self.complete:
            for i in range(len(name)):
                self.next_bytes.setdefault(name[:i], set()).add(name[i])

    def completions(self, prefix: bytes) -> list[bytes]:
        return [name for name in self.complete if name.startswith(prefix)]


def _in_word(ch: str) -> bool:
    """A letter or digit of a script that separates words with spaces (Latin, Greek, Cyrillic)."""
    return ch.isalnum() and ord(ch) < 0x0590


class _Spans:
    """The escaped sentence, where spans may start and end, and the moves a span literal can make.

    A span starts and ends where a character starts, never starts or ends with whitespace, and
    with ``words`` (the default) never cuts a word of a script written with spaces: "Port Hel" or
    "Tu" from "Port Helen" and "Tunis" are not spans, while between Chinese characters (or next
    to punctuation) any character boundary is one.
    """

    def __init__(self, sentence: str, *, words: bool = True) -> None:
        units = [py_str(ch)[1:-1].encode("utf-8") for ch in sentence]  # py_str escapes char by char
        self.text = b"".join(units)
        size = len(self.text)
        self.starts_at = starts_at = [False] * (size + 1)  # a span may start here
        self.ends_at = [False] * (size + 1)  # a span may end here
        offset = 0
        for i, unit in enumerate(units):
            cuts_word = words and i > 0 and _in_word(sentence[i - 1]) and _in_word(sentence[i])
            starts_at[offset] = not cuts_word and not sentence[i].isspace()
            self.ends_at[offset] = i > 0 and not cuts_word and not sentence[i - 1].isspace()
            offset += len(unit)
        self.ends_at[size] = bool(sentence) and not sentence[-1].isspace()
        # the last place a span may end: no span reads past it (into trailing whitespace)
        self.last = max((p for p in range(size + 1) if self.ends_at[p]), default=0)
        # bytes still to read from p to the next place a span may end: 0 where one may end at p
        self.to_end = [0] * (size + 1)
        for p in range(self.last - 1, -1, -1):
            self.to_end[p] = 0 if self.ends_at[p] else self.to_end[p + 1] + 1
        starts: dict[int, list[int]] = {}
        for p in range(self.last):
            if starts_at[p]:
                starts.setdefault(self.text[p], []).append(p + 1)
        self.start_moves = {byte: frozenset(ends) for byte, ends in starts.items()}
        # where a span can only go on to the last place one may end (no place to end before it)
        self.runs_out = frozenset(p for p in range(self.last + 1) if p + self.to_end[p] == self.last)
        self.shortest_unit = min(
            (self.to_end[p + 1] + 1 for p in range(self.last) if starts_at[p]), default=0
        )
        self._costs: dict[Spelling, tuple[list[int], int]] = {}

    def costs(self, tokens: Spelling) -> tuple[list[int], int]:
        """With ``tokens``: per place ``p`` up to :attr:`last`, how few tokens take a span read up to
        ``p`` to a place where it may end (0 where it may end at ``p``; ``NEVER`` when no tokens
        can), and how few write a whole span. Tokens may run past places a span could end."""
        found = self._costs.get(tokens)
        if found is None:
            text, last = self.text[: self.last], self.last
            to_end = [NEVER] * (last + 1)
            for p in range(last, -1, -1):
                if self.ends_at[p]:
                    to_end[p] = 0
                else:
                    to_end[p] = min(
                        min((to_end[q] for q in tokens.token_ends(text, p)), default=NEVER) + 1, NEVER
                    )
            whole = min(
                (1 + to_end[q] for p in range(last) if self.starts_at[p] for q in tokens.token_ends(text, p)),
                default=NEVER,
            )
            found = self._costs[tokens] = (to_end, min(whole, NEVER))
        return found

    def moves(self, ends: frozenset[int]) -> dict[int, frozenset[int]]:
        """Where a partial span matching up to each of ``ends`` goes on each next byte."""
        grouped: dict[int, list[int]] = {}
        text, last = self.text, self.last
        for p in ends:
            if p < last:
                grouped.setdefault(text[p], []).append(p + 1)
        return {byte: frozenset(nxt) for byte, nxt in grouped.items()}


class ResultsGrammar:
    """The byte-level automaton of the results one prompt may get, with memoised moves.

    ``types`` are the task's own classes, ``entity_types`` the classes that wrap RE and EAE
    arguments, ``roles`` each event's role names in declared order (``ontology.roles`` order);
    ``words=False`` lets spans cut words too.
    """

    def __init__(
        self,
        task: str | Task,
        types: Iterable[str],
        sentence: str,
        *,
        entity_types: Iterable[str] = (),
        roles: Mapping[str, Sequence[str]] | None = None,
        words: bool = True,
    ) -> None:
        task_obj = get_task(task)
        self.task, self.shape = task_obj.name, task_obj.call_shape
        if self.shape not in SUPPORTED_SHAPES:
            raise ValueError(
                f"constrained decoding writes objects shaped {', '.join(SUPPORTED_SHAPES)}; "
                f"task {self.task!r} has call_shape {self.shape!r}"
            )
        if self.shape == "event" and roles is None:
            raise ValueError(
                "an EAE grammar needs each event's roles in declared order: pass "
                "roles=event_roles(ontology, types), or build it with ResultsGrammar.for_prompt"
            )
        self.sentence = sentence
        self._names = {_ITEM: _Names(types), _ENT: _Names(entity_types)}
        self._roles = {
            event.encode("utf-8"): tuple(role.encode("utf-8") for role in ordered)
            for event, ordered in (roles or {}).items()
        }
        self._spans = _Spans(sentence, words=words)
        needs_entities = self.shape == "pair"
        # An item that could never be finished (no span to quote, no class to wrap it) must not start.
        self._items_possible = bool(
            sentence and self._names[_ITEM].complete and (self._names[_ENT].complete or not needs_entities)
        )
        self.initial: State = _lit(b"results = [", _OPEN)
        self._moves: dict[State, dict[int, State]] = {}
        self._shortest: dict[Spelling, dict[tuple[State, bytes], int]] = {}
        self._settled: dict[State, tuple[int, bytes] | None] = {}

    # ---- construction from the prompt side ----------------------------------------------
    @classmethod
    def from_allowed(
        cls, task: str | Task, allowed: Allowed, *, roles: Mapping[str, Sequence[str]] | None = None
    ) -> ResultsGrammar:
        """The grammar of ``allowed`` (from ``PromptBuilder.allowed``); EAE also needs ordered ``roles``."""
        task_obj = get_task(task)
        name, shape = task_obj.name, task_obj.call_shape
        missing = [f for f in ("types", "sentence") if getattr(allowed, f) is None]
        if shape in ("pair", "event") and allowed.entity_types is None:
            missing.append("entity_types")
        if missing:
            raise ValueError(
                f"Allowed.{'/'.join(missing)} is None, but a grammar needs a finite schema and the sentence; "
                "build it with PromptBuilder.allowed(task, types, sentence)"
            )
        assert allowed.types is not None and allowed.sentence is not None
        if shape == "event" and roles is not None:
            roles = {
                event: [r for r in ordered if allowed.roles is None or r in allowed.roles.get(event, ())]
                for event, ordered in roles.items()
                if event in allowed.types
            }
        return cls(
            name, allowed.types, allowed.sentence, entity_types=allowed.entity_types or (), roles=roles
        )

    @classmethod
    def for_prompt(
        cls, builder: PromptBuilder, task: str | Task, types: Sequence[str], sentence: str
    ) -> ResultsGrammar:
        """The grammar of the answer to ``builder.prompt(sentence, task, types)``."""
        allowed = builder.allowed(task, types, sentence)
        roles = event_roles(builder.ontology, allowed.types or ())
        return cls.from_allowed(task, allowed, roles=roles)

    # ---- the automaton --------------------------------------------------------------------
    def moves(self, state: State) -> dict[int, State]:
        """Every byte allowed in ``state``, with the state it leads to (empty at ``END``)."""
        moves = self._moves.get(state)
        if moves is None:
            moves = self._moves[state] = self._compute_moves(state)
        return moves

    def advance(self, state: State | None, data: bytes | str) -> State | None:
        """The state after ``data``, or ``None`` once a byte leaves the grammar."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        for byte in data:
            if state is None:
                return None
            state = self.moves(state).get(byte)
        return state

    def accepts(self, text: str) -> bool:
        """True when ``text`` is a complete answer (``results = [...]`` and nothing after it)."""
        return self.advance(self.initial, text) == END

    @staticmethod
    def opens(state: State, after: State) -> int:
        """What the byte taking ``state`` to ``after`` starts: 1 a list item, 2 an argument of an
        event role's list, 0 neither."""
        if state in (_OPEN, ITEM_START):
            return 1 if after != END else 0
        if state[0] == "args" or (
            state[0] == "name" and state[1:3] == (_ENT, b"") and state[3][0] == "argsep"
        ):
            return 2 if after[0] != "roles" else 0
        return 0

    @staticmethod
    def closes(after: State) -> int:
        """What reaching ``after`` finishes: 1 a list item, 2 a role's argument, 0 neither."""
        return 1 if after == ITEM_END else 2 if after[0] == "argsep" else 0

    def may_settle(self, byte: int, after: State) -> bool:
        """A cheap test that passes every byte after which :meth:`settled` may newly hold: a closing
        quote, parenthesis or bracket, or a byte after which a span can only run to the sentence's end."""
        if byte in _SETTLING:
            return True
        return after[0] == "str" and self._span_runs_out(after[1])

    def _span_runs_out(self, ends: frozenset[int] | None) -> bool:
        """True when a span read up to ``ends`` must go on to the end of the sentence and close."""
        return ends is not None and len(ends) == 1 and next(iter(ends)) in self._spans.runs_out

    def settled(self, state: State) -> tuple[int, bytes] | None:
        """When nothing else may follow ``state`` up to the end of an item or argument (``b")"`` after
        a span's closing quote): which (1 item, 2 argument), and the bytes still to come."""
        found = self._settled.get(state, _UNSEEN)
        if found is not _UNSEEN:
            return found  # type: ignore[return-value]
        out = bytearray()
        current, found = state, None
        while True:
            if level := self.closes(current):
                found = (level, bytes(out))
                break
            if current[0] == "str":  # inside a span: settled only once it must run to the end
                _, ends, cont = current
                if self._span_runs_out(ends) and (after := self.settled(cont)) is not None:
                    (position,) = ends
                    spans = self._spans
                    found = (after[0], bytes(out) + spans.text[position : spans.last] + b'"' + after[1])
                break
            moves = self.moves(current)
            if len(moves) != 1 or current in (_OPEN, ITEM_START):
                break
            ((byte, current),) = moves.items()
            out.append(byte)
        self._settled[state] = found
        return found

    def shortest_completion(self, state: State, tokens: Spelling | None = None) -> int:
        """How many bytes at least finish an answer from ``state`` (0 at ``END``); with ``tokens``, how
        many of its tokens at most finish it on the shortest route, or ``NEVER`` when they cannot.

        With tokens the count is enough, and exact per piece: the route's fixed text between spans
        (``")]``, ``"), Company("``) is spelt with as few tokens as write exactly it, and each span
        with as few as take it from its start to a place it may end; a token that joins a span
        to the text around it can only do better. The first token of that spelling leads to a
        state at least one shorter, so a constraint that keeps this count within its budget never
        leaves a row without a way to finish.
        """
        return self._cost(state, tokens or BYTES, b"")

    def _cost(self, state: State, tokens: Spelling, pending: bytes) -> int:
        """The shortest completion from ``state`` once ``pending`` (fixed text) is written first."""
        cache = self._shortest.setdefault(tokens, {})
        key = (state, pending)
        length = cache.get(key)
        if length is None:
            length = cache[key] = self._compute_cost(state, tokens, pending)
        return length

    def _compute_moves(self, state: State) -> dict[int, State]:
        kind = state[0]
        if kind == "lit":
            _, text, i, cont = state
            return {text[i]: cont if i + 1 == len(text) else ("lit", text, i + 1, cont)}
        if kind == "str":
            _, ends, cont = state
            if ends is None:  # nothing quoted yet: start at any character, close not yet
                return {byte: ("str", nxt, cont) for byte, nxt in self._spans.start_moves.items()}
            moves: dict[int, State] = {b: ("str", nxt, cont) for b, nxt in self._spans.moves(ends).items()}
            # Closing is allowed when one of the places the span may be read at ends well there;
            # '"' never starts a character of the escaped sentence, so closing cannot clash.
            if any(self._spans.ends_at[p] for p in ends):
                moves[_QUOTE] = cont
            return moves
        if kind == "name":
            _, which, prefix, cont = state
            names = self._names[which]
            moves = {b: ("name", which, prefix + bytes((b,)), cont) for b in names.next_bytes.get(prefix, ())}
            if prefix in names.complete:
                moves[_LPAREN] = self._after_open(which, prefix, cont)
            return moves
        if kind == "open":
            moves = {_RBRACKET: END}
            if self._items_possible:
                moves.update(self.moves(("name", _ITEM, b"", _SEP)))
            return moves
        if kind == "sep":
            return {_COMMA: _lit(b" ", ("name", _ITEM, b"", _SEP)), _RBRACKET: END}
        if kind == "roles":  # after the trigger or a role's list: another role, or close the event
            _, event, first = state
            moves = {_RPAREN: _SEP}
            if first < len(self._roles.get(event, ())):
                moves[_COMMA] = _lit(b" ", ("role", event, first, b""))
            return moves
        if kind == "role":
            _, event, first, prefix = state
            moves = {}
            for j, role in enumerate(self._roles[event][first:], start=first):
                if role == prefix:
                    moves[_EQUALS] = _lit(b"[", ("args", event, j + 1))
                elif role.startswith(prefix):
                    b = role[len(prefix)]
                    moves[b] = ("role", event, first, prefix + bytes((b,)))
            return moves
        if kind in ("args", "argsep"):  # inside a role's list, before the first argument or after one
            _, event, after = state
            nxt = ("argsep", event, after)
            if kind == "args":
                moves = dict(self.moves(("name", _ENT, b"", nxt)))
            else:
                moves = {_COMMA: _lit(b" ", ("name", _ENT, b"", nxt))}
            moves[_RBRACKET] = ("roles", event, after)
            return moves
        return {}  # END

    def _after_open(self, which: str, name: bytes, cont: State) -> State:
        """What follows ``Name(``: one span for an entity, the task's arguments for an item."""
        if which == _ENT or self.shape == "span":
            return _span(_lit(b")", cont))
        if self.shape == "pair":
            tail = ("name", _ENT, b"", _lit(b")", cont))
            return ("name", _ENT, b"", _lit(b", ", tail))
        return _lit(b"trigger=", _span(("roles", name, 0)))

    def _compute_cost(self, state: State, tokens: Spelling, pending: bytes) -> int:
        kind = state[0]
        if kind == "end":
            return tokens.spell(pending)
        if kind in ("open", "sep"):
            return tokens.spell(pending + b"]")
        if kind == "lit":
            _, text, i, cont = state
            return self._cost(cont, tokens, pending + text[i:])
        if kind == "str":
            _, ends, cont = state
            to_end, whole = self._spans.costs(tokens)
            quoted = whole if ends is None else min(to_end[p] for p in ends)
            return _plus(tokens.spell(pending), quoted, self._cost(cont, tokens, b'"'))
        if kind == "name":
            _, which, prefix, cont = state
            return min(
                self._cost(self._after_open(which, name, cont), tokens, pending + name[len(prefix) :] + b"(")
                for name in self._names[which].completions(prefix)
            )
        if kind == "roles":
            return self._cost(_SEP, tokens, pending + b")")
        if kind == "role":  # the rest of a role name and an empty list
            _, event, first, prefix = state
            return min(
                self._cost(("roles", event, j + 1), tokens, pending + role[len(prefix) :] + b"=[]")
                for j, role in enumerate(self._roles[event][first:], start=first)
                if role.startswith(prefix)
            )
        _, event, after = state  # args / argsep: close the list
        return self._cost(("roles", event, after), tokens, pending + b"]")


def event_roles(ontology: Ontology, events: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Each event's role names in the order ``ontology.roles`` gives (the order targets are written in)."""
    return {
        event: tuple(role.name for role in ontology.roles(event)) for event in events if event in ontology
    }
