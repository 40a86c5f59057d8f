"""Run one training stage on the transformers ``Trainer``.

A stage reads its corpus (JSONL), tokenizes it into a memory-mapped ``datasets.Dataset``,
optionally wraps the model in a LoRA adapter, trains, and writes a standalone model directory
plus a metrics JSON. A stage started again after a crash resumes from its last *complete*
checkpoint; the sampler is seeded, so the data order is the same as in an uninterrupted run.

The Trainer writes a checkpoint file by file and ``trainer_state.json`` last, so a process
killed while saving leaves a directory without it (or with it cut short). Such a directory is
never resumed from: :func:`last_complete_checkpoint` removes it, says so, and falls back to the
newest complete checkpoint before it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_pt_utils import LengthGroupedSampler, get_length_grouped_indices

from knowcoder.config import StageTraining, TrainConfig
from knowcoder.data.jsonl import atomic_open
from knowcoder.errors import ConfigError, DataFormatError, KnowCoderError
from knowcoder.training.data import (
    PackedCollator,
    PaddingCollator,
    TokenStats,
    encode_example,
    pack_documents,
    shuffle_buffered,
)
from knowcoder.training.dev import PREFIX as DEV_PREFIX
from knowcoder.training.dev import DevEvaluator, DevSchedule, dev_summary

log = logging.getLogger(__name__)

PACKED_STAGES = ("pretrain",)


@dataclass
class StageResult:
    stage: str
    model_dir: Path
    metrics_path: Path
    metrics: dict[str, Any]


def file_digest(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


# ---- datasets ---------------------------------------------------------------------------
SHUFFLE_BUFFER = 8192  # documents held to draw packing order from (see shuffle_buffered)


#: corpus lines per tokenization shard: fixed, so the rows never depend on the number of processes
SPAN_LINES = 50_000


def line_spans(path: str | Path, lines: int = SPAN_LINES) -> list[list[int]]:
    """``[first byte, end byte, first line number]`` of consecutive blocks of ``lines`` lines."""
    spans: list[list[int]] = []
    start = offset = count = 0
    first = 1
    with open(path, "rb") as handle:
        for line in handle:
            offset += len(line)
            count += 1
            if count == lines:
                spans.append([start, offset, first])
                start, first, count = offset, first + count, 0
    if count:
        spans.append([start, offset, first])
    return spans


def _span_rows(corpus: str, spans: list[list[int]]) -> Iterator[dict[str, Any]]:
    """The JSON objects of the given line blocks of ``corpus``, in order."""
    with open(corpus, "rb") as handle:
        for start, end, lineno in spans:
            handle.seek(start)
            while handle.tell() < end:
                line = handle.readline()
                if line.strip():
                    try:
                        yield json.loads(line)
                    except ValueError as error:
                        raise DataFormatError(
                            f"not valid JSON ({error})", path=corpus, line=lineno, field="<json>"
                        ) from error
                lineno += 1


def _documents(
    corpus: str, tokenizer_dir: str, digest: str, spans: list[list[int]]
) -> Iterator[dict[str, Any]]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    for row in _span_rows(corpus, spans):
        yield {"input_ids": tokenizer(row["text"], add_special_tokens=False)["input_ids"]}


def _packed_rows(
    documents: tuple[str, ...], tokenizer_dir: str, max_length: int, digest: str, seed: int = 0
) -> Iterator[dict[str, Any]]:
    """Pack the tokenized documents (arrow files, in order) in a seeded order drawn from a buffer."""
    from datasets import Dataset
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    ids = (row["input_ids"] for path in documents for row in Dataset.from_file(path))
    yield from pack_documents(
        shuffle_buffered(ids, buffer=SHUFFLE_BUFFER, seed=seed),
        max_length=max_length,
        bos_id=tokenizer.bos_token_id,
        eos_id=tokenizer.eos_token_id,
        pad_id=tokenizer.pad_token_id,
    )


def _encoded_examples(
    corpus: str, tokenizer_dir: str, max_length: int, digest: str, spans: list[list[int]]
) -> Iterator[dict[str, Any]]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    for row in _span_rows(corpus, spans):
        encoded = encode_example(row["prompt"], row["target"], tokenizer, max_length=max_length)
        if encoded is not None:
            yield encoded


def build_dataset(
    stage: str,
    corpus: Path,
    tokenizer_dir: Path,
    max_length: int,
    cache_dir: Path,
    seed: int = 0,
    workers: int = 0,
) -> Any:
    """Tokenized, memory-mapped training data; the cache is keyed by the corpus's content hash.

    The corpus is read in blocks of ``SPAN_LINES`` lines, tokenized by ``workers`` processes when
    that is above 1 (``datasets``' ``num_proc``): the blocks are fixed, so the rows are the same
    whatever the count. Pretraining documents are tokenized that way, then packed in one pass in a
    seeded order drawn from a buffer (``seed``).
    """
    from datasets import Dataset
    from datasets.exceptions import DatasetGenerationError

    spans = line_spans(corpus, SPAN_LINES)
    processes = min(workers, len(spans)) if workers > 1 else None
    # busts the datasets cache whenever the corpus or tokenizer changes
    digest = file_digest(corpus) + file_digest(tokenizer_dir / "tokenizer.json")
    common = {"corpus": str(corpus), "tokenizer_dir": str(tokenizer_dir), "digest": digest, "spans": spans}
    try:
        if stage in PACKED_STAGES:
            documents = Dataset.from_generator(
                _documents, gen_kwargs=common, cache_dir=str(cache_dir), num_proc=processes
            )
            # a tuple, not a list: datasets would treat a list as shards and pack each file apart
            files = tuple(sorted(entry["filename"] for entry in documents.cache_files))
            packing = {"documents": files, "tokenizer_dir": str(tokenizer_dir), "max_length": max_length}
            packing |= {"digest": digest, "seed": seed}
            dataset = Dataset.from_generator(_packed_rows, gen_kwargs=packing, cache_dir=str(cache_dir))
        else:
            dataset = Dataset.from_generator(
                _encoded_examples,
                gen_kwargs={**common, "max_length": max_length},
                cache_dir=str(cache_dir),
                num_proc=processes,
            )
    except DatasetGenerationError as error:  # a malformed corpus line: its own one-line error
        if isinstance(error.__cause__, KnowCoderError):
            raise error.__cause__ from None
        raise
    if len(dataset) == 0:
        raise ConfigError(
            f"no training examples left in {corpus} (all longer than max_length={max_length}?)",
            field=f"train.{stage}.max_length",
        )
    return dataset


# ---- arguments --------------------------------------------------------------------------
def use_bf16(setting: str) -> bool:
    if setting == "true":
        return True
    if setting == "false":
        return False
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def training_arguments(
    stage: str, config: StageTraining, train: TrainConfig, output_dir: Path
) -> TrainingArguments:
    """TrainingArguments for one stage; DeepSpeed only when asked and only with CUDA."""
    if train.deepspeed and not torch.cuda.is_available():
        raise ConfigError(
            "DeepSpeed needs a CUDA device; unset it for CPU runs (--set train.deepspeed=null)",
            field="train.deepspeed",
        )
    scheduler: str = config.scheduler
    scheduler_kwargs: dict[str, Any] = {}
    if scheduler == "cosine" and config.min_lr_ratio > 0:
        scheduler, scheduler_kwargs = "cosine_with_min_lr", {"min_lr_rate": config.min_lr_ratio}
    return TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        learning_rate=config.learning_rate,
        lr_scheduler_type=scheduler,
        lr_scheduler_kwargs=scheduler_kwargs,
        warmup_steps=config.warmup_ratio,  # transformers 5: a float in [0, 1) is a share of all steps
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        logging_steps=config.logging_steps,
        logging_first_step=True,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        seed=train.seed,
        data_seed=train.seed,
        bf16=use_bf16(train.bf16),
        activation_checkpointing=train.gradient_checkpointing,
        deepspeed=train.deepspeed,
        train_sampling_strategy=(
            "group_by_length" if config.group_by_length and stage not in PACKED_STAGES else "random"
        ),
        include_num_input_tokens_seen="non_padding",
        remove_unused_columns=False,
        dataloader_num_workers=0,
        report_to="none",
        use_cpu=not torch.cuda.is_available(),
        disable_tqdm=False,
    )


# ---- resumable data order -----------------------------------------------------------------
class EpochSeededLengthGroupedSampler(LengthGroupedSampler):
    """Length-grouped order drawn from ``(seed, epoch)`` alone.

    transformers' sampler draws from the global RNG as it stands when an epoch starts, which a
    resume in the middle of an epoch cannot reproduce (the RNG state it restores is the one at
    the checkpoint); this one, re-seeded per epoch, gives a resumed run exactly the batches of an
    uninterrupted one.
    """

    def __init__(self, batch_size: int, lengths: list[int], seed: int) -> None:
        super().__init__(batch_size, lengths=lengths)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator()
        generator.manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(get_length_grouped_indices(self.lengths, self.batch_size, generator=generator))


class StageTrainer(Trainer):
    """The transformers Trainer, with a length-grouped data order that resumes exactly.

    ``evaluate`` runs the stage's :class:`~knowcoder.training.dev.DevEvaluator` (IE scores on a
    dev sample, when one is set) and logs its numbers like the training loss.
    """

    dev: DevEvaluator | None = None

    def evaluate(self, eval_dataset: Any = None, ignore_keys: Any = None, metric_key_prefix: str = "eval"):
        if self.dev is None or not self.is_world_process_zero():
            return {}
        metrics = self.dev(self.model)
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics=metrics)
        return metrics

    def _get_train_sampler(self, train_dataset: Any = None) -> Any:
        sampler = super()._get_train_sampler(train_dataset)
        if type(sampler) is LengthGroupedSampler:
            seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
            return EpochSeededLengthGroupedSampler(sampler.batch_size, sampler.lengths, seed)
        return sampler


# ---- metrics ----------------------------------------------------------------------------
class StageMetrics(TrainerCallback):
    """Collects the loss curve and throughput of a stage; the trainer's rank 0 writes them."""

    def __init__(self, stats: TokenStats) -> None:
        self.stats = stats
        self.curve: list[dict[str, float]] = []
        self.dev_curve: list[dict[str, float]] = []
        self.started = time.perf_counter()
        self.tokens_at_start = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.perf_counter()
        self.tokens_at_start = state.num_input_tokens_seen

    def on_log(self, args, state, control, logs=None, **kwargs):
        dev = {k: float(v) for k, v in (logs or {}).items() if k.startswith(DEV_PREFIX)}
        if dev:
            self.dev_curve.append({"step": state.global_step, **dev})
        if logs and "loss" in logs:
            elapsed = time.perf_counter() - self.started
            tokens = state.num_input_tokens_seen - self.tokens_at_start
            self.curve.append(
                {
                    "step": state.global_step,
                    "loss": float(logs["loss"]),
                    "learning_rate": float(logs.get("learning_rate", 0.0)),
                    "tokens_per_s": tokens / elapsed if elapsed > 0 else 0.0,
                }
            )

    def summary(self, state: Any) -> dict[str, Any]:
        elapsed = time.perf_counter() - self.started
        tokens = state.num_input_tokens_seen - self.tokens_at_start
        losses = [point["loss"] for point in self.curve]
        return {
            "steps": state.global_step,
            "wall_time_s": round(elapsed, 2),
            "tokens_seen": int(state.num_input_tokens_seen),
            "tokens_per_s": round(tokens / elapsed, 1) if elapsed > 0 else None,
            "first_loss": losses[0] if losses else None,
            "final_loss": losses[-1] if losses else None,
            **self.stats.to_dict(),
            "curve": self.curve,
            "dev_curve": self.dev_curve,
        }


# ---- the stage --------------------------------------------------------------------------
def train_stage(
    stage: str,
    *,
    init_dir: str | Path,
    corpus: Path,
    output_dir: Path,
    checkpoint_dir: Path,
    config: StageTraining,
    train: TrainConfig,
    cache_dir: Path,
    dtype: str = "auto",
    trust_remote_code: bool = False,
    use_safetensors: bool = True,
    callbacks: list[TrainerCallback] | None = None,
    dev: DevEvaluator | None = None,
    dev_every: int = 0,
    metrics_path: Path | None = None,
    curve_path: Path | None = None,
    tokenize_workers: int = 0,
) -> StageResult:
    """Train ``stage`` from the model in ``init_dir`` on ``corpus``; write ``output_dir``.

    With ``dev``, IE scores on its dev sample are logged every ``dev_every`` steps and at the end.
    The metrics and the loss curve go to ``metrics_path`` and ``curve_path`` (default: beside
    ``output_dir``, as ``<name>.metrics.json`` and ``<name>.curve.csv``). ``tokenize_workers``
    processes tokenize the corpus (``data.workers``; the rows do not depend on it).
    """
    from knowcoder.modeling.loading import load_model
    from knowcoder.modeling.tiny import save_model_dir

    model, tokenizer = load_model(
        str(init_dir),
        trust_remote_code=trust_remote_code,
        dtype=dtype,
        padding_side="right",
        use_safetensors=use_safetensors,
    )
    # A local copy of the tokenizer: the dataset builder reloads it by path and hashes it,
    # whether the model came from a local directory or a hub id.
    tokenizer_dir = checkpoint_dir / "tokenizer"
    tokenizer.save_pretrained(str(tokenizer_dir))
    dataset = build_dataset(
        stage, corpus, tokenizer_dir, config.max_length, cache_dir, seed=train.seed, workers=tokenize_workers
    )
    stats = TokenStats()
    collator = (
        PackedCollator(tokenizer.pad_token_id, stats)
        if stage in PACKED_STAGES
        else PaddingCollator(
            tokenizer.pad_token_id, multiple_of=8 if torch.cuda.is_available() else 1, stats=stats
        )
    )
    # Without this, the model builds a KV cache in training and transformers then ignores the
    # restarting position_ids: packed documents would silently attend across their boundaries.
    model.config.use_cache = False
    if config.lora.enabled:
        model = _with_lora(model, config)
    args = training_arguments(stage, config, train, checkpoint_dir)
    metrics_callback = StageMetrics(stats)
    trainer = StageTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=collator,
        processing_class=tokenizer,
        callbacks=[metrics_callback, *(callbacks or []), *([DevSchedule(dev_every)] if dev else [])],
    )
    trainer.dev = dev
    for replaced in {r for c in callbacks or [] for r in getattr(c, "replaces", ())}:
        trainer.remove_callback(replaced)  # a progress display in place of the Trainer's own printing
    complete, discarded = last_complete_checkpoint(checkpoint_dir)
    last = str(complete) if complete else None
    if last:
        log.info("resuming %s from %s", stage, last)
    trainer.train(resume_from_checkpoint=last)

    with open(corpus, "rb") as handle:  # a count, not a second parse of the whole corpus
        rows = sum(1 for line in handle if line.strip())
    metrics = {
        "stage": stage,
        "corpus_rows": rows,
        "examples": len(dataset),  # packed rows for pretraining, examples otherwise
        "dropped_too_long": 0 if stage in PACKED_STAGES else rows - len(dataset),
        "resumed_from": last,
        "discarded_checkpoints": [path.name for path in discarded],
        **metrics_callback.summary(trainer.state),
        **(dev_summary(dev, metrics_callback.dev_curve) if dev else {}),
    }
    metrics_path = metrics_path or output_dir.parent / f"{output_dir.name}.metrics.json"
    curve_path = curve_path or output_dir.parent / f"{output_dir.name}.curve.csv"
    if trainer.is_world_process_zero():
        final: Any = trainer.model
        if config.lora.enabled and config.lora.merge:
            final = final.merge_and_unload()
        final.config.use_cache = True  # generation wants the cache back
        save_model_dir(final, tokenizer, output_dir)
        with atomic_open(metrics_path) as handle:
            json.dump(metrics, handle, indent=2)
            handle.write("\n")
        with atomic_open(curve_path) as handle:
            handle.write("step,loss,learning_rate,tokens_per_s\n")  # for `dvc plots` and spreadsheets
            for point in metrics["curve"]:
                handle.write(
                    f"{point['step']},{point['loss']},{point['learning_rate']},{point['tokens_per_s']}\n"
                )
    return StageResult(stage, output_dir, metrics_path, metrics)


def _with_lora(model: Any, config: StageTraining) -> Any:
    from peft import LoraConfig, get_peft_model

    targets = lora_targets(model, config.lora.target_modules)
    log.info("LoRA r=%d on %s", config.lora.r, ", ".join(targets))
    lora = LoraConfig(
        task_type="CAUSAL_LM",
        r=config.lora.r,
        lora_alpha=config.lora.alpha,
        lora_dropout=config.lora.dropout,
        target_modules=targets,
    )
    return get_peft_model(model, lora)


def lora_targets(model: Any, requested: list[str]) -> list[str]:
    """The module names LoRA wraps: ``["auto"]`` finds them, explicit names are checked.

    ``auto`` is every ``nn.Linear`` inside the model's blocks by its last name component (for a
    Llama: q/k/v/o_proj and gate/up/down_proj), never the output head, whose weights are often
    tied to the embeddings. Explicit names that the model does not have are an error listing the
    names it does have, instead of peft's late, generic one.
    """
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    linear = sorted(
        {
            name.rsplit(".", 1)[-1]
            for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and module is not head and "." in name
        }
    )
    if requested == ["auto"]:
        if not linear:
            raise ConfigError(
                f"{type(model).__name__} has no linear layers for LoRA; name its modules explicitly",
                field="lora.target_modules",
            )
        return linear
    missing = [name for name in requested if name not in linear]
    if missing:
        raise ConfigError(
            f"{type(model).__name__} has no linear module named {', '.join(map(repr, missing))}; "
            f"its linear modules are {', '.join(linear)} (or use [auto])",
            field="lora.target_modules",
        )
    return list(requested)


# ---- checkpoints ------------------------------------------------------------------------
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
_WEIGHTS = (
    *("model.safetensors", "model.safetensors.index.json", "adapter_model.safetensors"),
    *("pytorch_model.bin", "pytorch_model.bin.index.json", "adapter_model.bin"),
)


def checkpoint_is_complete(path: Path) -> bool:
    """Whether the Trainer finished writing ``path``: its state (written last) names its step.

    Besides ``trainer_state.json`` the weights and ``optimizer.pt`` (or a DeepSpeed
    ``global_step*`` folder, which holds both) must be there: a checkpoint half-deleted by
    rotation is incomplete too.
    """
    match = _CHECKPOINT.match(path.name)
    if match is None or not path.is_dir():
        return False
    try:
        state = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(state, dict) or state.get("global_step") != int(match.group(1)):
        return False
    if any(path.glob("global_step*")):  # DeepSpeed keeps weights and optimizer state in there
        return True
    has_weights = any((path / name).is_file() for name in _WEIGHTS)
    return has_weights and (path / "optimizer.pt").is_file()


def last_complete_checkpoint(checkpoint_dir: Path) -> tuple[Path | None, list[Path]]:
    """The newest complete checkpoint in ``checkpoint_dir`` and the incomplete ones removed on the way.

    An incomplete checkpoint newer than the one returned is what a crash during a save leaves; it
    is deleted (the Trainer would otherwise try to resume from it, or rotate a good one away in
    its favour) and a warning names it and the checkpoint resumed from instead.
    """
    if not checkpoint_dir.is_dir():
        return None, []
    found = sorted(
        (int(m.group(1)), path)
        for path in checkpoint_dir.iterdir()
        if (m := _CHECKPOINT.match(path.name)) and path.is_dir()
    )
    complete: Path | None = None
    discarded: list[Path] = []
    for _, path in reversed(found):
        if not checkpoint_is_complete(path):
            discarded.append(path)
        elif complete is None:
            complete = path
    for path in discarded:
        shutil.rmtree(path, ignore_errors=True)
    if discarded:
        instead = f"resuming from {complete.name}" if complete else "none complete is left: starting over"
        log.warning(
            "%s: %s incomplete (the process stopped while saving); removed, %s",
            checkpoint_dir,
            ", ".join(path.name for path in discarded) + (" is" if len(discarded) == 1 else " are"),
            instead,
        )
    return complete, discarded


def clear_checkpoints(checkpoint_dir: Path) -> None:
    """Forget a stage's checkpoints (a fresh start instead of a resume)."""
    if checkpoint_dir.is_dir():
        shutil.rmtree(checkpoint_dir)
