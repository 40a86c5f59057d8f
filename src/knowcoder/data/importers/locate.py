"""Placing mentions given only as text: the formats that carry no offsets share this.

A mention takes the first occurrence that no earlier mention of the same group (one label's
entities, say) already took. In languages written with spaces an occurrence on word
boundaries wins over one inside a word, so ``Al`` does not land inside ``Alcoa``. Text that
cannot be placed is an error, or, with ``drop_unlocated``, ``None`` and counted in the report.
"""

from __future__ import annotations

from knowcoder.data.importers import ImportContext, expect, token_separator


class SpanLocator:
    """Finds mention text in one sentence, remembering which occurrences are taken."""

    def __init__(self, ctx: ImportContext, text: str, *, line: int, drop_unlocated: bool) -> None:
        self.ctx, self.text, self.line, self.drop_unlocated = ctx, text, line, drop_unlocated
        self.spaced = token_separator(ctx.lang) == " "
        self.used: dict[str, set[tuple[int, int]]] = {}

    def find(self, mention: str) -> tuple[int, int] | None:
        """The first occurrence of ``mention`` regardless of use (for reusing an entity)."""
        start = self.text.find(mention)
        return None if start < 0 else (start, start + len(mention))

    def locate(self, raw: object, group: str, field: str) -> tuple[int, int] | None:
        """The first free occurrence of ``raw`` for ``group``; ``None`` if dropped as unlocated."""
        mention: str = expect(raw, str, self.ctx, line=self.line, field=field)
        if not mention.strip():
            raise self.ctx.error("expected non-empty mention text", line=self.line, field=field)
        used = self.used.setdefault(group, set())
        found = []
        start = self.text.find(mention)
        while start >= 0:
            if (start, start + len(mention)) not in used:
                found.append((start, start + len(mention)))
            start = self.text.find(mention, start + 1)
        if self.spaced:
            found.sort(key=lambda span: not self._on_word_boundaries(*span))  # stable: keeps order
        if found:
            used.add(found[0])
            return found[0]
        if self.drop_unlocated:
            self.ctx.report.dropped_spans += 1
            return None
        taken = self.text.count(mention)
        why = (
            f"each of its {taken} occurrence(s) is already taken by an earlier item"
            if taken
            else "it does not occur in the text"
        )
        raise self.ctx.error(
            f"cannot place {mention!r}: {why}; fix the record or import with --option drop_unlocated=true",
            line=self.line,
            field=field,
        )

    def _on_word_boundaries(self, start: int, end: int) -> bool:
        text = self.text
        before = start == 0 or not (text[start - 1].isalnum() and text[start].isalnum())
        after = end == len(text) or not (text[end].isalnum() and text[end - 1].isalnum())
        return before and after


def check_drop_unlocated(value: object) -> bool:
    """Validate the shared ``drop_unlocated`` option."""
    from knowcoder.errors import ConfigError

    if not isinstance(value, bool):
        raise ConfigError(f"expected true or false, got {value!r}", field="options.drop_unlocated")
    return value
