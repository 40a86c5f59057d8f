"""IE tasks in the KnowCoder code format; importing this package registers all of them.

Each task lives in one folder with the same files::

    tasks/<folder>/
        __init__.py   registers the task: ``NER = register_task(NamedEntityRecognition())``
        task.py       the ``Task`` subclass: its name, kinds, instructions, which classes its
                      prompts define, gold records of an instance, one record as code, one parsed
                      ``ast.Call`` back to a record, a stored dict back to a record, and the hooks
                      the rest of the package asks (see ``knowcoder.tasks.base.Task``)
        metrics.py    ``METRICS``: the record class it scores and its levels, headline first

The folders are ``ner``, ``relation`` (task ``re``), ``ed`` and ``eae``. Adding a task means
one new folder and one import line below; no other module names tasks. A task defined
elsewhere (a plugin, a test) only needs ``register_task``.
"""

from knowcoder.tasks import eae, ed, ner, relation  # noqa: F401  (registration side effect)
from knowcoder.tasks.base import TASKS, Allowed, Level, Task, TaskMetrics, TaskView, get_task, register_task

# Reports and corpora list tasks in this order, whatever order the modules were imported in.
CANONICAL_ORDER = ("ner", "re", "ed", "eae")
for _name in sorted(
    TASKS, key=lambda n: CANONICAL_ORDER.index(n) if n in CANONICAL_ORDER else len(CANONICAL_ORDER)
):
    TASKS[_name] = TASKS.pop(_name)

__all__ = [
    "CANONICAL_ORDER",
    "TASKS",
    "Allowed",
    "Level",
    "Task",
    "TaskMetrics",
    "TaskView",
    "get_task",
    "register_task",
]
