"""Relation extraction (task ``re``): ``results = [Employment(Person("Ada"), Organization("Acme"))]``.

The folder is called ``relation`` rather than ``re`` so that it never stands in for the
standard library's ``re``.
"""

from knowcoder.tasks.base import register_task
from knowcoder.tasks.relation.task import RelationExtraction

RE = register_task(RelationExtraction())

__all__ = ["RE", "RelationExtraction"]
