"""Build a training corpus (pretrain, sft, align) as shards, locally or on a Dask cluster.

The inputs are cut into ranges of ``data.shard_size`` lines (``knowcoder.corpus.shards``); each
range becomes one part, built by the same generators a single pass would use (class and instance
documents, instruction examples, alignment examples), and the parts are joined in range order. Every
example depends on its own instance only (sampling is seeded by the instance id), so the corpus
is the same bytes whatever the number of workers or the shard size.

* ``pretrain``: one part of class documents, then the instance documents of each range of the
  validated inputs (``corpus.inputs``, split ``corpus.split``) and of ``corpus.pretrain.extra``;
* ``sft``: the instruction examples of each range of the validated inputs;
* ``align``: the alignment examples of each range of the parallel pairs, interleaved at assembly
  with schema-following examples read from an SFT corpus file by line offset (never loaded whole).

Nothing is held in memory beyond one example at a time and, for align, one offset per SFT line.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from knowcoder.artifacts import Layout
from knowcoder.config import Params
from knowcoder.corpus.align import alignment_examples, mix_with_instructions
from knowcoder.corpus.pretrain import class_documents, instance_documents
from knowcoder.corpus.sft import CorpusReport, NegativeSampling, instruction_examples
from knowcoder.corpus.shards import (
    LineRange,
    PartResult,
    assemble,
    compute_part,
    job_key,
    line_ranges,
    manifest,
    part_lines,
    range_lines,
    remove_parts,
)
from knowcoder.data.instance import Instance
from knowcoder.data.jsonl import atomic_open, parse_instance_line
from knowcoder.data.parallel import ParallelPair, parse_pair_line
from knowcoder.distributed import ClusterSpec, map_shards
from knowcoder.errors import ConfigError
from knowcoder.prompts import PromptBuilder, PromptOptions
from knowcoder.schema.ontology import Ontology, load_ontology

_ontologies: dict[str, Ontology] = {}  # per worker process


@dataclass(frozen=True)
class CorpusShard:
    """One part of a corpus: the class documents (``lines`` None) or one range of an input."""

    name: str
    stage: str
    lines: LineRange | None
    split: str | None  # keep only instances of this split (None: all, for pretrain extras)
    params: Params
    parts_dir: str
    key: str


@dataclass
class CorpusBuild:
    """What ``build_corpus_file`` wrote: rows, rows per kind, the merged report and the shards."""

    rows: int
    rows_by_kind: dict[str, int]
    report: CorpusReport
    shards: list[dict[str, Any]]
    computed: int  # shards built by this call (the others were complete from an earlier try)


def cluster_of(params: Params) -> ClusterSpec:
    return ClusterSpec(workers=params.data.workers, address=params.data.dask_address)


def _ontology(path: str) -> Ontology:
    if path not in _ontologies:
        _ontologies[path] = load_ontology(path)
    return _ontologies[path]


def prompt_builder(params: Params, ontology: Ontology, *, shuffled: bool) -> PromptBuilder:
    settings = params.prompt.model_dump()
    if shuffled:
        settings["class_order"] = "given"
    return PromptBuilder(ontology, PromptOptions(**settings))


def _instances(lines: LineRange, split: str | None) -> Iterator[Instance]:
    for lineno, raw in range_lines(lines):
        text = raw.decode("utf-8")
        if text.strip():
            instance = parse_instance_line(text, path=lines.path, lineno=lineno)
            if split is None or instance.split in (None, split):
                yield instance


def _pairs(lines: LineRange, split: str) -> Iterator[ParallelPair]:
    for lineno, raw in range_lines(lines):
        text = raw.decode("utf-8")
        if text.strip():
            pair = parse_pair_line(text, path=lines.path, lineno=lineno)
            if pair.source.split in (None, split):
                yield pair


def _rows(shard: CorpusShard, report: CorpusReport) -> Iterator[dict[str, Any]]:
    params = shard.params
    ontology = _ontology(params.paths.ontology)
    if shard.stage == "pretrain":
        config = params.corpus.pretrain
        if shard.lines is None:
            for _ in range(config.class_repeats):
                yield from (d.to_dict() for d in class_documents(ontology, languages=config.class_languages))
            return
        documents = instance_documents(_instances(shard.lines, shard.split), ontology, tasks=config.tasks)
        yield from (document.to_dict() for document in documents)
    elif shard.stage == "sft":
        sft = params.corpus.sft
        examples = instruction_examples(
            _instances(shard.lines, shard.split),  # type: ignore[arg-type]
            ontology,
            prompt_builder(params, ontology, shuffled=sft.shuffle_classes),
            tasks=sft.tasks,
            sampling=NegativeSampling(sft.negative_ratio, sft.only_negative_rate, sft.without_positives_rate),
            seed=params.corpus.seed,
            report=report,
        )
        yield from (example.to_dict() for example in examples)
    else:
        align = params.corpus.align
        examples = alignment_examples(
            _pairs(shard.lines, params.corpus.split),  # type: ignore[arg-type]
            prompt_builder(params, ontology, shuffled=False),
            tasks=align.tasks,
            both_directions=align.both_directions,
            report=report,
        )
        yield from (example.to_dict() for example in examples)


def build_part(shard: CorpusShard) -> PartResult:
    """Build one part of a corpus (skipped when already complete); runs on a worker."""

    def build(writer: Any) -> tuple[int, dict[str, Any]]:
        report = CorpusReport()
        kinds: dict[str, int] = {}
        rows = 0
        for row in _rows(shard, report):
            writer.write(json.dumps(row, ensure_ascii=False) + "\n")
            kind = row.get("kind", "?")
            kinds[kind] = kinds.get(kind, 0) + 1
            rows += 1
        return rows, {"kinds": list(kinds.items()), "report": _report_fields(report)}

    return compute_part(shard.parts_dir, shard.name, shard.key, build)


def _report_fields(report: CorpusReport) -> dict[str, Any]:
    out: dict[str, Any] = {f.name: getattr(report, f.name) for f in fields(report)}
    out["examples"] = list(report.examples.items())  # a list keeps the order tasks were first seen
    return out


def _merge(parts: Iterable[PartResult]) -> tuple[CorpusReport, dict[str, int]]:
    report, kinds = CorpusReport(), dict[str, int]()
    for part in parts:
        for kind, count in part.report["kinds"]:
            kinds[kind] = kinds.get(kind, 0) + count
        for name, value in part.report["report"].items():
            if name == "examples":
                for task, count in value:
                    report.examples[task] += count
            else:
                setattr(report, name, getattr(report, name) + value)
    return report, kinds


def _inputs(params: Params, stage: str, artifacts: Path) -> list[tuple[str, str | None]]:
    """``(file, split filter)`` of each input of a stage, in reading order."""
    if stage == "align":
        return [(params.paths.parallel, params.corpus.split)]
    inputs: list[tuple[str, str | None]] = []
    for name in params.corpus.inputs:
        path = Layout(artifacts).validated(name)
        if not path.is_file():
            raise ConfigError(
                f"{path} does not exist; run `knowcoder data prepare` first (or fix the name)",
                field="corpus.inputs",
            )
        inputs.append((str(path), params.corpus.split))
    if stage == "pretrain":
        inputs += [(str(path), None) for path in params.corpus.pretrain.extra]
    return inputs


def plan_corpus(params: Params, stage: str, path: str | Path) -> list[CorpusShard]:
    """The shards of a corpus, in output order (the same for any number of workers)."""
    path = Path(path)
    shard_lines = params.data.shard_size
    inputs = _inputs(params, stage, Path(params.paths.artifacts))
    parts_dir = str(_parts_dir(path))
    payload = {
        "stage": stage,
        "corpus": params.corpus.model_dump(mode="json"),
        "prompt": params.prompt.model_dump(mode="json"),
        "shard_lines": shard_lines,
    }
    key = job_key(payload, [params.paths.ontology, *(file for file, _ in inputs)])
    shards: list[CorpusShard] = []
    if stage == "pretrain":
        shards.append(CorpusShard("classes", stage, None, None, params, parts_dir, key))
    for k, (file, split) in enumerate(inputs):
        for j, lines in enumerate(line_ranges(file, shard_lines)):
            shards.append(CorpusShard(f"input{k}-{j:05d}", stage, lines, split, params, parts_dir, key))
    return shards


def _parts_dir(path: Path) -> Path:
    return path.with_name(f"{path.stem}.parts")


def build_corpus_file(
    params: Params, stage: str, path: str | Path, *, instructions: str | Path | None = None
) -> CorpusBuild:
    """Write the corpus of ``stage`` to ``path`` (atomically) from its shards.

    For ``align`` with ``corpus.align.instruction_mix > 0``, ``instructions`` is an SFT corpus file
    built from the same parameters; without it one is built beside ``path`` first. Parts complete
    from an earlier, interrupted call (same inputs and parameters) are used as they are.
    """
    path = Path(path)
    shard_lines = params.data.shard_size
    parts_dir = _parts_dir(path)
    shards = plan_corpus(params, stage, path)
    results = map_shards(build_part, shards, cluster_of(params), names=[f"{stage}-{s.name}" for s in shards])
    report, kinds = _merge(results)
    if stage == "align" and params.corpus.align.instruction_mix > 0:
        pool = (
            Path(instructions)
            if instructions is not None
            else path.with_name(f"{path.stem}.instructions.jsonl")
        )
        if instructions is None:
            build_corpus_file(params, "sft", pool)
        lines = JsonlLines(pool)
        mixed = mix_with_instructions(
            part_lines(parts_dir, results),
            lines,
            ratio=params.corpus.align.instruction_mix,
            seed=params.corpus.seed,
        )
        rows = 0
        whole = hashlib.sha256()
        try:
            with atomic_open(path) as handle:
                for line in mixed:
                    whole.update(line.encode("utf-8"))
                    handle.write(line)
                    rows += 1
        finally:
            lines.close()
        digest = whole.hexdigest()
        drawn = rows - sum(r.rows for r in results)
        if drawn:
            kinds["instruction"] = kinds.get("instruction", 0) + drawn
    else:
        digest = assemble(parts_dir, results, path)
        rows = sum(result.rows for result in results)
    computed = sum(not result.reused for result in results)
    shard_manifest = manifest(results)
    with atomic_open(path.with_suffix(".manifest.json")) as handle:
        json.dump(
            # align's shards are its alignment examples; the file also holds the instructions mixed in
            {
                "stage": stage,
                "shard_lines": shard_lines,
                "rows": rows,
                "sha256": digest,
                "shards": shard_manifest,
            },
            handle,
            indent=2,
        )
        handle.write("\n")
    remove_parts(parts_dir)
    return CorpusBuild(rows, kinds, report, shard_manifest, computed)


class JsonlLines(Sequence[str]):
    """The lines of a text file by index: one offset per line in memory, each line read on demand."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        offsets = array("q", [0])
        with open(self.path, "rb") as handle:
            position = 0
            for raw in handle:
                position += len(raw)
                offsets.append(position)
        self._offsets = offsets
        self._handle = open(self.path, "rb")  # noqa: SIM115 - closed by close() or at exit

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, index: int) -> str:  # type: ignore[override]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        index %= len(self)
        start = self._offsets[index]
        self._handle.seek(start)
        return self._handle.read(self._offsets[index + 1] - start).decode("utf-8")

    def close(self) -> None:
        self._handle.close()
