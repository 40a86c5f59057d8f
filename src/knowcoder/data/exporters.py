"""Exporters from canonical instances to dataset formats; every export is written atomically.

``conll`` writes two columns, token and IOB2 tag, with a blank line after each sentence.
Tokens are the whitespace-separated words of ``text``, or its single non-space characters for
languages written without spaces (zh, ja, th), so importing the file with the ``conll``
importer gives back the same text, offsets and ids. Only entities are written; an instance
whose entities are ``None`` is written all ``O``. An entity that does not start and end on
token boundaries, or that overlaps another, has no IOB2 form and is an error.

``jsonl`` writes canonical instances, one per line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

from knowcoder.data.importers import token_separator
from knowcoder.data.importers.conll import DOCSTART
from knowcoder.data.instance import Instance
from knowcoder.data.jsonl import atomic_open, write_instances
from knowcoder.errors import ConfigError, DataFormatError

_WORD = re.compile(r"\S+")


def tokenize(text: str, lang: str) -> list[tuple[int, int]]:
    """Character spans of the tokens of ``text``: words, or characters for unspaced languages."""
    if token_separator(lang) == "":
        return [(index, index + 1) for index, char in enumerate(text) if not char.isspace()]
    return [match.span() for match in _WORD.finditer(text)]


def conll_rows(instance: Instance) -> list[tuple[str, str]]:
    """``(token, IOB2 tag)`` for each token of one instance."""
    tokens = tokenize(instance.text, instance.lang)
    if not tokens:
        raise DataFormatError(
            f"instance {instance.id!r} has no tokens; CoNLL cannot hold an empty sentence", field="text"
        )
    if any(instance.text[start:end] == DOCSTART for start, end in tokens):
        # the importer skips such lines as document separators, so the token would be lost
        raise DataFormatError(
            f"instance {instance.id!r} has a token {DOCSTART!r}, which CoNLL reads as a document break",
            field="text",
        )
    first_token = {start: index for index, (start, _) in enumerate(tokens)}
    last_token = {end: index for index, (_, end) in enumerate(tokens)}
    tags = ["O"] * len(tokens)
    for position, entity in enumerate(instance.entities or []):
        field = f"entities[{position}]"
        where = f"instance {instance.id!r}: entity [{entity.start}, {entity.end}) {entity.type}"
        first, last = first_token.get(entity.start), last_token.get(entity.end)
        if first is None or last is None or last < first:
            raise DataFormatError(
                f"{where} {instance.text[entity.start : entity.end]!r} does not start and end on "
                f"token boundaries, so it has no CoNLL form; export this instance as jsonl",
                field=field,
            )
        if entity.type.split() != [entity.type]:
            raise DataFormatError(f"{where}: a type with whitespace cannot be a CoNLL tag", field=field)
        if any(tag != "O" for tag in tags[first : last + 1]):
            raise DataFormatError(
                f"{where} overlaps another entity; IOB2 cannot hold nested entities", field=field
            )
        tags[first] = f"B-{entity.type}"
        for index in range(first + 1, last + 1):
            tags[index] = f"I-{entity.type}"
    return [(instance.text[start:end], tag) for (start, end), tag in zip(tokens, tags, strict=True)]


def export_conll(path: str | Path, instances: Iterable[Instance]) -> int:
    """Write instances as a two-column IOB2 CoNLL file; return how many were written."""
    count = 0
    with atomic_open(path) as handle:
        for instance in instances:
            for token, tag in conll_rows(instance):
                handle.write(f"{token} {tag}\n")
            handle.write("\n")
            count += 1
    return count


def export_jsonl(path: str | Path, instances: Iterable[Instance]) -> int:
    """Write canonical instances as JSON lines; return how many were written."""
    return write_instances(path, instances)


Exporter = Callable[[str | Path, Iterable[Instance]], int]

EXPORTERS: dict[str, Exporter] = {"conll": export_conll, "jsonl": export_jsonl}


def export_dataset(fmt: str, path: str | Path, instances: Iterable[Instance]) -> int:
    """Write instances to ``path`` in format ``fmt``; nothing is left behind if it fails."""
    exporter = EXPORTERS.get(fmt)
    if exporter is None:
        known = ", ".join(sorted(EXPORTERS))
        raise ConfigError(f"unknown export format {fmt!r}; known formats: {known}", field="format")
    return exporter(path, instances)
