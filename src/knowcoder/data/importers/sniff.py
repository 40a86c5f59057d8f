"""Recognising a dataset file's format from its first record, so a wrong ``--format`` fails.

Reading a OneIE file as UIE finds none of UIE's keys and would silently write instances with
every annotation gone; ``refuse_other_format`` stops that with one line saying what the file
looks like. Only the start of the file is read (``SNIFF_BYTES``).

Each JSON signature is a set of keys a record of that format has and the other formats do
not. A format without a signature here (one a plugin registers) is never refused.
"""

from __future__ import annotations

import json
from pathlib import Path

from knowcoder.errors import DataFormatError

SNIFF_BYTES = 256 * 1024

# format -> (keys that must all be present, human hint); checked in this order
SIGNATURES: tuple[tuple[str, frozenset[str], str], ...] = (
    ("duie", frozenset({"spo_list"}), "DuIE triples in 'spo_list'"),
    ("duee", frozenset({"event_list"}), "DuEE events in 'event_list'"),
    ("universalner", frozenset({"conversations"}), "UniversalNER / Pile-NER 'conversations'"),
    ("iepile", frozenset({"task", "instruction", "output"}), "IEPile 'instruction'/'output' strings"),
    ("dygiepp", frozenset({"doc_key", "sentences"}), "DyGIE++ documents ('doc_key', 'sentences')"),
    ("oneie", frozenset({"entity_mentions"}), "OneIE 'entity_mentions'"),
    ("oneie", frozenset({"event_mentions"}), "OneIE 'event_mentions'"),
    ("uie", frozenset({"tokens", "entity"}), "UIE 'tokens' with 'entity'"),
    ("uie", frozenset({"tokens", "relation"}), "UIE 'tokens' with 'relation'"),
    ("uie", frozenset({"tokens", "event"}), "UIE 'tokens' with 'event'"),
    ("instructie", frozenset({"cate", "relation"}), "InstructIE 'cate' and 'relation'"),
    ("instruction", frozenset({"text", "answer"}), "'text' with an 'answer'"),
)
JSON_FORMATS = frozenset(name for name, _, _ in SIGNATURES)
COLUMN_FORMATS = frozenset({"conll"})


def sniff_format(path: str | Path) -> tuple[str, str] | None:
    """``(format, why)`` for a file that plainly is one known format, else ``None``."""
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES).decode("utf-8", errors="replace").lstrip("\ufeff")
    stripped = head.lstrip()
    if not stripped:
        return None
    if stripped[0] == "[":
        record = _first_array_element(stripped)
    elif stripped[0] == "{":
        first_line = stripped.split("\n", 1)[0]
        try:
            record = json.loads(first_line)
        except json.JSONDecodeError:
            record = None
    else:
        return _sniff_columns(stripped)
    if not isinstance(record, dict):
        return None
    for name, keys, why in SIGNATURES:
        if keys <= record.keys():
            return name, why
    return None


def _first_array_element(text: str) -> object:
    try:
        return json.JSONDecoder().raw_decode(text, text.index("[") + 1 + _spaces(text, text.index("[") + 1))[
            0
        ]
    except (json.JSONDecodeError, ValueError):
        return None


def _spaces(text: str, start: int) -> int:
    return len(text[start:]) - len(text[start:].lstrip())


def _sniff_columns(text: str) -> tuple[str, str] | None:
    lines = [line.split() for line in text.splitlines()[:50] if line.strip()]
    if lines and all(len(columns) >= 2 for columns in lines[:-1]):
        return "conll", "whitespace-separated token and tag columns"
    return None


def refuse_other_format(path: Path, fmt: str) -> None:
    """Raise when ``path`` plainly is a different known format than ``fmt``."""
    if fmt not in JSON_FORMATS and fmt not in COLUMN_FORMATS:
        return
    found = sniff_format(path)
    if found is None or found[0] == fmt:
        return
    name, why = found
    raise DataFormatError(
        f"this file looks like format {name!r} ({why}), not {fmt!r}; import it with "
        f"--format {name} (or pass --no-sniff if it really is {fmt!r})",
        path=path,
        line=1,
        field="--format",
    )
