"""Long texts in sentence-aware chunks, and records placed back at character offsets of the whole text.

A model sees a bounded window (the tiny model has 1,024 positions, prompt and schema included), so
a text longer than ``max_chars`` is cut at sentence ends into chunks of at most ``max_chars``, each
overlapping the previous one by up to ``overlap`` characters of whole sentences, so that a mention
cut by one boundary is whole in the neighbouring chunk. Records carry span text (the model writes
strings); :func:`place_records` finds each span in its chunk and adds ``start``/``end`` (character
offsets in the whole text, ``end`` exclusive; ``None`` when the span is not in the text), and
:func:`merge_chunks` joins the chunks' records, dropping the repeats the overlap produces.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: a sentence ends after ., !, ? (and their CJK forms) or a line break, plus the spaces after it
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])|\n+")


@dataclass(frozen=True)
class Chunk:
    """``text`` is ``whole[start:start + len(text)]``."""

    start: int
    text: str


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence, the spaces after it included, covering ``text`` exactly."""
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        if match.end() > start:
            spans.append((start, match.end()))
            start = match.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans


def split_text(text: str, max_chars: int, overlap: int = 0) -> list[Chunk]:
    """``text`` as chunks of at most ``max_chars``, cut at sentence ends (inside a sentence only when
    one sentence alone is longer), each starting with up to ``overlap`` characters of the last one."""
    if max_chars <= 0:
        raise ValueError(f"max_chars: must be positive, got {max_chars}")
    if len(text) <= max_chars:
        return [Chunk(0, text)]
    pieces: list[tuple[int, int]] = []
    for start, end in sentence_spans(text):
        while end - start > max_chars:  # one long sentence: hard cuts, at a space when there is one
            cut = text.rfind(" ", start + 1, start + max_chars)
            cut = cut + 1 if cut > start else start + max_chars
            pieces.append((start, cut))
            start = cut
        pieces.append((start, end))
    overlap = max(0, min(overlap, max_chars // 2))
    chunks: list[Chunk] = []
    first = 0
    while first < len(pieces):
        start, end = pieces[first][0], pieces[first][1]
        last = first
        while last + 1 < len(pieces) and pieces[last + 1][1] - start <= max_chars:
            last += 1
            end = pieces[last][1]
        chunks.append(Chunk(start, text[start:end]))
        if last + 1 >= len(pieces):
            break
        # the next chunk starts with the last sentences of this one that fit in the overlap
        following = last + 1
        while following - 1 > first and end - pieces[following - 1][0] <= overlap:
            following -= 1
        first = following
    return chunks


def _place(span: Mapping[str, Any], key: str, chunk: Chunk) -> dict[str, Any]:
    """``span`` with ``start``/``end`` of its ``key`` text in the whole text (None: not in the chunk)."""
    found = chunk.text.find(str(span.get(key, ""))) if span.get(key) else -1
    if found < 0:
        return {**span, "start": None, "end": None}
    start = chunk.start + found
    return {**span, "start": start, "end": start + len(str(span[key]))}


def place_records(result: Mapping[str, Any], chunk: Chunk) -> dict[str, Any]:
    """One chunk's ``{entities, relations, events}`` with character offsets in the whole text."""
    entities = [_place(e, "text", chunk) for e in result.get("entities", [])]
    relations = [
        {**r, "head": _place(r["head"], "text", chunk), "tail": _place(r["tail"], "text", chunk)}
        for r in result.get("relations", [])
    ]
    events = []
    for event in result.get("events", []):
        placed = _place(event, "trigger", chunk)
        placed["arguments"] = [_place(a, "text", chunk) for a in event.get("arguments", [])]
        events.append(placed)
    return {"entities": entities, "relations": relations, "events": events}


def _key(record: Mapping[str, Any]) -> tuple:
    """What makes two placed records the same: every field, nested spans included (offsets too),
    but not the confidence of the output that wrote it."""
    return tuple(
        (name, _key(value) if isinstance(value, Mapping) else tuple(map(_key, value)))
        if isinstance(value, Mapping | list)
        else (name, value)
        for name, value in sorted(record.items())
        if name != "confidence"
    )


def merge_chunks(text: str, parts: Sequence[tuple[Chunk, Mapping[str, Any]]]) -> dict[str, Any]:
    """The placed records of every chunk of ``text`` as one prediction, repeats from overlaps dropped.

    ``report`` maps each task to the list of its per-chunk parse reports (one entry for a short text).
    """
    merged: dict[str, Any] = {"text": text, "entities": [], "relations": [], "events": []}
    seen: dict[str, dict[tuple, dict[str, Any]]] = {"entities": {}, "relations": {}, "events": {}}
    reports: dict[str, list[Any]] = {}
    for chunk, result in parts:
        placed = place_records(result, chunk)
        for kind in ("entities", "relations", "events"):
            for record in placed[kind]:
                key = _key(record)
                first = seen[kind].get(key)
                if first is None:
                    seen[kind][key] = record
                    merged[kind].append(record)
                elif "confidence" in record:  # written twice (an overlap): the surer of the two
                    first["confidence"] = max(first.get("confidence", 0.0), record["confidence"])
        for task, report in result.get("report", {}).items():
            reports.setdefault(task, []).append(report)
    merged["report"] = {task: found[0] if len(found) == 1 else found for task, found in reports.items()}
    merged["chunks"] = len(parts)
    return merged
