"""Batched extraction: prompts in, parsed records out.

Requests are sorted by prompt length and generated in left-padded batches with greedy
decoding and the KV cache, stopping at end-of-sequence or at ``\"\"\"`` (the released models'
stop), with a cap on new tokens. A batch holds at most ``batch_size`` prompts and, when
``batch_tokens`` is set, at most that many cache positions (rows times the longest prompt plus
``max_new_tokens``), so that short prompts batch wide and long ones stay within memory.
An opening that a prompt shares with an earlier prompt of its batch (the same task and classes)
is computed once, no work goes into padding, and the prompts' differing ends (the sentences) run
through the model together; the batch is then decoded on a cache that grows in place (the cache and
the per-prompt states live in ``inference.kv_cache``). Models with sliding-window layers prefill
the padded batch at once instead.
A prompt longer than ``head_tokens + tail_tokens`` keeps its first ``head_tokens`` and last
``tail_tokens`` tokens, as the released evaluation did; where those and ``max_new_tokens`` would
pass the model's ``max_position_embeddings``, both shrink in proportion to fit (and the evaluation
report counts every prompt so cut). Every output goes through the safe
parser with the classes and sentence of its own prompt, and every record it yields gets a
confidence from the probabilities of the tokens that wrote it (see ``inference.confidence``).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from transformers.cache_utils import DynamicCache

from knowcoder.data.instance import Instance
from knowcoder.inference.confidence import TokenLogProbs, record_confidences, token_ends
from knowcoder.inference.kv_cache import (
    GrowingCache,
    RowStates,
    right_aligned,
    row_states,
    shared_opening,
    zeros_in,
)
from knowcoder.parser import ParseReport, parse_results
from knowcoder.prompts import PromptBuilder
from knowcoder.records import Record
from knowcoder.schema.ontology import Kind, Ontology
from knowcoder.tasks import get_task

if TYPE_CHECKING:
    from knowcoder.config import DecodingConfig, ParserConfig

STOP_STRINGS = ('"""',)


@dataclass(frozen=True)
class ExtractionRequest:
    """One sentence and task, with the classes its prompt defines."""

    id: str
    task: str
    text: str
    types: tuple[str, ...]
    dataset: str | None = None
    lang: str | None = None
    given: tuple[Record, ...] = ()  # EAE: the events whose arguments are wanted (trigger hints)


@dataclass(frozen=True)
class Generated:
    """One generated output: its text, where each token ends in it and each token's log-probability."""

    text: str
    ends: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)


@dataclass
class Prediction:
    request: ExtractionRequest
    output: str
    records: list[Record]
    report: ParseReport
    prompt_tokens: int = 0
    truncated_prompt: bool = False
    #: per record, in (0, 1]: the geometric mean probability of the tokens that wrote it
    confidences: list[float] = field(default_factory=list)

    def record_dicts(self) -> list[dict[str, Any]]:
        """Each record's ``to_dict()`` with its ``confidence`` beside the record's own fields."""
        if len(self.confidences) != len(self.records):
            return [r.to_dict() for r in self.records]
        return [{**r.to_dict(), "confidence": c} for r, c in zip(self.records, self.confidences, strict=True)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.request.id,
            "task": self.request.task,
            "dataset": self.request.dataset,
            "lang": self.request.lang,
            "text": self.request.text,
            "types": list(self.request.types),
            "output": self.output,
            "records": self.record_dicts(),
            "report": self.report.to_dict(),
        }


def schema_types(instances: Sequence[Instance], task: str, ontology: Ontology) -> list[str]:
    """The dataset's schema for a task: every class its gold data uses, each in ontology order.

    That is the task's own classes and, for relations and event arguments, the entity classes
    the gold arguments have (``City`` where a relation declares ``Location``): training prompts
    define those too, and strict scoring compares them.
    """
    task_obj = get_task(task)
    seen = {name for instance in instances for name in task_obj.positive_types(instance)}
    own = [name for name in ontology.names(task_obj.kind) if name in seen]
    if task_obj.kind == Kind.ENTITY:
        return own
    return own + [name for name in ontology.names(Kind.ENTITY) if name in seen]


def requests_for(
    instances: Sequence[Instance], task: str, ontology: Ontology, *, types: str | Sequence[str] = "dataset"
) -> list[ExtractionRequest]:
    """Requests for every instance annotated for ``task``.

    ``types``: ``"dataset"`` (the classes the data uses, like a benchmark's label set), ``"instance"``
    (each sentence's own gold classes: an oracle, for debugging), or an explicit list.

    EAE is given its events (trigger and type), so with ``"dataset"`` its prompt defines the classes
    of the given events, as the released EAE prompts do, and a sentence without events is not asked.
    """
    task_obj = get_task(task)
    fixed: list[str] | None = None
    if types == "dataset":
        fixed = schema_types(instances, task, ontology)
    elif not isinstance(types, str):
        fixed = list(types)
    elif types != "instance":
        raise ValueError(f"types must be 'dataset', 'instance' or a list of classes, not {types!r}")
    requests = []
    for instance in instances:
        gold = task_obj.gold_records(instance, ontology)
        if gold is None:
            continue
        chosen = fixed if fixed is not None else task_obj.positive_types(instance)
        given = tuple(gold) if task_obj.given_by else ()  # a fed task (EAE) is given its gold
        if given and types == "dataset":
            chosen = list(dict.fromkeys(record.type for record in given))
        elif task_obj.given_by and types == "dataset":
            continue
        requests.append(
            ExtractionRequest(
                f"{instance.id}:{task_obj.name}",
                task_obj.name,
                instance.text,
                tuple(chosen or ontology.names(task_obj.kind)),
                instance.dataset,
                instance.lang,
                given,
            )
        )
    return requests


@dataclass
class Extractor:
    """Generates and parses; holds a model, its tokenizer and a prompt builder."""

    model: Any
    tokenizer: Any
    builder: PromptBuilder
    batch_size: int = 16
    batch_tokens: int | None = None  # cache positions per batch: rows x (longest prompt + max_new_tokens)
    max_new_tokens: int = 640
    head_tokens: int = 1500
    tail_tokens: int = 2000
    constrained: bool = False
    parser_limits: dict[str, int] = field(default_factory=dict)
    _trie: Any = field(default=None, init=False, repr=False)

    @classmethod
    def load(
        cls,
        model_path: str | Path,
        builder: PromptBuilder,
        *,
        trust_remote_code: bool = False,
        dtype: str = "auto",
        use_safetensors: bool = True,
        **options: Any,
    ) -> Extractor:
        """From a merged checkpoint, or from a LoRA adapter directory (its base is loaded first)."""
        from knowcoder.modeling.loading import load_adapter_model, load_model

        path = Path(model_path)
        adapter_config = path / "adapter_config.json"
        if adapter_config.is_file():
            base_name = json.loads(adapter_config.read_text(encoding="utf-8"))["base_model_name_or_path"]
            base, tokenizer = load_model(
                base_name,
                trust_remote_code=trust_remote_code,
                dtype=dtype,
                padding_side="left",
                use_safetensors=use_safetensors,
            )
            model = load_adapter_model(base, path)
        else:
            model, tokenizer = load_model(
                str(path),
                trust_remote_code=trust_remote_code,
                dtype=dtype,
                padding_side="left",
                use_safetensors=use_safetensors,
            )
        model.eval()
        return cls(model, tokenizer, builder, **options)

    @classmethod
    def from_config(
        cls,
        model_path: str | Path,
        builder: PromptBuilder,
        decoding: DecodingConfig,
        parser: ParserConfig,
        *,
        constrained: bool | None = None,
        trust_remote_code: bool = False,
        dtype: str = "auto",
        use_safetensors: bool = True,
    ) -> Extractor:
        """``load`` with the generation settings of ``decoding`` and the parser bounds of ``parser``.

        ``constrained`` (when not ``None``) overrides ``decoding.constrained``.
        """
        return cls.load(
            model_path,
            builder,
            trust_remote_code=trust_remote_code,
            dtype=dtype,
            use_safetensors=use_safetensors,
            batch_size=decoding.batch_size,
            batch_tokens=decoding.batch_tokens,
            max_new_tokens=decoding.max_new_tokens,
            head_tokens=decoding.head_tokens,
            tail_tokens=decoding.tail_tokens,
            constrained=decoding.constrained if constrained is None else constrained,
            parser_limits={"max_chars": parser.max_chars, "max_depth": parser.max_depth},
        )

    # ---- prompts ------------------------------------------------------------------------
    def prompt_ids(self, request: ExtractionRequest) -> tuple[list[int], bool]:
        prompt = self.builder.prompt(
            request.text, request.task, request.types, dataset=request.dataset, given=request.given
        )
        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        if self.tokenizer.bos_token_id is not None:
            ids = [self.tokenizer.bos_token_id, *ids]
        head, tail = self.prompt_budget()
        if len(ids) > head + tail:
            return ids[:head] + ids[len(ids) - tail :], True
        return ids, False

    def prompt_budget(self) -> tuple[int, int]:
        """How many first and last tokens of a prompt are kept: ``head_tokens`` and ``tail_tokens``,
        shrunk in proportion when they and ``max_new_tokens`` would not fit the model's positions."""
        head, tail = self.head_tokens, self.tail_tokens
        limit = getattr(getattr(self.model, "config", None), "max_position_embeddings", None)
        if isinstance(limit, int) and limit > 0:
            room = limit - self.max_new_tokens
            if room < 2:
                raise ValueError(
                    f"max_new_tokens={self.max_new_tokens} leaves no room for a prompt in the model's "
                    f"{limit} positions; lower evaluation.max_new_tokens"
                )
            if head + tail > room:
                head = max(1, room * head // (head + tail))
                tail = room - head
        return head, tail

    # ---- generation ---------------------------------------------------------------------
    def generate(
        self, requests: Sequence[ExtractionRequest], *, progress: bool = False
    ) -> list[tuple[str, int, bool]]:
        """(output text, prompt tokens, prompt shortened) per request, in request order."""
        return [(w.text, n, cut) for w, n, cut in self.generate_scored(requests, progress=progress)]

    def generate_scored(
        self, requests: Sequence[ExtractionRequest], *, progress: bool = False
    ) -> list[tuple[Generated, int, bool]]:
        """``generate``, with each output's token ends and log-probabilities."""
        encoded = [self.prompt_ids(request) for request in requests]
        outputs: list[tuple[Generated, int, bool]] = [(Generated(""), 0, False)] * len(requests)
        batches = self.batches([len(ids) for ids, _ in encoded])
        iterator: Iterable[list[int]] = batches
        if progress:
            from knowcoder.console import track  # the pipeline's display when open, else tqdm

            iterator = track(batches, "generate", unit="batch")
        for batch in iterator:
            texts = self._generate_batch([encoded[i][0] for i in batch], [requests[i] for i in batch])
            for index, text in zip(batch, texts, strict=True):
                outputs[index] = (text, len(encoded[index][0]), encoded[index][1])
        return outputs

    def batches(self, lengths: Sequence[int]) -> list[list[int]]:
        """Indices of prompts ``lengths`` long, longest first, cut into batches.

        A batch closes at ``batch_size`` prompts, or before its cache (rows times its longest
        prompt plus ``max_new_tokens``) would pass ``batch_tokens``; a prompt longer than the
        budget gets a batch of its own.
        """
        order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
        batches: list[list[int]] = []
        for index in order:
            if batches and len(batches[-1]) < self.batch_size:
                rows, longest = len(batches[-1]) + 1, lengths[batches[-1][0]]
                if self.batch_tokens is None or rows * (longest + self.max_new_tokens) <= self.batch_tokens:
                    batches[-1].append(index)
                    continue
            batches.append([index])
        return batches

    def _generate_batch(self, prompts: list[list[int]], requests: list[ExtractionRequest]) -> list[Generated]:
        from transformers import LogitsProcessorList

        device = next(self.model.parameters()).device
        scores = TokenLogProbs()  # first in the list: it sees the model's scores before any constraint
        kwargs: dict[str, Any] = {"logits_processor": LogitsProcessorList([scores])}
        if self.constrained:
            kwargs["logits_processor"].extend(self._constraint(requests))
        else:
            kwargs.update(stop_strings=list(STOP_STRINGS), tokenizer=self.tokenizer)
        with torch.inference_mode():
            input_ids, attention, cache = self._batch_inputs(prompts, device)
            generated = self.model.generate(
                input_ids=input_ids,
                attention_mask=attention,
                past_key_values=cache,
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                num_beams=1,
                use_cache=True,
                pad_token_id=self.tokenizer.pad_token_id,
                eos_token_id=self.tokenizer.eos_token_id,
                **kwargs,
            )
        new = generated[:, input_ids.shape[1] :]
        logprobs = scores.table(new).tolist()
        written = []
        for row, row_logprobs in zip(new.tolist(), logprobs, strict=True):
            # constrained: the bytes the grammar checked (decode() may drop a WordPiece's leading
            # space or clean up spaces across tokens, and the parser must see what was allowed)
            pieces = [self._trie.tokens.get(t, b"") for t in row] if self.constrained else None

            def prefix(k: int, row: list[int] = row, pieces: list[bytes] | None = pieces) -> int:
                if pieces is not None:
                    return len(b"".join(pieces[:k]).decode("utf-8", "replace"))
                return len(self.tokenizer.decode(row[:k], skip_special_tokens=True))

            if pieces is not None:
                text = b"".join(pieces).decode("utf-8", "replace")
            else:
                text = self.tokenizer.decode(row, skip_special_tokens=True)
            wrote = self._written_length(row)  # the padding after it decodes to nothing
            written.append(Generated(text, token_ends(wrote, prefix), row_logprobs[:wrote]))
        return written

    def _written_length(self, row: list[int]) -> int:
        """How many of a row's new tokens the model wrote: through its end-of-sequence, before padding."""
        ends = {self.tokenizer.eos_token_id, self.tokenizer.pad_token_id} - {None}
        for at, token in enumerate(row):
            if token in ends:
                return at + 1
        return len(row)

    def _batch_inputs(
        self, prompts: list[list[int]], device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor, GrowingCache]:
        """Input ids, attention mask and a cache that already holds every prompt but its last token.

        Prefilled at once, a batch of mixed lengths spends the model's work on its padding, and
        prompts that open alike (one task, one set of classes) each compute that opening again.
        Here a prompt that shares no more than half of itself with an earlier one runs through the
        model alone, after copying what it does share. Every other prompt copies the opening it
        shares and only its rest (mostly the sentence) is computed, for all such prompts in one
        forward pass: their openings end at one column and their rests, right-aligned after it,
        leave a hole that the attention mask hides and the position ids skip (a model that takes no
        position ids computes each rest alone instead). Rows are then left-padded to one width;
        ``generate`` goes on from the last prompt token of every row, and derives positions from
        the mask, so holes and padding are invisible to it.
        """
        pad = self.tokenizer.pad_token_id
        cache = GrowingCache(self.model.config)
        if len(prompts) == 1 or not cache.all_growing:
            # nothing to share, or layers (windows) whose rows cannot be lined up by hand
            width = max(len(p) for p in prompts)
            ids = [[pad] * (width - len(p)) + p for p in prompts]
            masks = [[0] * (width - len(p)) + [1] * len(p) for p in prompts]
            return torch.tensor(ids, device=device), torch.tensor(masks, device=device), cache
        heads = [torch.tensor(p[:-1], dtype=torch.long) for p in prompts]
        states: dict[int, RowStates] = {}  # per row: its head's keys and values as laid out
        layout: dict[int, tuple[list[int], list[int]]] = {}  # per row: its head's ids and mask
        alone: list[int] = []  # rows computed on their own: the sources of shared openings
        rests: list[tuple[int, int, int]] = []  # (row, source, shared) computed together
        together = self._reads_position_ids()
        for at, head in enumerate(heads):
            shared, source = max(((shared_opening(head, heads[j]), j) for j in alone), default=(0, -1))
            rest = len(head) - shared
            if shared and rest <= shared and (together or not rest):
                if rest:
                    rests.append((at, source, shared))
                else:  # the whole head is an earlier row's opening
                    states[at] = [(k[:, :, :shared], v[:, :, :shared]) for k, v in states[source]]
                    layout[at] = (prompts[at][:-1], [1] * shared)
                continue
            row = DynamicCache(config=self.model.config)
            for index, (keys, values) in enumerate(states[source] if shared else []):
                row.update(keys[:, :, :shared], values[:, :, :shared], index)
            if rest:
                self.model(
                    input_ids=head[None, shared:].to(device),
                    past_key_values=row,
                    use_cache=True,
                    logits_to_keep=1,
                )
            states[at], layout[at] = row_states(row), (prompts[at][:-1], [1] * len(head))
            alone.append(at)
        if rests:
            self._prefill_rests(prompts, heads, rests, states, layout, device)
        width = max(len(ids) for ids, _ in layout.values()) + 1
        input_ids, attention = [], []
        for at, prompt in enumerate(prompts):
            head_ids, head_mask = layout[at]
            lead = width - 1 - len(head_ids)
            input_ids.append([pad] * lead + head_ids + prompt[-1:])
            attention.append([0] * lead + head_mask + [1])
        if any(states.values()):  # else every prompt is a single token
            rows = [states[at] for at in range(len(prompts))]
            for index in range(len(cache.layers)):
                # rows hand over their states layer by layer, so that those copies are freed as they go
                layer = [(at, row.pop(0)) for at, row in enumerate(rows) if row]
                cache.update(*right_aligned(layer, len(rows), width - 1), index)
        return torch.tensor(input_ids, device=device), torch.tensor(attention, device=device), cache

    def _reads_position_ids(self) -> bool:
        """Whether the model takes positions from ``position_ids`` (rotary models), so that a hole
        in a row is invisible to it; others (ALiBi biases from columns) prefill their rests alone."""
        base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        return "position_ids" in inspect.signature(base.forward).parameters

    def _prefill_rests(
        self,
        prompts: list[list[int]],
        heads: list[torch.Tensor],
        rests: list[tuple[int, int, int]],
        states: dict[int, RowStates],
        layout: dict[int, tuple[list[int], list[int]]],
        device: torch.device,
    ) -> None:
        """Compute the rests of ``(row, source, shared)`` after their copied openings, in one pass.

        Openings end at one column ``opening``; each rest is right-aligned in the ``longest``
        columns after it, so a shorter rest leaves a hole between its opening and itself.
        """
        pad = self.tokenizer.pad_token_id
        opening = max(shared for _, _, shared in rests)
        longest = max(len(heads[at]) - shared for at, _, shared in rests)
        cache = DynamicCache(config=self.model.config)
        for index in range(len(states[rests[0][1]])):  # sources hold every layer
            rows = [
                (i, (states[source][index][0][:, :, :shared], states[source][index][1][:, :, :shared]))
                for i, (_, source, shared) in enumerate(rests)
            ]
            cache.update(*right_aligned(rows, len(rests), opening), index)
        ids, masks, positions = [], [], []
        for at, _, shared in rests:
            rest = heads[at][shared:].tolist()
            hole = longest - len(rest)
            ids.append([pad] * hole + rest)
            masks.append([0] * (opening - shared) + [1] * shared + [0] * hole + [1] * len(rest))
            positions.append([max(shared + k - hole, 0) for k in range(longest)])
        self.model(
            input_ids=torch.tensor(ids, device=device),
            attention_mask=torch.tensor(masks, device=device),
            position_ids=torch.tensor(positions, device=device),
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        computed = row_states(cache)
        for i, (at, _, shared) in enumerate(rests):
            hole = longest - (len(heads[at]) - shared)
            row = [
                (k[i : i + 1, :, opening - shared :], v[i : i + 1, :, opening - shared :])
                for k, v in computed
            ]
            states[at] = zeros_in(row, shared, shared + hole)
            head = prompts[at][:-1]
            mask = [1] * shared + [0] * hole + [1] * (len(head) - shared)
            layout[at] = (head[:shared] + [pad] * hole + head[shared:], mask)

    def _constraint(self, requests: list[ExtractionRequest]) -> Any:
        from transformers import LogitsProcessorList

        from knowcoder.inference.constrained import SchemaConstraint, TokenTrie
        from knowcoder.inference.grammar import ResultsGrammar

        if self._trie is None:  # one byte trie of the vocabulary, shared by every batch
            self._trie = TokenTrie.from_tokenizer(self.tokenizer)
        grammars = [ResultsGrammar.for_prompt(self.builder, r.task, r.types, r.text) for r in requests]
        constraint = SchemaConstraint(
            grammars, self._trie, self.tokenizer.eos_token_id, max_new_tokens=self.max_new_tokens
        )
        return LogitsProcessorList([constraint])

    # ---- extraction ---------------------------------------------------------------------
    def extract(self, requests: Sequence[ExtractionRequest], *, progress: bool = False) -> list[Prediction]:
        """Generate for every request and parse each output against its own prompt's classes."""
        predictions = []
        for request, (written, n_prompt, shortened) in zip(
            requests, self.generate_scored(requests, progress=progress), strict=True
        ):
            allowed = self.builder.allowed(request.task, request.types, request.text)
            parsed = parse_results(written.text, request.task, allowed, **self.parser_limits)
            confidences = record_confidences(
                written.text,
                parsed.records,
                written.ends,
                written.logprobs,
                request.task,
                allowed,
                self.parser_limits,
            )
            predictions.append(
                Prediction(
                    request, written.text, parsed.records, parsed.report, n_prompt, shortened, confidences
                )
            )
        return predictions
