"""NER scores: ``classification`` (entity type + span text, the headline) and ``identification``
(span text), with a confusion count of gold and predicted types on one span text."""

from __future__ import annotations

from knowcoder.records import EntityRecord
from knowcoder.tasks.base import Level, TaskMetrics

# ``Scorer`` checks each record's class first, so the item functions may read its fields untyped.
METRICS = TaskMetrics(
    EntityRecord,
    (
        Level("classification", lambda e: [(e.type, e.text)], entity_slots=(0,)),
        Level("identification", lambda e: [(e.text,)]),
    ),
    confusion=True,
)
