"""Named entity recognition: ``results = [Person("Ada Park"), Organization("Acme Corp")]``."""

from knowcoder.tasks.base import register_task
from knowcoder.tasks.ner.task import NamedEntityRecognition

NER = register_task(NamedEntityRecognition())

__all__ = ["NER", "NamedEntityRecognition"]
