"""Event argument extraction: ``results = [Attack(trigger="fired", attacker=[Person("rebels")])]``."""

from knowcoder.tasks.base import register_task
from knowcoder.tasks.eae.task import EventArgumentExtraction, sort_arguments

EAE = register_task(EventArgumentExtraction())

__all__ = ["EAE", "EventArgumentExtraction", "sort_arguments"]
