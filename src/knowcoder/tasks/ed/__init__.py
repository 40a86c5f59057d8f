"""Event detection: ``results = [Attack("fired")]``."""

from knowcoder.tasks.base import register_task
from knowcoder.tasks.ed.task import EventDetection

ED = register_task(EventDetection())

__all__ = ["ED", "EventDetection"]
