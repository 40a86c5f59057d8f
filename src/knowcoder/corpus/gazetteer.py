"""The gazetteer of distant supervision: typed names, a relation KB, and one automaton to find them.

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

The automaton runs over UTF-8 bytes (each held as one latin-1 character), not characters:
``pyahocorasick`` finds a child by linear search, so Chinese names give the root thousands of
children, all scanned for every character of text that starts no name (1.4 MB/s measured with 1M
names, 10 % Chinese); over bytes a node has at most 256 (20 MB/s on the same data). UTF-8 is
self-synchronising, so a key only matches at character boundaries. ``find`` takes every match from
``iter`` and picks leftmost-longest itself: ``iter_long`` has had missed-match bugs (pyahocorasick
issues 133 and 185), and a longest match that fails a boundary hides the shorter ones that pass.
"""

from __future__ import annotations

import unicodedata
from array import array
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import ahocorasick

from knowcoder.data.importers import UNSPACED_LANGUAGES
from knowcoder.data.jsonl import iter_jsonl
from knowcoder.errors import ConfigError, DataFormatError, InputError
from knowcoder.schema.ontology import Kind, Ontology

ANY_LANG = -1  # lang mask of a name that fits every language (all bits set)
AMBIGUOUS = -1  # type id of a name whose rows disagree


def is_word_char(char: str) -> bool:
    """Letters, digits, ``_`` and combining marks (so a Devanagari vowel sign is inside a word)."""
    if char.isalnum() or char == "_":
        return True
    return not char.isascii() and unicodedata.category(char)[0] == "M"


def _joins(pair: str) -> bool:
    """True when both characters of an edge are word characters, so the edge is inside a word."""
    return is_word_char(pair[0]) and is_word_char(pair[1])


def fold_case(text: str) -> str:
    """Case-fold character by character, keeping any character that would fold to several (ß, İ).

    The length never changes, so offsets into the folded text are offsets into the original.
    """
    folded = text.casefold()
    if len(folded) == len(text):  # folding only ever lengthens, so every character kept its place
        return folded
    return "".join(low if len(low := char.casefold()) == 1 else char for char in text)


def base_lang(lang: str) -> str:
    """``zh-CN`` and ``zh_TW`` count as ``zh``, as in the importers."""
    return lang.replace("_", "-").split("-")[0].casefold()


class Gazetteer:
    """Names with entity types and optional relations between names, compiled to one automaton."""

    def __init__(self, ontology: Ontology, *, case_sensitive: bool = True, ambiguous: str = "skip") -> None:
        if ambiguous not in ("skip", "first"):
            raise ConfigError(f"unknown policy {ambiguous!r}; choose 'skip' or 'first'", field="ambiguous")
        self.ontology = ontology
        self.case_sensitive = case_sensitive
        self.ambiguous_policy = ambiguous
        self.type_names: list[str] = []  # type id -> class name
        self.type_ids = array("i")  # name id -> type id, or AMBIGUOUS
        self._byte_lengths = array("I")  # name id -> length of its key in bytes
        self._char_lengths = array("I")  # name id -> length in characters
        self.relations: dict[tuple[int, int], tuple[str, ...]] = {}  # (head id, tail id) -> types
        self.has_relations = False  # a KB was given, so sentences are annotated for relations
        self.automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)  # value: name id
        self._masks: list[int] = []
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
            raise RuntimeError("add every name before build() or find(); the automaton is compiled once")
        name = name.strip()
        if not name:
            raise InputError("empty name", path=path, line=line, field="name")
        type_id = self._entity_type(label, path, line)
        mask = ANY_LANG if not lang else self._lang_bit(lang, create=True)
        key = self._key(name)
        index = self.automaton.get(key, -1)
        if index < 0:
            self.automaton.add_word(key, len(self.type_ids))
            self.type_ids.append(type_id)
            self._byte_lengths.append(len(key))
            self._char_lengths.append(len(name))
            self._masks.append(mask)
            return
        self._masks[index] |= mask
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

    def build(self) -> Gazetteer:
        """Compile the automaton (once); names can no longer be added, relations can."""
        if not self._built:
            self.automaton.make_automaton()
            self._built = True
        return self

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

    def find(self, text: str, lang: str) -> list[tuple[int, int, int]]:
        """Mentions in one sentence as ``(start, end, name id)``, end exclusive, leftmost-longest."""
        setting = self._settings.get(lang)
        if setting is None:
            self.build()
            spaced = base_lang(lang) not in UNSPACED_LANGUAGES
            setting = self._settings[lang] = (spaced, self._lang_bit(lang))
        spaced, bit = setting
        if not self.type_ids:  # pyahocorasick cannot search an empty automaton
            return []
        search = text if self.case_sensitive else fold_case(text)
        hits: Iterable[tuple[int, int]]
        if search.isascii():  # byte offsets are character offsets
            hits, lengths = self.automaton.iter(search), self._byte_lengths
        else:  # the offset of the last byte becomes that of the last character by decoding
            raw, lengths = search.encode("utf-8"), self._char_lengths
            hits = [
                (len(raw[: end + 1].decode("utf-8")) - 1, index)
                for end, index in self.automaton.iter(raw.decode("latin-1"))
            ]
        if self._lang_bits:  # some names belong to one language: drop the others' first
            masks = self._masks
            hits = [(end, index) for end, index in hits if masks[index] == ANY_LANG or masks[index] & bit]
        # padded[i : i + 2] is the pair of characters around the edge before text[i]; one slice and
        # one isalnum() settle nearly every edge, which matters because most hits are rejected here
        padded = f" {text} "
        candidates = []
        for end, index in hits:
            length = lengths[index]
            start = end - length + 1
            if spaced:  # the end edge first: most rejected hits are prefixes of a longer word
                pair = padded[end + 1 : end + 3]
                if pair.isalnum() or ((not pair.isascii() or "_" in pair) and _joins(pair)):
                    continue
                pair = padded[start : start + 2]
                if pair.isalnum() or ((not pair.isascii() or "_" in pair) and _joins(pair)):
                    continue
            else:  # no spaces: only a Latin word inside the text has edges to respect
                pair = padded[end + 1 : end + 3]
                if pair.isalnum() and pair.isascii():
                    continue
                pair = padded[start : start + 2]
                if pair.isalnum() and pair.isascii():
                    continue
            candidates.append((start, -length, index))
        candidates.sort()
        found = []
        covered = 0
        for start, neg_length, index in candidates:
            if start >= covered:
                covered = start - neg_length
                found.append((start, covered, index))
        return found

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
