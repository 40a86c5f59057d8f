"""Build KnowCoder-X's parallel IE pairs: translate each instance and re-align its spans.

KnowCoder-X built its alignment data by translating a sentence and its spans together,
re-translating spans missing from the translation and leaving out pairs that still missed
one. Here every annotated span (entity, trigger, argument) is located in the translated
sentence by the first rule that finds it:

1. its translation, from ``translate_span``, occurs in the target sentence;
2. the span text itself occurs verbatim (names often stay in Latin script in Chinese text);
3. otherwise the pair is dropped and the reason counted in the ``BuildReport``.

**Occurrence-rank rule** for repeated strings: a span that is the k-th occurrence of its text
in the source takes the k-th occurrence of the found string in the target, provided both occur
equally often; any other count drops the pair as ``ambiguous_span`` rather than guess (the
first rule whose string occurs decides; an ambiguous translation is not retried verbatim).
Relations point at entity indices, which are kept, so they carry over unchanged.

Translation table for ``DictionaryTranslator.from_jsonl``, one sentence per line::

    {"source": "Ada Park works for Acme Corp.", "target": "朴艾达在艾克米公司工作。",
     "spans": {"Ada Park": "朴艾达", "Acme Corp": "艾克米公司"}}
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from knowcoder.data.instance import Argument, Entity, Event, Instance, Span
from knowcoder.data.jsonl import describe_validation_error, iter_jsonl, read_instances
from knowcoder.data.parallel import ParallelPair, read_pairs, write_pairs
from knowcoder.errors import DataFormatError

_MAX_EXAMPLES = 5  # source ids kept per drop reason: enough to inspect, bounded on huge inputs


@runtime_checkable
class Translator(Protocol):
    """Translates a sentence; ``None`` means it has no translation for it."""

    def translate(self, text: str, *, source_lang: str, target_lang: str) -> str | None: ...


@runtime_checkable
class SpanTranslator(Translator, Protocol):
    """A translator that can also translate one span of a sentence, given the sentence."""

    def translate_span(
        self, span: str, *, context: str, source_lang: str, target_lang: str
    ) -> str | None: ...


class DropReason(StrEnum):
    """Why a source instance produced no pair."""

    SAME_LANGUAGE = "already_target_language"
    SENTENCE_UNTRANSLATED = "sentence_untranslated"
    ENTITY_NOT_FOUND = "entity_not_found"
    TRIGGER_NOT_FOUND = "trigger_not_found"
    ARGUMENT_NOT_FOUND = "argument_not_found"
    AMBIGUOUS_SPAN = "ambiguous_span"


@dataclass
class BuildReport:
    """What a build did; complete once the pair iterator is exhausted.

    ``spans_translated + spans_verbatim`` is the number of spans (entities, triggers and
    arguments) in the written targets; a pair drops for its first unaligned span only.
    """

    pairs_read: int = 0
    pairs_written: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    dropped_examples: dict[str, list[str]] = field(default_factory=dict)
    spans_translated: int = 0
    spans_verbatim: int = 0

    @property
    def pairs_dropped(self) -> int:
        return sum(self.dropped.values())

    def drop(self, reason: DropReason, source_id: str) -> None:
        self.dropped[reason.value] += 1
        examples = self.dropped_examples.setdefault(reason.value, [])
        if len(examples) < _MAX_EXAMPLES:
            examples.append(source_id)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "pairs_read": self.pairs_read,
            "pairs_written": self.pairs_written,
            "pairs_dropped": self.pairs_dropped,
            "dropped": dict(sorted(self.dropped.items())),
            "dropped_examples": dict(sorted(self.dropped_examples.items())),
            "spans_translated": self.spans_translated,
            "spans_verbatim": self.spans_verbatim,
        }


# ---- translators ---------------------------------------------------------------------------------
class TranslationEntry(BaseModel):
    """One line of a translation table: a sentence, its translation and its span translations."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(min_length=1)
    target: str = Field(min_length=1)
    spans: dict[str, str] = Field(default_factory=dict)


def _merge(table: dict[str, str | None], key: str, value: str) -> None:
    # two different translations of one key cannot both be right; None marks it unknown for good
    if key in table and table[key] != value:
        table[key] = None
    else:
        table[key] = value


class DictionaryTranslator:
    """Translates by lookup in a table of sentences and span strings: deterministic and offline.

    The table translates one way whatever languages are passed (``reversed()`` gives the other
    way). A span unknown in its sentence falls back to its translation in any other sentence of
    the table, when that is unique. A sentence or span listed with two different translations
    is unknown, since picking one would be a guess.
    """

    def __init__(self, entries: Iterable[TranslationEntry] = ()) -> None:
        self._sentences: dict[str, str | None] = {}
        self._spans: dict[str, dict[str, str | None]] = {}
        self._anywhere: dict[str, str | None] = {}
        for entry in entries:
            self.add(entry.source, entry.target, entry.spans)

    @classmethod
    def from_jsonl(cls, path: str | Path) -> DictionaryTranslator:
        """Load a translation table (format in the module docstring)."""
        entries = []
        for lineno, obj in iter_jsonl(path):
            try:
                entries.append(TranslationEntry.model_validate(obj))
            except ValidationError as error:
                name, message = describe_validation_error(error)
                raise DataFormatError(message, path=path, line=lineno, field=name) from error
        return cls(entries)

    def add(self, source: str, target: str, spans: Mapping[str, str] | None = None) -> None:
        """Add a sentence, its translation and the translations of spans within it."""
        self._add(source, target, (spans or {}).items())

    def _add(self, source: str, target: str, spans: Iterable[tuple[str, str]]) -> None:
        _merge(self._sentences, source, target)
        in_sentence = self._spans.setdefault(source, {})
        for span, translation in spans:
            _merge(in_sentence, span, translation)
            _merge(self._anywhere, span, translation)

    def reversed(self) -> DictionaryTranslator:
        """The table read the other way: translations become sources."""
        flipped = DictionaryTranslator()
        for source, target in self._sentences.items():
            if target is not None:
                spans = self._spans.get(source, {}).items()
                flipped._add(target, source, [(t, s) for s, t in spans if t is not None])
        return flipped

    def translate(self, text: str, *, source_lang: str, target_lang: str) -> str | None:
        return self._sentences.get(text)

    def translate_span(self, span: str, *, context: str, source_lang: str, target_lang: str) -> str | None:
        in_sentence = self._spans.get(context, {})
        if span in in_sentence:
            return in_sentence[span]
        return self._anywhere.get(span)


def _aligned_texts(source: Instance, target: Instance) -> Iterator[tuple[str, str]]:
    """``(source text, target text)`` of every aligned entity, trigger and argument of a pair."""
    for s_ent, t_ent in zip(source.entities or (), target.entities or (), strict=True):
        yield source.span_text(s_ent), target.span_text(t_ent)
    for s_ev, t_ev in zip(source.events or (), target.events or (), strict=True):
        yield source.span_text(s_ev.trigger), target.span_text(t_ev.trigger)
        for s_arg, t_arg in zip(s_ev.arguments, t_ev.arguments, strict=True):
            yield source.span_text(s_arg), target.span_text(t_arg)


class PairsTranslator:
    """Translates the sentences of existing parallel pairs, either way, with their aligned spans."""

    def __init__(self, pairs: Iterable[ParallelPair]) -> None:
        self._tables: dict[tuple[str, str], DictionaryTranslator] = {}
        for pair in pairs:
            source, target = pair.source, pair.target
            spans = list(_aligned_texts(source, target))
            self._table(source.lang, target.lang)._add(source.text, target.text, spans)
            self._table(target.lang, source.lang)._add(target.text, source.text, [(t, s) for s, t in spans])

    @classmethod
    def from_files(cls, *paths: str | Path) -> PairsTranslator:
        """Load the pairs of one or more parallel JSONL files."""
        return cls(itertools.chain.from_iterable(read_pairs(path) for path in paths))

    def _table(self, source_lang: str, target_lang: str) -> DictionaryTranslator:
        return self._tables.setdefault((source_lang, target_lang), DictionaryTranslator())

    def translate(self, text: str, *, source_lang: str, target_lang: str) -> str | None:
        table = self._tables.get((source_lang, target_lang))
        return table.translate(text, source_lang=source_lang, target_lang=target_lang) if table else None

    def translate_span(self, span: str, *, context: str, source_lang: str, target_lang: str) -> str | None:
        table = self._tables.get((source_lang, target_lang))
        if table is None:
            return None
        return table.translate_span(span, context=context, source_lang=source_lang, target_lang=target_lang)


# ---- span alignment ------------------------------------------------------------------------------
class _Unaligned(Exception):
    """A span has no place in the translation; the instance is dropped for ``reason``."""

    def __init__(self, reason: DropReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


def _occurrences(text: str, needle: str) -> list[int]:
    """Start offsets of every occurrence of ``needle``, overlapping ones included."""
    starts: list[int] = []
    at = text.find(needle)
    while at != -1:
        starts.append(at)
        at = text.find(needle, at + 1)
    return starts


class _SpanAligner:
    """Locates the spans of one source instance in its translation, and counts how."""

    def __init__(self, source: Instance, target_text: str, translator: Translator, target_lang: str) -> None:
        self.source = source
        self.target_text = target_text
        self.translator = translator
        self.target_lang = target_lang
        self.translated = 0
        self.verbatim = 0
        # an argument often repeats an entity's span: ask the translator once per source span
        self._found: dict[tuple[int, int], tuple[int, int, bool]] = {}

    def locate(self, span: Span, missing: DropReason) -> tuple[int, int, str]:
        """Target ``(start, end, text)`` of a source span, or raise ``_Unaligned``."""
        key = (span.start, span.end)
        if key not in self._found:
            self._found[key] = self._find(span, missing)
        start, end, via_translation = self._found[key]
        if via_translation:
            self.translated += 1
        else:
            self.verbatim += 1
        return start, end, self.target_text[start:end]

    def _find(self, span: Span, missing: DropReason) -> tuple[int, int, bool]:
        text = self.source.span_text(span)
        if not text:
            raise _Unaligned(missing)
        source_starts = _occurrences(self.source.text, text)
        rank = source_starts.index(span.start)
        # the first rule whose string occurs decides, even when its occurrences are ambiguous
        for needle, via_translation in ((self._translate_span(text), True), (text, False)):
            target_starts = _occurrences(self.target_text, needle) if needle else []
            if not needle or not target_starts:
                continue
            if len(target_starts) != len(source_starts):
                raise _Unaligned(DropReason.AMBIGUOUS_SPAN)
            start = target_starts[rank]
            return start, start + len(needle), via_translation
        raise _Unaligned(missing)

    def _translate_span(self, text: str) -> str | None:
        if not isinstance(self.translator, SpanTranslator):
            return None
        return self.translator.translate_span(
            text, context=self.source.text, source_lang=self.source.lang, target_lang=self.target_lang
        )

    def entity(self, entity: Entity) -> Entity:
        start, end, text = self.locate(entity, DropReason.ENTITY_NOT_FOUND)
        return Entity(start=start, end=end, text=text, type=entity.type)

    def event(self, event: Event) -> Event:
        start, end, text = self.locate(event.trigger, DropReason.TRIGGER_NOT_FOUND)
        arguments = []
        for argument in event.arguments:
            a_start, a_end, a_text = self.locate(argument, DropReason.ARGUMENT_NOT_FOUND)
            arguments.append(
                Argument(start=a_start, end=a_end, text=a_text, role=argument.role, type=argument.type)
            )
        return Event(type=event.type, trigger=Span(start=start, end=end, text=text), arguments=arguments)


# ---- building ------------------------------------------------------------------------------------
def _target_instance(aligner: _SpanAligner, target_id: str) -> Instance:
    source = aligner.source
    return Instance(
        id=target_id,
        dataset=source.dataset,
        lang=aligner.target_lang,
        text=aligner.target_text,
        entities=None if source.entities is None else [aligner.entity(item) for item in source.entities],
        relations=None if source.relations is None else list(source.relations),
        events=None if source.events is None else [aligner.event(item) for item in source.events],
        split=source.split,
        meta=source.meta,
    )


def build_pairs(
    instances: Iterable[Instance], translator: Translator, *, target_lang: str, id_prefix: str = "parallel"
) -> tuple[Iterator[ParallelPair], BuildReport]:
    """Translate instances into aligned pairs; the report fills in as the iterator is consumed.

    Ids follow the input position ``i``, so a dropped instance shifts nothing: the pair is
    ``{id_prefix}-{i:04d}`` and its target ``{id_prefix}-{target_lang}-{i:04d}``. The source
    instance is kept as it is; the target keeps its dataset, split, meta, types and roles.
    """
    report = BuildReport()

    def pairs() -> Iterator[ParallelPair]:
        for index, source in enumerate(instances):
            report.pairs_read += 1
            if source.lang == target_lang:
                report.drop(DropReason.SAME_LANGUAGE, source.id)
                continue
            text = translator.translate(source.text, source_lang=source.lang, target_lang=target_lang)
            if text is None or not text.strip():
                report.drop(DropReason.SENTENCE_UNTRANSLATED, source.id)
                continue
            aligner = _SpanAligner(source, text, translator, target_lang)
            try:
                target = _target_instance(aligner, f"{id_prefix}-{target_lang}-{index:04d}")
            except _Unaligned as unaligned:
                report.drop(unaligned.reason, source.id)
                continue
            report.pairs_written += 1
            report.spans_translated += aligner.translated
            report.spans_verbatim += aligner.verbatim
            yield ParallelPair(id=f"{id_prefix}-{index:04d}", source=source, target=target)

    return pairs(), report


def build_pairs_file(
    input_jsonl: str | Path,
    output_jsonl: str | Path,
    translator: Translator,
    *,
    target_lang: str,
    id_prefix: str = "parallel",
) -> BuildReport:
    """Build pairs from an instance JSONL file into a parallel JSONL file, written atomically."""
    pairs, report = build_pairs(
        read_instances(input_jsonl), translator, target_lang=target_lang, id_prefix=id_prefix
    )
    write_pairs(output_jsonl, pairs)
    return report
