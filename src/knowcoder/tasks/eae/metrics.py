"""EAE scores, one item per argument: ``classification`` (event type + trigger + role + argument
text, the headline) and ``identification`` (event type + trigger + argument text)."""

from __future__ import annotations

from knowcoder.records import EventRecord
from knowcoder.tasks.base import Level, TaskMetrics

# ``Scorer`` checks each record's class first, so the item functions may read its fields untyped.
METRICS = TaskMetrics(
    EventRecord,
    (
        Level("classification", lambda e: [(e.type, e.trigger, a.role, a.text) for a in e.arguments]),
        Level("identification", lambda e: [(e.type, e.trigger, a.text) for a in e.arguments]),
    ),
)
