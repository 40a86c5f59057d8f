"""CoNLL-2003-style column files: one token per line, a blank line between sentences.

Columns are separated by whitespace; the token is the first column and the tag the last
(``token_column`` and ``tag_column`` pick others, so tag-first files such as MIT Movie read
with ``token_column=1 tag_column=0``). ``-DOCSTART-`` lines are skipped. Every token line must
have as many columns as the file's first token line. Lines are decoded one at a time, so a
byte that is not UTF-8 (a GBK file, say) is an error naming its line.

``strip_segmentation=true`` is for Weibo NER's raw files, whose character column carries the
character's position in its word as a trailing digit (``科0``, ``技1``): the digit is removed
so that the text is the characters alone.

Tags follow one of the schemes BIO (= IOB2), IOB1, BIOES or BMES (Resume NER: ``M-`` inside a
multi-character entity, ``E-`` its end, ``S-`` a single character). Decoding follows conlleval
rather than rejecting imperfect sequences, because real corpora contain them: an ``I-`` (or
``E-``) tag that does not continue an entity of the same type starts a new entity, so
``O I-PER`` gives one PER entity and ``B-PER I-LOC`` gives two. Read that way, BIO and IOB1
decode identically; the scheme only decides which prefixes are legal.

The sentence text is the tokens joined by one space, or by nothing for languages written
without spaces (zh, ja, th); character offsets are computed from that join.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from knowcoder.data.importers import ImportContext, register_importer, token_offsets
from knowcoder.data.instance import Entity, Instance
from knowcoder.data.jsonl import numbered_lines
from knowcoder.errors import ConfigError
from knowcoder.schema.ontology import Kind

SCHEMES: dict[str, frozenset[str]] = {
    "BIO": frozenset("BI"),
    "IOB2": frozenset("BI"),
    "IOB1": frozenset("BI"),
    "BIOES": frozenset("BIES"),
    "BMES": frozenset("BMES"),
}
DOCSTART = "-DOCSTART-"


@dataclass(frozen=True)
class TokenRow:
    """One token line of a CoNLL file."""

    line: int
    token: str
    tag: str


@dataclass(frozen=True)
class TaggedSpan:
    """An entity decoded from tags: tokens ``[start, end)``, the dataset label, its first line."""

    start: int
    end: int
    label: str
    line: int


@register_importer("conll")
def import_conll(
    ctx: ImportContext,
    /,
    *,
    scheme: str = "BIO",
    tag_column: int = -1,
    token_column: int = 0,
    strip_segmentation: bool = False,
) -> Iterator[Instance]:
    """Stream a CoNLL column file as NER instances (entities only)."""
    if not isinstance(scheme, str) or scheme.upper() not in SCHEMES:
        raise ConfigError(
            f"unknown tag scheme {scheme!r}; choose one of {', '.join(SCHEMES)}",
            field="options.scheme",
        )
    for name, value in (("tag_column", tag_column), ("token_column", token_column)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(
                f"expected a column index (0-based, negative counts from the end), got {value!r}",
                field=f"options.{name}",
            )
    if not isinstance(strip_segmentation, bool):
        raise ConfigError(
            f"expected true or false, got {strip_segmentation!r}", field="options.strip_segmentation"
        )
    columns = _Columns(token=token_column, tag=tag_column, strip_segmentation=strip_segmentation)
    return _read(ctx, SCHEMES[scheme.upper()], columns)


@dataclass(frozen=True)
class _Columns:
    token: int
    tag: int
    strip_segmentation: bool


def _read(ctx: ImportContext, prefixes: frozenset[str], columns: _Columns) -> Iterator[Instance]:
    for n, rows in enumerate(_sentences(ctx, columns)):
        ctx.report.records_read += 1
        tokens = [row.token for row in rows]
        text, offsets = token_offsets(tokens, None, ctx, line=rows[0].line, field="token")
        entities: list[Entity] = []
        for span in decode_tags(ctx, rows, prefixes):
            name = ctx.resolve(span.label, Kind.ENTITY, line=span.line, field="tag")
            if name is not None:
                start, end = offsets[span.start][0], offsets[span.end - 1][1]
                entities.append(Entity(start=start, end=end, type=name))
        yield Instance(
            id=ctx.instance_id(n, None, line=rows[0].line),
            dataset=ctx.dataset,
            lang=ctx.lang,
            text=text,
            entities=entities,
        )


def _sentences(ctx: ImportContext, spec: _Columns) -> Iterator[list[TokenRow]]:
    """Yield the token rows of each sentence, checking that every line has the same columns."""
    width: int | None = None
    first_line = 0
    tag_index = token_index = 0
    rows: list[TokenRow] = []
    for lineno, raw in numbered_lines(ctx.path):
        columns = raw.split()
        if not columns or DOCSTART in columns:
            # a document boundary also ends a sentence, even without a blank line before it
            if rows:
                yield rows
                rows = []
            continue
        if width is None:
            width, first_line = len(columns), lineno
            tag_index = _tag_index(ctx, width, spec.tag, lineno)
            token_index = _token_index(ctx, width, spec.token, tag_index, lineno)
        elif len(columns) != width:
            raise ctx.error(
                f"found {len(columns)} columns, but the first token line "
                f"({first_line}) has {width}; every token line needs the same columns",
                line=lineno,
                field="columns",
            )
        token = columns[token_index]
        if spec.strip_segmentation:
            token = _strip_segmentation(ctx, token, lineno)
        rows.append(TokenRow(line=lineno, token=token, tag=columns[tag_index]))
    if rows:
        yield rows


def _tag_index(ctx: ImportContext, width: int, tag_column: int, line: int) -> int:
    if width < 2:
        raise ctx.error(
            "a token line needs at least two columns: the token and its tag",
            line=line,
            field="columns",
        )
    if not -width <= tag_column < width:
        raise ctx.error(
            f"tag_column {tag_column} is outside this {width}-column file",
            line=line,
            field="columns",
        )
    return tag_column % width


def _token_index(ctx: ImportContext, width: int, token_column: int, tag_index: int, line: int) -> int:
    if not -width <= token_column < width:
        raise ctx.error(
            f"token_column {token_column} is outside this {width}-column file", line=line, field="columns"
        )
    if token_column % width == tag_index:
        raise ctx.error(
            f"token_column and tag_column both name column {tag_index}; set them apart "
            "(--option token_column=N --option tag_column=M)",
            line=line,
            field="columns",
        )
    return token_column % width


def _strip_segmentation(ctx: ImportContext, token: str, line: int) -> str:
    """``科0`` -> ``科``: Weibo's raw files end each character with its position in its word."""
    stripped = token.rstrip("0123456789")
    if not stripped or len(token) - len(stripped) != 1:
        raise ctx.error(
            f"token {token!r} does not end in one segmentation digit; strip_segmentation is for "
            "Weibo NER's raw files (characters like 科0)",
            line=line,
            field="token",
        )
    return stripped


def decode_tags(ctx: ImportContext, rows: list[TokenRow], prefixes: frozenset[str]) -> list[TaggedSpan]:
    """Entities of one sentence, decoded the conlleval way (see the module docstring)."""
    spans: list[TaggedSpan] = []
    open_span: tuple[int, str, int] | None = None  # (start token, label, line) in progress

    def close(end: int) -> None:
        nonlocal open_span
        if open_span is not None:
            start, label, line = open_span
            spans.append(TaggedSpan(start, end, label, line))
            open_span = None

    for index, row in enumerate(rows):
        if row.tag == "O":
            close(index)
            continue
        prefix, _, label = row.tag.partition("-")
        if prefix not in prefixes or not label:
            legal = ", ".join(f"{p}-<type>" for p in sorted(prefixes))
            raise ctx.error(
                f"tag {row.tag!r} is not O or one of {legal} for this scheme",
                line=row.line,
                field="tag",
            )
        continues = open_span is not None and open_span[1] == label
        if prefix in "BS" or not continues:
            close(index)
            open_span = (index, label, row.line)
        if prefix in "ES":
            close(index + 1)
    close(len(rows))
    return spans
