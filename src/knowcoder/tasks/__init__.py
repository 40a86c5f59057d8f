"""IE tasks in the KnowCoder code format; importing this package registers all of them."""

from knowcoder.tasks import eae, ed, ner, relation  # noqa: F401  (registration side effect)
from knowcoder.tasks.base import TASKS, Allowed, Task, get_task, register_task

# Reports and corpora list tasks in this order, whatever order the modules were imported in.
CANONICAL_ORDER = ("ner", "re", "ed", "eae")
for _name in sorted(
    TASKS, key=lambda n: CANONICAL_ORDER.index(n) if n in CANONICAL_ORDER else len(CANONICAL_ORDER)
):
    TASKS[_name] = TASKS.pop(_name)

__all__ = ["CANONICAL_ORDER", "TASKS", "Allowed", "Task", "get_task", "register_task"]
