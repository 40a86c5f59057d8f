"""Cross-lingual alignment data: KnowCoder-X's translated instance prediction.

Input: the classes, a sentence in one language with its results, and the translation of that
sentence; output: the results in the translation's language. Each parallel pair gives one
example per direction. The alignment corpus is mixed with schema-following examples so the
model keeps following instructions while it aligns languages.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

from knowcoder.corpus.sft import CorpusReport, InstructionExample
from knowcoder.data.instance import Instance
from knowcoder.data.parallel import ParallelPair
from knowcoder.prompts import SYSTEM_PROMPT, PromptBuilder, wrap_prompt
from knowcoder.schema.literals import py_str
from knowcoder.tasks import TASKS, Task

T = TypeVar("T")


def alignment_instruction(task: Task) -> str:
    word = task.kind.base_class  # Entity, Relation or Event
    return (
        f"This is an object-oriented programming task: some {word} Classes are defined above. "
        f"The {word} Objects of the source sentence are given in source_results. Please instantiate all "
        f"the corresponding {word} Objects in the following sentence, its translation."
    )


def alignment_example(
    source: Instance, target: Instance, task: Task, builder: PromptBuilder, *, pair_id: str
) -> InstructionExample | None:
    """One translated-instance-prediction example, or ``None`` when the task is not annotated."""
    ontology = builder.ontology
    source_records = task.gold_records(source, ontology)
    target_records = task.gold_records(target, ontology)
    if source_records is None or target_records is None:
        return None
    types = task.positive_types(target) or task.positive_types(source)
    if not types:
        return None
    query = (
        f"{builder.schema(task, types)}\n\n"
        f'"""\n{alignment_instruction(task)}\n"""\n'
        f"source_sentence = {py_str(source.text)}\n"
        f"source_{builder.target(source_records, task)}\n"
        f"sentence = {py_str(target.text)}"
    )
    prompt = wrap_prompt(query, SYSTEM_PROMPT if builder.options.system else None)
    return InstructionExample(
        id=f"{pair_id}:{source.lang}-{target.lang}:{task.name}",
        task=task.name,
        lang=target.lang,
        dataset=target.dataset,
        prompt=prompt,
        target=builder.target(target_records, task),
        positives=len(types),
        negatives=0,
        kind="alignment",
    )


def alignment_examples(
    pairs: Iterable[ParallelPair],
    builder: PromptBuilder,
    *,
    tasks: Sequence[str] = ("ner",),
    both_directions: bool = True,
    report: CorpusReport | None = None,
) -> Iterator[InstructionExample]:
    """Examples for every pair, task and direction (source→target, then target→source)."""
    report = report if report is not None else CorpusReport()
    for pair in pairs:
        directions = [(pair.source, pair.target)]
        if both_directions:
            directions.append((pair.target, pair.source))
        for task_name in tasks:
            for source, target in directions:
                example = alignment_example(source, target, TASKS[task_name], builder, pair_id=pair.id)
                if example is None:
                    report.not_annotated += 1
                    continue
                report.examples[f"align-{task_name}"] += 1
                yield example


def shuffled_indices(count: int, seed: int) -> array[int]:
    """``range(count)`` in the order ``random.Random(seed).shuffle`` gives a list of it (8 bytes each)."""
    order = array("q", range(count))
    random.Random(seed).shuffle(order)  # noqa: S311 (sampling, not security)
    return order


def mix_with_instructions(
    alignment: Iterable[T],
    instructions: Sequence[T],
    *,
    ratio: float,
    seed: int = 0,
) -> Iterator[T]:
    """Interleave ``ratio`` instruction examples per alignment example, drawn without replacement.

    The draw cycles through a seeded permutation, so a ratio that asks for more instruction
    examples than exist reuses them in a fixed order rather than failing. ``instructions`` is
    indexed, never copied: a file's lines by offset (``knowcoder.corpus.build.JsonlLines``) serve.
    """
    if ratio < 0:
        raise ValueError(f"mix ratio must be >= 0, got {ratio}")
    order = shuffled_indices(len(instructions), seed)
    owed = 0.0
    position = 0
    for example in alignment:
        yield example
        owed += ratio
        while owed >= 1 and order:
            yield instructions[order[position % len(order)]]
            position += 1
            owed -= 1
