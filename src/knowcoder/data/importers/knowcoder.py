"""Released KnowCoder's own SFT / eval records (``sentence``, ``pos``, ``one-stage`` prompts).

One JSON object per line (or one JSON array), as in ICT-GoKnow/KnowCoder's
``sft/data/example_data/example_data.jsonl``: ``sentence`` and one of ``entities``
(``{type, name, pos}``), ``relations`` (``{type, head: {name, type, pos}, tail: ...}``) or
``events`` (``{type, trigger, pos, arguments: [{role, type, name, pos}]}``). ``pos`` is
``[start, end)`` in characters; when empty the name is looked up in the sentence. Types go
through the ontology's aliases (``organization`` -> ``Organization``); ``Entity`` stays the
untyped base. See :mod:`knowcoder.released.data`.
"""

from __future__ import annotations

from collections.abc import Iterator

from knowcoder.data.importers import ImportContext, register_importer
from knowcoder.data.instance import Instance
from knowcoder.data.jsonl import iter_json_records
from knowcoder.errors import ConfigError
from knowcoder.released.data import read_record
from knowcoder.schema.ontology import Kind


@register_importer("knowcoder")
def import_knowcoder(ctx: ImportContext, /, *, setting: str = "zero-shot") -> Iterator[Instance]:
    """Stream released KnowCoder records as canonical instances."""
    if not isinstance(setting, str) or not setting.strip():
        raise ConfigError(f"expected a prompt setting name, got {setting!r}", field="options.setting")
    return _read(ctx, setting)


def _read(ctx: ImportContext, setting: str) -> Iterator[Instance]:
    line = 0

    def resolve(label: str, kind: Kind, field: str) -> str | None:
        return ctx.resolve(label, kind, line=line, field=field)  # the record being read

    for n, (line, record) in enumerate(iter_json_records(ctx.path)):
        ctx.report.records_read += 1
        example = read_record(
            record,
            path=str(ctx.path),
            line=line,
            resolve=resolve,
            instance_id=ctx.instance_id(n, record.get("id"), line=line),
            dataset=ctx.dataset,
            lang=ctx.lang,
            setting=setting,
        )
        yield example.instance
