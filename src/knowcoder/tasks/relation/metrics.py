"""RE scores: ``strict`` (relation type + head type/text + tail type/text, the headline) and
``boundary`` (relation type + head text + tail text; entity types ignored)."""

from __future__ import annotations

from knowcoder.evaluation.matching import Item
from knowcoder.records import EntityRecord, RelationRecord
from knowcoder.tasks.base import Level, TaskMetrics


def _pair(entity: EntityRecord) -> Item:
    return (entity.type, entity.text)


# ``Scorer`` checks each record's class first, so the item functions may read its fields untyped.
METRICS = TaskMetrics(
    RelationRecord,
    (
        Level("strict", lambda r: [(r.type, *_pair(r.head), *_pair(r.tail))], entity_slots=(1, 3)),
        Level("boundary", lambda r: [(r.type, r.head.text, r.tail.text)]),
    ),
)
