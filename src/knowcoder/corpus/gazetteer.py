"""The gazetteer of distant supervision: typed names, a relation KB, and the automata to find them.

File formats: names as TSV ``name<TAB>type[<TAB>lang]`` or JSONL ``{"name", "type"[, "lang"]}``
(``#`` starts a comment line in TSV). A type is any ontology class name or alias (PER, 人物), so the
labels of any knowledge base land on the one language-independent schema. A row with a ``lang``
only matches sentences of that base language (``zh`` also matches ``zh-CN``). Relations are TSV
``head<TAB>relation<TAB>tail``; both names must be in the gazetteer with types the relation accepts.

How ``find`` matches a sentence:

* **Word boundaries.** In languages written with spaces, a match must not start or end inside a
  word ("Al" never matches in "Alcoa"); word characters are letters, digits, ``_`` and combining
  marks. zh/ja/th have no spaces to check, so there only an edge between two ASCII letters or
  digits (a Latin word inside Chinese text) is refused.
* **Leftmost-longest.** Of overlapping candidates the one starting first wins, and of those starting
  at the same offset the longest; whatever overlaps a winner is dropped. So "New York Times" beats
  "New York" and "York"; with only "New York" and "York Times" known, "New York" wins in
  "New York Times" although "York Times" is longer, and of two equally long overlapping names the
  left one wins. A span is one key, so no two candidates tie on both start and length.
* **Case.** Case-sensitive by default: names are capitalised, and folding case would turn names
  that are also common words (Bath, Reading, May, Apple) into mentions at every lowercase use.
  ``case_sensitive=False`` folds names and text character by character, so offsets never move.
* **Ambiguity.** Rows giving one name several types keep the most specific when the types form one
  chain (Location, City → City). Otherwise the name is ambiguous: with ``ambiguous="skip"``
  (default) it still claims its span, so "York" inside an ambiguous "New York" is not found either,
  but its type id is ``AMBIGUOUS`` and callers drop it; ``ambiguous="first"`` keeps its first row's.

Matching: both automata run over UTF-8 bytes (each held as one latin-1 character): ``pyahocorasick``
finds a child by linear search, so over characters Chinese names give a node thousands of children
(1.4 MB/s with 1M names); over bytes a node has at most 256, and UTF-8 being self-synchronising, a key
only matches at character boundaries. ``find_all`` scans many sentences joined by newlines at once
(1.5x faster than one pass each) and drops matches that cross a newline.

* ``automaton`` holds every name as it is (folded when case-insensitive). It finds names in zh/ja/th
  text, where only Latin edges are checked per match, and answers lookups by name.
* ``word_automaton`` finds names in text with spaces. It scans the ``word_view`` of the text (each
  non-word character a space, offsets unchanged); a name's key is its own word view with a space
  added on each side that is a word character, so " Al " never matches in " Alcoa ": matches are
  whole words by construction. Checking boundaries per match instead cost more than the scan, since
  about 8 in 10 raw matches of capitalised names are prefixes of longer words. A match of a name of
  words and spaces only needs a look at the text where the name has spaces ("Ada-Park" is not "Ada
  Park"); a name with other punctuation or of some languages only is compared with the text; a view
  several names share keeps which of its four spans (with or without the key's first and last
  character) names have, and each is looked up in ``automaton``.

Leftmost-longest is settled in Python as matches come, by their end, from ``iter``: ``iter_long`` has
had missed-match bugs (pyahocorasick issues 133 and 185).
"""

from __future__ import annotations

import hashlib
import unicodedata
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from itertools import accumulate
from pathlib import Path
from typing import Any

import ahocorasick

from knowcoder.data.importers import UNSPACED_LANGUAGES
from knowcoder.data.jsonl import iter_jsonl
from knowcoder.errors import ConfigError, DataFormatError, InputError
from knowcoder.schema.ontology import Kind, Ontology

ANY_LANG = -1  # lang mask of a name that fits every language (all bits set)
AMBIGUOUS = -1  # type id of a name whose rows disagree
# Values of the word automaton (pyahocorasick keeps 32-bit signed ones). A name of words and spaces
# (_PLAIN: one word, _WORDS: several) whose id and length fit is packed into a value >= 0, id << 8 |
# length << 1 | 1 if _WORDS, so that a match needs no other lookup. Any other value v is stored as ~v,
# with its kind in the 2 low bits: _PLAIN, _WORDS: id << 2; _SINGLE: id << 3 | trail << 2; _SHARED: key
# length << 6 | spans << 2, where bit 2 * lead + trail of spans says some name has that lead and trail.
_PLAIN, _WORDS, _SHARED, _SINGLE = 0, 1, 2, 3
MAX_NAMES = 1 << 27
Span = tuple[int, int, int]  # (start, end, name id)


def is_word_char(char: str) -> bool:
    """Letters, digits, ``_`` and combining marks (so a Devanagari vowel sign is inside a word)."""
    if char.isalnum() or char == "_":
        return True
    return not char.isascii() and unicodedata.category(char)[0] == "M"


def fold_case(text: str) -> str:
    """Case-fold character by character, keeping any character that would fold to several (ß, İ).

    The length never changes, so offsets into the folded text are offsets into the original.
    """
    folded = text.casefold()
    if len(folded) == len(text):  # folding only ever lengthens, so every character kept its place
        return folded
    return text.translate(_FOLD_TABLE)


class _Table(dict[int, int]):
    """A ``str.translate`` table filled as characters are met, by a function of one character."""

    def __init__(self, rule: Callable[[str], str]) -> None:
        super().__init__()
        self.rule = rule

    def __missing__(self, code: int) -> int:
        self[code] = value = ord(self.rule(chr(code)))
        return value


_FOLD_TABLE = _Table(lambda char: low if len(low := char.casefold()) == 1 else char)
_WORD_TABLE = _Table(lambda char: char if is_word_char(char) else " ")


def word_view(text: str) -> str:
    """``text`` with each non-word character replaced by a space; the length never changes."""
    return text.translate(_WORD_TABLE)


def _typecode(largest: int, *, signed: bool = False) -> str:
    """The array type code of the smallest items that hold ``largest`` (and -1 when signed)."""
    return next(
        code for code in ("bhiq" if signed else "BHIQ") if largest < 1 << (8 * array(code).itemsize - signed)
    )


# 1 for a byte that starts a UTF-8 character, 0 for a continuation byte
_CHARACTER_STARTS = bytes(int(not 0x80 <= byte < 0xC0) for byte in range(256))


def _latin(char: str) -> int:
    return int(char.isascii() and char.isalnum())


def _as_bytes(text: str) -> str:
    """UTF-8 bytes as a latin-1 string: the alphabet of both automata."""
    return text.encode("utf-8").decode("latin-1")


def base_lang(lang: str) -> str:
    """``zh-CN`` and ``zh_TW`` count as ``zh``, as in the importers."""
    return lang.replace("_", "-").split("-")[0].casefold()


class Gazetteer:
    """Names with entity types and optional relations between names, compiled to two automata."""

    def __init__(self, ontology: Ontology, *, case_sensitive: bool = True, ambiguous: str = "skip") -> None:
        if ambiguous not in ("skip", "first"):
            raise ConfigError(f"unknown policy {ambiguous!r}; choose 'skip' or 'first'", field="ambiguous")
        self.ontology = ontology
        self.case_sensitive = case_sensitive
        self.ambiguous_policy = ambiguous
        self.type_names: list[str] = []  # type id -> class name
        self.type_ids = array("i")  # name id -> type id, or AMBIGUOUS
        self._char_lengths = array("I")  # name id -> length in characters
        self._latin_edges = bytearray()  # name id -> 1 if its key starts, 2 if it ends with [A-Za-z0-9]
        self.relations: dict[tuple[int, int], tuple[str, ...]] = {}  # (head id, tail id) -> types
        self.has_relations = False  # a KB was given, so sentences are annotated for relations
        self.automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)  # value: name id
        self.word_automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)  # value: see _PLAIN
        self._keys: dict[int, str] = {}  # name id -> key, for a _SINGLE name
        # name id -> lang mask, only for names of some languages: a dict of ints, which the garbage
        # collector does not track, so its full collections do not walk a million entries
        self._masks: dict[int, int] = {}
        self._lang_bits: dict[str, int] = {}
        self._label_ids: dict[str, int] = {}
        self._settings: dict[str, tuple[bool, int]] = {}  # sentence lang -> (spaced, lang bit)
        self._built = False

    @classmethod
    def load(
        cls,
        names: str | Path | Sequence[str | Path],
        ontology: Ontology,
        *,
        relations: str | Path | Sequence[str | Path] = (),
        case_sensitive: bool = True,
        ambiguous: str = "skip",
    ) -> Gazetteer:
        """Read name files (TSV, or JSONL when named ``.jsonl``) and relation TSV files."""
        gazetteer = cls(ontology, case_sensitive=case_sensitive, ambiguous=ambiguous)
        for path in [names] if isinstance(names, str | Path) else names:
            for lineno, name, label, lang in _read_name_rows(Path(path)):
                gazetteer.add(name, label, lang, path=path, line=lineno)
        gazetteer.build()
        for path in [relations] if isinstance(relations, str | Path) else relations:
            for lineno, fields in _read_tsv(Path(path), ("head", "relation", "tail"), 3):
                gazetteer.add_relation(*fields, path=path, line=lineno)
        return gazetteer

    def add(
        self, name: str, label: str, lang: str | None = None, *, path: Any = None, line: int | None = None
    ) -> None:
        """Add one name row; ``label`` is an entity class name or alias; ``path``/``line`` locate errors."""
        if self._built:
            raise RuntimeError("add every name before build() or find(); the automata are compiled once")
        name = name.strip()
        if not name:
            raise InputError("empty name", path=path, line=line, field="name")
        type_id = self._entity_type(label, path, line)
        key = self._key(name)
        index = self.automaton.get(key, -1)
        if index < 0:
            index = len(self.type_ids)
            if index == MAX_NAMES:  # the word automaton keeps 32-bit values
                raise InputError(f"more than {MAX_NAMES} names; split the gazetteer", path=path, line=line)
            self.automaton.add_word(key, index)
            self.type_ids.append(type_id)
            self._char_lengths.append(len(name))
            self._latin_edges.append(_latin(key[0]) | _latin(key[-1]) << 1)
            if lang:
                self._masks[index] = self._lang_bit(lang, create=True)
            return
        if index in self._masks:  # a row without a language makes the name fit every language
            if lang:
                self._masks[index] |= self._lang_bit(lang, create=True)
            else:
                del self._masks[index]
        old = self.type_ids[index]
        if old in (AMBIGUOUS, type_id):
            return
        old_name, new_name = self.type_names[old], self.type_names[type_id]
        if self.ontology.is_a(new_name, old_name):
            self.type_ids[index] = type_id  # a more specific type on the same branch
        elif not self.ontology.is_a(old_name, new_name) and self.ambiguous_policy == "skip":
            self.type_ids[index] = AMBIGUOUS

    def _entity_type(self, label: str, path: Any, line: int | None) -> int:
        if label in self._label_ids:
            return self._label_ids[label]
        resolved = self.ontology.resolve_label(label)
        if resolved is None or self.ontology.kind_of(resolved) != Kind.ENTITY:
            problem = f"unknown entity type {label!r}"
            if resolved is not None:
                problem = f"{label!r} names the {self.ontology.kind_of(resolved)} class {resolved!r}"
            raise InputError(
                f"{problem}; use an entity class name or alias of the ontology (e.g. Person, PER)",
                path=path,
                line=line,
                field="type",
            )
        if resolved not in self.type_names:
            self.type_names.append(resolved)
        self._label_ids[label] = self.type_names.index(resolved)
        return self._label_ids[label]

    def fingerprint(self) -> str:
        """A content hash of everything the annotations depend on, equal across runs and processes.

        Not a hash of the pickle: pyahocorasick pickles the same automaton to different bytes on
        every dump, which would give every run a new key and rebuild every finished part.
        """
        digest = hashlib.sha256()

        def part(value: Any) -> None:
            digest.update(repr(value).encode("utf-8"))
            digest.update(b"\0")

        part((self.case_sensitive, self.ambiguous_policy, self.has_relations, self.type_names))
        part(sorted((name, t.kind.value, repr(t.spec)) for name, t in self.ontology.types.items()))
        for table in (self.type_ids, self._char_lengths):
            digest.update(table.tobytes())
        digest.update(bytes(self._latin_edges))
        for mapping in (self.relations, self._masks, self._lang_bits, self._keys):
            part(sorted(mapping.items()))
        for key, value in self.automaton.items():
            part((key, value))
        return digest.hexdigest()[:24]

    def build(self) -> Gazetteer:
        """Compile the automata (once); names can no longer be added, relations can."""
        if not self._built:
            # the smallest items: lookups per match then miss the cache less beside the large automata
            self._char_lengths = array(_typecode(max(self._char_lengths, default=0)), self._char_lengths)
            self.type_ids = array(_typecode(len(self.type_names), signed=True), self.type_ids)
            self.automaton.make_automaton()
            self._add_word_keys()
            self.word_automaton.make_automaton()
            self._built = True
        return self

    def _add_word_keys(self) -> None:
        """Key every name that can meet text with spaces by its padded word view (module docstring)."""
        unspaced = sum(bit for lang, bit in self._lang_bits.items() if lang in UNSPACED_LANGUAGES)
        words, keys = self.word_automaton, self._keys
        for raw, index in self.automaton.items():
            mask = self._masks.get(index, ANY_LANG)
            if mask != ANY_LANG and not mask & ~unspaced:
                continue  # a name of zh, ja or th only
            key = raw.encode("latin-1").decode("utf-8")
            view = word_view(key)
            lead, trail = view[0] != " ", view[-1] != " "
            padded = _as_bytes(f"{' ' * lead}{view}{' ' * trail}")
            value = words.get(padded, None)
            if value is None:
                if lead and trail and view == key and mask == ANY_LANG:
                    kind = _WORDS if " " in key else _PLAIN
                    packed = index < 1 << 23 and len(key) < 1 << 7
                    value = index << 8 | len(key) << 1 | kind if packed else ~(index << 2 | kind)
                else:
                    keys[index] = key
                    value = ~(index << 3 | trail << 2 | _SINGLE)
            else:  # another name has the same view: look the text up in `automaton` for both
                value = ~value
                if value < 0 or value & 3 < _SHARED:  # a packed or other _PLAIN or _WORDS name
                    spans = 8
                elif value & 3 == _SHARED:
                    spans = value >> 2 & 15
                else:
                    other = keys.pop(value >> 3)
                    spans = 1 << (2 * (word_view(other[0]) != " ") + (value >> 2 & 1))
                size = len(view) + lead + trail  # in characters, as the offsets of a match
                value = ~(size << 6 | (spans | 1 << (2 * lead + trail)) << 2 | _SHARED)
            words.add_word(padded, value)

    def add_relation(
        self, head: str, label: str, tail: str, *, path: Any = None, line: int | None = None
    ) -> None:
        """Add one KB fact; both names must be in the gazetteer with types the relation accepts."""
        relation = self.ontology.resolve_label(label)
        if relation is None or self.ontology.kind_of(relation) != Kind.RELATION:
            raise InputError(
                f"unknown relation type {label!r}; use a relation class name or alias of the ontology",
                path=path,
                line=line,
                field="relation",
            )
        ids = []
        signature = self.ontology.relation_signature(relation)
        for role, name, allowed in zip(("head", "tail"), (head, tail), signature, strict=True):
            index = self.automaton.get(self._key(name.strip()), -1)
            if index < 0:
                message = f"{name!r} is not a gazetteer name; add it with its type to the names file"
                raise InputError(message, path=path, line=line, field=role)
            type_id = self.type_ids[index]
            # an ambiguous name is never emitted, so its facts never fire and need no type check
            if type_id != AMBIGUOUS and not self.ontology.allows_argument(allowed, self.type_names[type_id]):
                message = (
                    f"{relation} takes a {role} of type {' | '.join(allowed)}, "
                    f"but {name!r} is a {self.type_names[type_id]}"
                )
                raise InputError(message, path=path, line=line, field=role)
            ids.append(index)
        if ids[0] == ids[1]:
            raise InputError(f"head and tail are the same name {head!r}", path=path, line=line, field="tail")
        known = self.relations.get((ids[0], ids[1]), ())
        if relation not in known:
            self.relations[(ids[0], ids[1])] = (*known, relation)
        self.has_relations = True

    def find(self, text: str, lang: str) -> list[Span]:
        """Mentions in one sentence as ``(start, end, name id)``, end exclusive, leftmost-longest."""
        return self.find_all([text], lang)[0]

    def find_all(self, texts: Sequence[str], lang: str) -> list[list[Span]]:
        """``find`` for each of many sentences of one language, in one pass of an automaton."""
        setting = self._settings.get(lang)
        if setting is None:
            self.build()
            spaced = base_lang(lang) not in UNSPACED_LANGUAGES
            # a language no row names gets a bit no name has, so only names of every language fit
            bit = self._lang_bit(lang) or 1 << len(self._lang_bits)
            setting = self._settings[lang] = (spaced, bit)
        spaced, bit = setting
        found: list[list[Span]] = [[] for _ in texts]
        # each text between newlines: text k is joined[bounds[k] : bounds[k + 1] - 1]
        joined = "\n".join(["", *texts, ""])
        bounds = list(accumulate([len(text) + 1 for text in texts], initial=1))
        search = joined if self.case_sensitive else fold_case(joined)
        if spaced and len(self.word_automaton):  # pyahocorasick cannot search an empty automaton
            self._find_words(search, bit, bounds, found)
        elif not spaced and self.type_ids:
            self._find_unspaced(joined, search, bit, bounds, found)
        return found

    def _find_words(self, search: str, bit: int, bounds: list[int], found: list[list[Span]]) -> None:
        """Scan the word view; spans come by their end, so leftmost-longest is settled as they come."""
        view = word_view(search)
        lengths, masks, keys = self._char_lengths, self._masks, self._keys
        encoded = None if view.isascii() else view.encode("utf-8")  # else byte offsets are character offsets
        starts = encoded.translate(_CHARACTER_STARTS) if encoded else None
        base = limit = last = byte = char = 0  # encoded[:byte] holds `char` characters
        spans = found[0]
        late: list[Span] = []  # spans that end after the key that found them: added once the scan passes
        for end, value in self.word_automaton.iter(view if encoded is None else encoded.decode("latin-1")):
            if starts is not None:  # the offset of the key's last byte becomes that of its last character
                if end >= byte:
                    char += starts.count(1, byte, end + 1)
                    byte = end + 1
                end = char - 1
            # end: the key's last character, the space after a name that ends a word
            if end >= limit:  # the next text with a match: a key never crosses two (or is dropped)
                k = bisect_right(bounds, end) - 1  # -1 for a key that ends on the first newline: none fits
                base, limit, spans = bounds[k], bounds[k + 1], found[k]
                last = spans[-1][1] + base if spans else base
            if late and end >= late[0][1]:
                last = _add_late(late, bounds, found, spans, base)
            if value >= 0:  # a packed name of words and spaces
                index, start, words = value >> 8, end - (value >> 1 & 127), value & 1
            elif ~value & 3 <= _WORDS:
                index, start, words = ~value >> 2, end - lengths[~value >> 2], ~value & 1
            else:
                value = ~value
                if value & 3 == _SINGLE:
                    index = value >> 3
                    stop = end + 1 - (value >> 2 & 1)
                    start = stop - lengths[index]
                    if search[start:stop] != keys[index] or not masks.get(index, ANY_LANG) & bit:
                        continue
                    keyed = [(start, stop, index)]
                else:
                    keyed = self._shared(search, end, value, bit)
                for start, stop, index in keyed:
                    if start < base or stop >= limit:
                        continue  # across the newline between two texts
                    if stop > end:
                        late.append((start, stop, index))
                    else:
                        last = _add_overlapping(spans, start - base, stop - base, index) + base
                continue
            if words and search[start:end] != view[start:end]:
                continue  # the text has other non-word characters where the name has spaces
            if start >= last:
                spans.append((start - base, end - base, index))
                last = end
            elif spans[-1][0] + base >= start:  # else the last span starts first and wins
                if len(spans) == 1 or spans[-2][1] + base <= start:
                    spans[-1] = (start - base, end - base, index)  # it only overlaps the last span
                    last = end
                else:
                    last = _add_overlapping(spans, start - base, end - base, index) + base
        if late:
            _add_late(late, bounds, found, spans, base)

    def _shared(self, search: str, end: int, value: int, bit: int) -> list[Span]:
        """The names behind a _SHARED key that ends at ``end``: each span it allows is looked up."""
        masks, found = self._masks, []
        first = end - (value >> 6) + 1  # the key's first character
        for lead, trail in ((0, 0), (0, 1), (1, 0), (1, 1)):
            if value >> (2 * lead + trail + 2) & 1:
                start, stop = first + lead, end + 1 - trail
                index = self.automaton.get(_as_bytes(search[start:stop]), -1)
                if index >= 0 and masks.get(index, ANY_LANG) & bit:
                    found.append((start, stop, index))
        return found

    def _find_unspaced(
        self, joined: str, search: str, bit: int, bounds: list[int], found: list[list[Span]]
    ) -> None:
        lengths, masks, latin_edges = self._char_lengths, self._masks, self._latin_edges
        encoded = None if search.isascii() else search.encode("utf-8")
        starts = encoded.translate(_CHARACTER_STARTS) if encoded else None
        base = limit = last = byte = char = 0
        spans = found[0]
        for end, index in self.automaton.iter(search if encoded is None else encoded.decode("latin-1")):
            if starts is not None:
                if end >= byte:
                    char += starts.count(1, byte, end + 1)
                    byte = end + 1
                end = char - 1
            if masks and not masks.get(index, ANY_LANG) & bit:
                continue
            start = end - lengths[index] + 1
            # joined[i - 1 : i + 1] is the pair of characters around the edge before joined[i]; only a
            # Latin word inside the text has edges to respect, and only a name with such an edge can
            # meet one (a text character whose fold is not [A-Za-z0-9] is not either)
            edges = latin_edges[index]
            if edges:
                pair = joined[end : end + 2]
                if edges & 2 and pair.isalnum() and pair.isascii():
                    continue
                pair = joined[start - 1 : start + 1]
                if edges & 1 and pair.isalnum() and pair.isascii():
                    continue
            if end >= limit:
                k = bisect_right(bounds, end) - 1
                base, limit, spans = bounds[k], bounds[k + 1], found[k]
                last = base
            if start < base or end + 1 >= limit:
                continue  # across the newline between two texts
            if start >= last:
                spans.append((start - base, end + 1 - base, index))
                last = end + 1
            elif spans[-1][0] + base >= start:  # else the last span starts first and wins
                last = _add_overlapping(spans, start - base, end + 1 - base, index) + base

    def _lang_bit(self, lang: str, *, create: bool = False) -> int:
        """The bit of a base language in the name masks; 0 for a language no row names."""
        lang = base_lang(lang)
        if create and lang not in self._lang_bits:
            self._lang_bits[lang] = 1 << len(self._lang_bits)
        return self._lang_bits.get(lang, 0)

    def _key(self, name: str) -> str:
        """The automaton key: UTF-8 bytes as a latin-1 string (see the module docstring for why)."""
        return (name if self.case_sensitive else fold_case(name)).encode("utf-8").decode("latin-1")

    def __len__(self) -> int:
        """Distinct names (after case folding when case-insensitive)."""
        return len(self.type_ids)

    @property
    def ambiguous_names(self) -> int:
        """Names whose rows gave unrelated types (always 0 with ``ambiguous="first"``)."""
        return self.type_ids.tolist().count(AMBIGUOUS)

    def type_of(self, name: str) -> str | None:
        """The entity type a name is annotated with, or None when unknown or ambiguous."""
        index = self.automaton.get(self._key(name), -1)
        return self.type_names[self.type_ids[index]] if index >= 0 and self.type_ids[index] >= 0 else None


def _add_overlapping(spans: list[Span], start: int, stop: int, index: int) -> int:
    """Add a span that ends no earlier than any in ``spans`` (disjoint, in order), leftmost-longest.

    The spans it overlaps are a tail of ``spans``. If the first of them starts before it, that one
    wins; otherwise the new span starts no later and ends no earlier than each, and replaces them all.
    A span dropped earlier lost to one starting no later than the new span and ending no later, so
    it overlaps the new span too and stays dropped. Returns where the last span ends.
    """
    at = len(spans)
    while at and spans[at - 1][1] > start:
        at -= 1
    if at == len(spans) or spans[at][0] >= start:
        del spans[at:]
        spans.append((start, stop, index))
    return spans[-1][1]


def _add_late(
    late: list[Span], bounds: list[int], found: list[list[Span]], spans: list[Span], base: int
) -> int:
    """Add the late spans (joined offsets) to their texts; returns where ``spans`` ends (joined offset)."""
    for start, stop, index in late:
        k = bisect_right(bounds, start) - 1
        _add_overlapping(found[k], start - bounds[k], stop - bounds[k], index)
    late.clear()
    return spans[-1][1] + base if spans else base


def _read_tsv(path: Path, columns: tuple[str, ...], required: int) -> Iterator[tuple[int, list[str]]]:
    """Numbered rows of a TSV file; blank and ``#`` lines are skipped."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except OSError as error:
        raise InputError(f"cannot read: {error.strerror}", path=path) from error
    layout = "<TAB>".join(columns[:required]) + "".join(f"[<TAB>{c}]" for c in columns[required:])
    with handle:
        for lineno, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as error:
                raise DataFormatError(
                    "not valid UTF-8", path=path, line=lineno, field="<encoding>"
                ) from error
            if not line.strip() or line.startswith("#"):
                continue
            fields = [part.strip() for part in line.split("\t")]
            if len(fields) < required:
                message = f"missing; expected {layout}"
                raise InputError(message, path=path, line=lineno, field=columns[len(fields)])
            if len(fields) > len(columns):
                message = f"{len(fields)} tab-separated fields; expected {layout}"
                raise InputError(message, path=path, line=lineno, field="<columns>")
            for column, value in zip(columns, fields, strict=False):
                if not value:
                    raise InputError(f"empty; expected {layout}", path=path, line=lineno, field=column)
            yield lineno, fields


def _read_name_rows(path: Path) -> Iterator[tuple[int, str, str, str | None]]:
    if path.suffix != ".jsonl":
        for lineno, fields in _read_tsv(path, ("name", "type", "lang"), 2):
            yield lineno, fields[0], fields[1], fields[2] if len(fields) > 2 else None
        return
    for lineno, obj in iter_jsonl(path):
        for key in obj:
            if key not in ("name", "type", "lang"):
                message = "unknown field; a name row has name, type and lang"
                raise InputError(message, path=path, line=lineno, field=key)
        values: dict[str, str] = {}
        for key in ("name", "type", "lang"):
            value = obj.get(key)
            if value is None and key == "lang":
                continue
            if not (isinstance(value, str) and value.strip()):
                raise InputError("expected a non-empty string", path=path, line=lineno, field=key)
            values[key] = value
        yield lineno, values["name"], values["type"], values.get("lang")
