"""Prompts and targets in the KnowCoder layout.

A prompt is the system text, then ``Input:``, the query and ``Output:``; the query is the class
definitions, the instruction in a triple-quoted string, and ``sentence = "..."``. The target
is ``results = [...]``.

Styles: ``knowcoder`` (the project's own), ``released`` (the prompts of released KnowCoder's
shipped SFT data, byte for byte) and ``released-template`` (its ``generate_prompt.py``
templates, byte for byte); see :mod:`knowcoder.released.render`. The released styles are the
release: the system wrapper is always on, the sentence goes in raw, classes keep the caller's
order without added ancestors, descriptions and examples are all shown, and targets put one
object per tabbed line. ``ed_mapping`` (the release's ``mapping.json``) turns fine event
types into the coarse ones its ED prompts and answers use.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from knowcoder.data.instance import Instance
from knowcoder.records import EventRecord, Record, TriggerRecord
from knowcoder.released import render as released
from knowcoder.schema.literals import py_str
from knowcoder.schema.ontology import Kind, Ontology
from knowcoder.schema.render import SchemaOptions, render_schema
from knowcoder.tasks import get_task
from knowcoder.tasks.base import Allowed, Task

SYSTEM_PROMPT = (
    "You are a highly skilled assistant at digesting and extracting information from textual "
    "content. Below is an input containing standard type definitions and textual content. "
    "Please complete it with the extracted information in the form of structured code."
)


@dataclass(frozen=True)
class PromptOptions:
    """How prompts look; every field maps to a key under ``prompt:`` in params.yaml."""

    style: str = "knowcoder"  # "knowcoder", "released" or "released-template"
    lang: str = "en"  # language of class descriptions and examples
    descriptions: bool = True
    max_examples: int = 3
    system: bool = True  # prepend the system text and the Input:/Output: wrapper
    dataset_hint: bool = False  # "For DATASET X, ..." when several datasets label alike concepts differently
    trigger_hints: bool = True  # EAE: name the given triggers in the instruction
    class_order: str = "ontology"  # or "given": keep the caller's (e.g. shuffled) order

    def schema_options(self) -> SchemaOptions:
        return SchemaOptions(self.style, self.lang, self.descriptions, self.max_examples, self.class_order)


def wrap_prompt(query: str, system: str | None = SYSTEM_PROMPT) -> str:
    """The released wrapper: system text, newline, ``Input:\\n{query}\\nOutput:\\n``."""
    body = f"Input:\n{query}\nOutput:\n"
    return f"{system}\n{body}" if system else body


def render_results(
    records: Iterable[Record], task: str | Task, ontology: Ontology | None = None, *, style: str = "knowcoder"
) -> str:
    """``results = [...]`` for ``records``: one line, or one object per tabbed line when released."""
    task = get_task(task)
    objects = [task.render_record(record, ontology, style=style) for record in records]
    if not objects:
        return "results = []"
    if style in released.FORMATS:
        return "results = [\n" + ",\n".join(f"\t{o}" for o in objects) + "\n]"
    return f"results = [{', '.join(objects)}]"


class PromptBuilder:
    """Builds prompts and targets against one ontology, caching the schema of each type set."""

    def __init__(
        self,
        ontology: Ontology,
        options: PromptOptions | None = None,
        *,
        cache_size: int = 4096,
        ed_mapping: Mapping[str, str] | None = None,
    ):
        self.ontology = ontology
        self.options = options or PromptOptions()
        self.ed_mapping = dict(ed_mapping or {})
        self._released = released.FORMATS.get(self.options.style)
        self._schema_options = self.options.schema_options()
        self._cache: dict[tuple[str, tuple[str, ...]], str] = {}
        self._class_memo: dict = {}  # class text by (class, task, options); bounded by the ontology
        self._cache_size = cache_size

    def schema(self, task: str | Task, types: Sequence[str]) -> str:
        """Class definitions for ``types`` (and what the task needs alongside them)."""
        task = get_task(task)
        key = (task.name, tuple(types))
        code = self._cache.get(key)
        if code is None:
            # the release's classes are exactly those asked for, in that order
            names = self._mapped(task, types) if self._released else task.schema_types(types, self.ontology)
            code = render_schema(self.ontology, names, task.name, self._schema_options, memo=self._class_memo)
            if len(self._cache) >= self._cache_size:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = code
        return code

    def _mapped(self, task: Task, types: Iterable[str]) -> list[str]:
        """ED types through the release's fine -> coarse mapping (duplicates kept, as it does)."""
        if not task.uses_ed_mapping or not self.ed_mapping:
            return list(types)
        return [self.ed_mapping.get(name, name) for name in types]

    def instruction(self, task: Task, *, dataset: str | None = None, given: Iterable[Record] = ()) -> str:
        text = released.instruction(task.name, self._released) if self._released else task.instruction
        if self.options.dataset_hint and dataset:
            text = f"For DATASET {dataset}, {text[0].lower()}{text[1:]}"
        if self._released == "docstring" and task.given_by:
            text += released.trigger_hint((r.trigger, r.type) for r in given if isinstance(r, EventRecord))
        elif self.options.trigger_hints and not self._released:
            hints = task.trigger_hints(given)
            if hints:
                text = f"{text} {hints}"
        return text

    def query(
        self,
        sentence: str,
        task: str | Task,
        types: Sequence[str],
        *,
        dataset: str | None = None,
        given: Iterable[Record] = (),
    ) -> str:
        task = get_task(task)
        instruction = self.instruction(task, dataset=dataset, given=given)
        if self._released:
            return released.query(self.schema(task, types), instruction, sentence, self._released)
        return f'{self.schema(task, types)}\n\n"""\n{instruction}\n"""\nsentence = {py_str(sentence)}'

    def prompt(
        self,
        sentence: str,
        task: str | Task,
        types: Sequence[str],
        *,
        dataset: str | None = None,
        given: Iterable[Record] = (),
    ) -> str:
        """The full model input, ending in ``Output:\\n`` where the model starts writing."""
        query = self.query(sentence, task, types, dataset=dataset, given=given)
        # the released checkpoints always saw the system text: the released styles keep it
        system = self.options.system or bool(self._released)
        return wrap_prompt(query, SYSTEM_PROMPT if system else None)

    def target(self, records: Iterable[Record], task: str | Task) -> str:
        task = get_task(task)
        if task.uses_ed_mapping and self.ed_mapping:
            records = [
                TriggerRecord(self.ed_mapping.get(r.type, r.type), r.trigger)
                if isinstance(r, TriggerRecord)
                else r
                for r in records
            ]
        return render_results(records, task, self.ontology, style=self.options.style)

    def example(
        self, instance: Instance, task: str | Task, types: Sequence[str] | None = None
    ) -> tuple[str, str]:
        """(prompt, target) for one annotated instance; ``types`` defaults to its positive types."""
        task = get_task(task)
        gold = task.gold_records(instance, self.ontology)
        if gold is None:
            raise ValueError(f"instance {instance.id!r} has no {task.name} annotation")
        if types is None:
            types = task.positive_types(instance)
        prompt = self.prompt(instance.text, task, types, dataset=instance.dataset, given=gold)
        return prompt, self.target(gold, task)

    def allowed(self, task: str | Task, types: Sequence[str], sentence: str | None = None) -> Allowed:
        """What a model answering ``prompt(sentence, task, types)`` may write."""
        task = get_task(task)
        names = self.ontology.with_types(task.schema_types(self._mapped(task, types), self.ontology))
        own = frozenset(n for n in names if self.ontology[n].kind == task.kind)
        entities = frozenset(n for n in names if self.ontology[n].kind == Kind.ENTITY)
        roles = {
            n: frozenset(role.name for role in self.ontology.roles(n))
            for n in own
            if task.call_shape == "event"
        }
        return Allowed(
            types=own,
            entity_types=entities | {"Entity"},
            roles=roles if task.call_shape == "event" else None,
            sentence=sentence,
        )
