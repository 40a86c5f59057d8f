"""ED scores: ``classification`` (event type + trigger text, the headline) and ``identification``
(trigger text)."""

from __future__ import annotations

from knowcoder.records import TriggerRecord
from knowcoder.tasks.base import Level, TaskMetrics

# ``Scorer`` checks each record's class first, so the item functions may read its fields untyped.
METRICS = TaskMetrics(
    TriggerRecord,
    (
        Level("classification", lambda t: [(t.type, t.trigger)]),
        Level("identification", lambda t: [(t.trigger,)]),
    ),
)
