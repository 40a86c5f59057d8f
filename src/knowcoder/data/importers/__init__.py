"""Dataset importers: a registry of formats, each streaming canonical ``Instance`` objects.

An importer is a function ``(context, **options) -> Iterator[Instance]`` registered under a
format name with ``@register_importer(name)``. It checks its options when called and reads
the file lazily, one record at a time, so files of any size stream. Callers use
``import_dataset``; the ``ImportReport`` it returns is filled in as the iterator is consumed.

Label mapping is shared by every format: a dataset label goes through
``Ontology.resolve_label`` and must land on a class of the expected kind (entity, relation
or event). An unmapped label is a ``LabelError`` unless the caller passes
``drop_unmapped=True`` (``--drop-unmapped``), in which case the mention is dropped and counted
per label. A relation alias marked ``swap: true`` reverses head and tail (``ctx.relation``).
An alias written ``<kind>:<label>`` (``entity:气候``) is tried first for that kind, for datasets
that use one label for classes of two kinds.

Event roles go through ``Ontology.resolve_role``: the declared role whose name matches ignoring
case and treating spaces, ``-`` and ``_`` alike, or whose aliases for the dataset name it. A
role that matches none is kept exactly as the dataset writes it, so that undeclared roles stay
visible to validation instead of vanishing.

Before reading, ``import_dataset`` sniffs the file (``sniff.sniff_format``): a file that
plainly is another registered format is refused with "looks like X" instead of being read as
empty annotations.
"""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from knowcoder.data.instance import Entity, Instance
from knowcoder.errors import ConfigError, DataFormatError, LabelError
from knowcoder.schema.ontology import Kind, Ontology

# Languages written without spaces between words: tokens join with "" and export per character.
UNSPACED_LANGUAGES = frozenset({"zh", "ja", "th"})


def token_separator(lang: str) -> str:
    """The string that joins the tokens of a sentence in ``lang`` (``zh-CN`` counts as ``zh``)."""
    base = lang.replace("_", "-").split("-")[0].casefold()
    return "" if base in UNSPACED_LANGUAGES else " "


@dataclass
class ImportReport:
    """What one import read, wrote and dropped; final once its instance iterator is exhausted."""

    path: str
    format: str
    records_read: int = 0
    instances_written: int = 0
    # dataset label as written -> mentions dropped because it maps to no class (drop_unmapped)
    dropped: Counter[str] = field(default_factory=Counter)
    # relations dropped because an entity they connect was dropped for its label
    dropped_orphans: int = 0
    # mentions dropped because their text does not occur in the sentence (on request)
    dropped_spans: int = 0

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary, e.g. for run logs."""
        return {
            "path": self.path,
            "format": self.format,
            "records_read": self.records_read,
            "instances_written": self.instances_written,
            "dropped": dict(sorted(self.dropped.items())),
            "dropped_total": self.dropped_total,
            "dropped_orphans": self.dropped_orphans,
            "dropped_spans": self.dropped_spans,
        }


@dataclass
class ImportContext:
    """What every importer needs besides its own options: the file, the ontology, the report."""

    path: Path
    ontology: Ontology
    dataset: str
    lang: str
    report: ImportReport
    drop_unmapped: bool = False
    language_checked: bool = False

    def error(self, message: str, *, line: int | None, field: str | None) -> DataFormatError:
        return DataFormatError(message, path=self.path, line=line, field=field)

    def instance_id(self, n: int, given: object, *, line: int, field: str = "id") -> str:
        """The record's own id when it has one, else ``{dataset}-{lang}-{n:06d}``."""
        if given is None:
            return f"{self.dataset}-{self.lang}-{n:06d}"
        if isinstance(given, bool) or not isinstance(given, (str, int)) or not str(given).strip():
            raise self.error(
                f"expected a non-empty string or integer id, got {given!r}", line=line, field=field
            )
        return str(given)

    def resolve(self, label: object, kind: Kind, *, line: int | None, field: str) -> str | None:
        """The ontology class of a dataset label, or ``None`` when it is dropped as unmapped."""
        if not isinstance(label, str) or not label.strip():
            raise self.error(f"expected a non-empty label, got {label!r}", line=line, field=field)
        # a dataset that gives one label to classes of two kinds (DuIE's 气候 is a type and a
        # predicate) writes one alias kind-qualified, ``entity:气候``; that spelling wins
        name = self.ontology.resolve_label(f"{kind.value}:{label}", self.dataset)
        if name is None:
            name = self.ontology.resolve_label(label, self.dataset)
        found_kind = self.ontology.kind_of(name) if name is not None else None
        if found_kind == kind:
            return name
        if self.drop_unmapped:
            self.report.dropped[label] += 1
            return None
        other = f" (it names {found_kind.value} class {name!r})" if found_kind else ""
        raise LabelError(
            f"label {label!r} maps to no {kind.value} class of ontology "
            f"{self.ontology.name!r}{other}; add it to a class's aliases for dataset "
            f"{self.dataset!r} (or '*'), or import with --drop-unmapped",
            path=self.path,
            line=line,
            field=field,
        )

    def relation(self, label: object, *, line: int | None, field: str) -> tuple[str | None, bool]:
        """``(relation class or None when dropped, whether its alias swaps head and tail)``."""
        name = self.resolve(label, Kind.RELATION, line=line, field=field)
        swap = name is not None and self.ontology.relation_swapped(str(label), self.dataset)
        return name, swap

    def role(self, event: str, role: object, *, line: int | None, field: str) -> str:
        """The declared role a dataset's role label names (by spelling or alias), else ``role``."""
        if not isinstance(role, str) or not role.strip():
            raise self.error(f"expected a non-empty role, got {role!r}", line=line, field=field)
        return self.ontology.resolve_role(event, role, self.dataset) or role

    def check_language(self, text: str, *, line: int, field: str) -> None:
        """Refuse a --lang that contradicts the script of the first sentence with enough letters.

        Token joining depends on the language, so a wrong code silently puts spaces between
        Chinese characters (or glues English words); one look at the first sentence catches it.
        """
        if self.language_checked:
            return
        letters = [c for c in text if c.isalpha()]
        if len(letters) < 4:
            return
        self.language_checked = True
        unspaced = sum(1 for c in letters if _is_unspaced_script(c)) / len(letters)
        spaced_lang = token_separator(self.lang) == " "
        if spaced_lang and unspaced > 0.5:
            raise self.error(
                f"--lang {self.lang!r} joins tokens with spaces, but this text is mostly Chinese, "
                f"Japanese or Thai characters ({text[:20]!r}...); pass --lang zh (or ja, th)",
                line=line,
                field=field,
            )
        if not spaced_lang and unspaced < 0.1:
            raise self.error(
                f"--lang {self.lang!r} joins tokens without spaces, but this text has almost no "
                f"Chinese, Japanese or Thai characters ({text[:20]!r}...); pass its real language "
                "code, e.g. --lang en",
                line=line,
                field=field,
            )


def _is_unspaced_script(char: str) -> bool:
    code = ord(char)
    return (
        0x3040 <= code <= 0x30FF  # kana
        or 0x3400 <= code <= 0x9FFF  # CJK ideographs
        or 0xF900 <= code <= 0xFAFF
        or 0x20000 <= code <= 0x2FFFF
        or 0x0E00 <= code <= 0x0E7F  # Thai
    )


# ---- field access shared by the JSON formats -------------------------------------------------

_TYPE_NAMES = {str: "a string", int: "an integer", list: "a list", dict: "an object"}


def expect(value: Any, expected: type, ctx: ImportContext, *, line: int, field: str) -> Any:
    """Return ``value`` if it has the JSON type ``expected`` (booleans are not integers)."""
    if isinstance(value, expected) and not (expected is int and isinstance(value, bool)):
        return value
    raise ctx.error(
        f"expected {_TYPE_NAMES.get(expected, expected.__name__)}, got {value!r}",
        line=line,
        field=field,
    )


def take(
    record: Mapping[str, Any],
    key: str,
    expected: type,
    ctx: ImportContext,
    *,
    line: int,
    field: str,
    optional: bool = False,
) -> Any:
    """``record[key]`` checked against ``expected``; ``None`` when optional and absent or null."""
    value = record.get(key)
    if value is None:
        if optional:
            return None
        raise ctx.error("missing required field", line=line, field=field)
    return expect(value, expected, ctx, line=line, field=field)


def token_offsets(
    tokens: Sequence[str], text: str | None, ctx: ImportContext, *, line: int, field: str
) -> tuple[str, list[tuple[int, int]]]:
    """The sentence text and each token's character span.

    With ``text``, tokens are found in it in order, only whitespace between them, so a
    tokenisation that does not match the text is an error rather than shifted offsets.
    Without it, the text is the tokens joined by the language's separator.
    """
    spans: list[tuple[int, int]] = []
    for index, token in enumerate(tokens):
        if not isinstance(token, str) or not token.strip():
            raise ctx.error(
                f"expected a non-empty token string, got {token!r}", line=line, field=f"{field}[{index}]"
            )
    if text is None:
        ctx.check_language("".join(tokens), line=line, field=field)
        separator = token_separator(ctx.lang)
        cursor = 0
        for token in tokens:
            spans.append((cursor, cursor + len(token)))
            cursor += len(token) + len(separator)
        return separator.join(tokens), spans
    cursor = 0
    for index, token in enumerate(tokens):
        start = text.find(token, cursor)
        if start < 0 or text[cursor:start].strip():
            raise ctx.error(
                f"token {token!r} does not follow the previous token in the text "
                f"(looked from character {cursor}); tokens and text disagree",
                line=line,
                field=f"{field}[{index}]",
            )
        cursor = start + len(token)
        spans.append((start, cursor))
    return text, spans


def check_span_text(ctx: ImportContext, given: object, actual: str, *, line: int, field: str) -> None:
    """Fail when a record's own ``text`` of a span disagrees with the text its offsets cover."""
    if given is None:
        return
    expect(given, str, ctx, line=line, field=field)
    # datasets re-join tokens with or without spaces, so only non-space characters must agree
    if "".join(str(given).split()) != "".join(actual.split()):
        raise ctx.error(f"says {given!r} but its offsets cover {actual!r}", line=line, field=field)


def entity_index(entities: list[Entity], start: int, end: int, type_: str) -> int:
    """Index of the entity with this span and type, appending it when the list lacks it."""
    for index, entity in enumerate(entities):
        if (entity.start, entity.end, entity.type) == (start, end, type_):
            return index
    entities.append(Entity(start=start, end=end, type=type_))
    return len(entities) - 1


# ---- registry ----------------------------------------------------------------------------------


class Importer(Protocol):
    """Checks its keyword options when called, then streams the file's instances lazily."""

    def __call__(self, ctx: ImportContext, /, **options: Any) -> Iterator[Instance]: ...


IMPORTERS: dict[str, Importer] = {}

_F = TypeVar("_F", bound=Callable[..., Iterator[Instance]])


def register_importer(name: str) -> Callable[[_F], _F]:
    """Register an importer function under a format name."""

    def decorate(function: _F) -> _F:
        if name in IMPORTERS:
            raise ValueError(f"import format {name!r} is already registered")
        IMPORTERS[name] = function
        return function

    return decorate


def importer_options(fmt: str) -> dict[str, Any]:
    """The keyword options a registered format accepts, with their defaults."""
    parameters = inspect.signature(IMPORTERS[fmt]).parameters.values()
    return {p.name: p.default for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}


def import_dataset(
    fmt: str,
    path: str | Path,
    *,
    ontology: Ontology,
    dataset: str,
    lang: str,
    drop_unmapped: bool = False,
    split: str | None = None,
    sniff: bool = True,
    **options: Any,
) -> tuple[Iterator[Instance], ImportReport]:
    """Stream a dataset file in format ``fmt`` as canonical instances, with a report of the import.

    ``split`` sets every instance's split; ``sniff=False`` skips the check that the file is
    not plainly another format.
    """
    importer = IMPORTERS.get(fmt)
    if importer is None:
        known = ", ".join(sorted(IMPORTERS))
        raise ConfigError(f"unknown import format {fmt!r}; known formats: {known}", field="format")
    allowed = importer_options(fmt)
    for name in options:
        if name not in allowed:
            choices = ", ".join(sorted(allowed)) or "none"
            raise ConfigError(
                f"format {fmt!r} has no option {name!r}; its options: {choices}",
                field=f"options.{name}",
            )
    for name, value in (("dataset", dataset), ("lang", lang)):
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"expected a non-empty name, got {value!r}", field=name)
    if split is not None and (not isinstance(split, str) or not split.strip()):
        raise ConfigError(f"expected a non-empty split name, got {split!r}", field="split")
    path = Path(path)
    if not path.is_file():
        raise DataFormatError("no such file; check the path", path=path)
    if sniff:
        refuse_other_format(path, fmt)
    report = ImportReport(path=str(path), format=fmt)
    ctx = ImportContext(
        path=path,
        ontology=ontology,
        dataset=dataset,
        lang=lang,
        report=report,
        drop_unmapped=drop_unmapped,
    )
    return _counted(importer(ctx, **options), report, split), report


def _counted(instances: Iterator[Instance], report: ImportReport, split: str | None) -> Iterator[Instance]:
    try:
        for instance in instances:
            report.instances_written += 1
            yield instance if split is None else instance.model_copy(update={"split": split})
    except UnicodeDecodeError as error:
        # text files are decoded in blocks, so the failing line number is not known exactly
        raise DataFormatError(
            f"not valid UTF-8 ({error.reason} in a block read after record "
            f"{report.records_read}); re-encode the file as UTF-8",
            path=report.path,
            field="<encoding>",
        ) from error


# The built-in formats register themselves on import; they need the helpers defined above.
from knowcoder.data.importers import (  # noqa: E402  # noqa: E402
    conll,
    duee,
    duie,
    dygiepp,
    iepile,
    instructie,
    instruction,
    knowcoder,  # noqa: F401  (released KnowCoder data)
    uie,
    universalner,
)
from knowcoder.data.importers.sniff import refuse_other_format, sniff_format  # noqa: E402

__all__ = [
    "IMPORTERS",
    "UNSPACED_LANGUAGES",
    "ImportContext",
    "ImportReport",
    "Importer",
    "conll",
    "duee",
    "duie",
    "dygiepp",
    "iepile",
    "import_dataset",
    "importer_options",
    "instructie",
    "instruction",
    "refuse_other_format",
    "register_importer",
    "sniff_format",
    "token_separator",
    "uie",
    "universalner",
]
