from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import TrainerCallback

from knowcoder.config import LoraSettings, StageTraining, TrainConfig
from knowcoder.data.jsonl import write_jsonl
from knowcoder.errors import ConfigError
from knowcoder.modeling.loading import load_model
from knowcoder.modeling.tiny import build_tiny_model, save_model_dir
from knowcoder.modeling.tokenizer import train_tokenizer
from knowcoder.training.data import PaddingCollator, encode_example
from knowcoder.training.trainer import train_stage, training_arguments

NAMES = ["Ada Park", "Li Ming", "Acme Corp", "Bo Chen", "Kai Sun", "Mia Roth", "Zed Labs", "Ivo Hart"]


def sft_rows() -> list[dict[str, str]]:
    rows = []
    for i, name in enumerate(NAMES * 2):
        kind = "Organization" if name in ("Acme Corp", "Zed Labs") else "Person"
        rows.append(
            {
                "prompt": f'class {kind}(Entity):\n    pass\nsentence = "{name} met us {i}."\nOutput:\n',
                "target": f'results = [{kind}("{name}")]',
            }
        )
    return rows


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("train")
    rows = sft_rows()
    texts = [r["prompt"] + r["target"] for r in rows] * 3
    tokenizer = train_tokenizer(texts, vocab_size=320, min_frequency=1)
    model = build_tiny_model(
        tokenizer, hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64, seed=0
    )
    save_model_dir(model, tokenizer, root / "base")
    write_jsonl(root / "sft.jsonl", rows)
    write_jsonl(root / "pretrain.jsonl", [{"text": t} for t in texts])
    return {
        "root": root,
        "base": root / "base",
        "sft": root / "sft.jsonl",
        "pretrain": root / "pretrain.jsonl",
    }


def config(**overrides) -> StageTraining:
    values = {
        "max_length": 96,
        "max_steps": 12,
        "learning_rate": 3e-3,
        "warmup_ratio": 0.0,
        "batch_size": 4,
        "logging_steps": 1,
        "save_steps": 4,
        "save_total_limit": 5,
    }
    values.update(overrides)
    return StageTraining(**values)


def mean_target_loss(model_dir: Path, rows: list[dict[str, str]]) -> float:
    model, tokenizer = load_model(str(model_dir), padding_side="right")
    encoded = [encode_example(r["prompt"], r["target"], tokenizer, max_length=96) for r in rows]
    batch = PaddingCollator(tokenizer.pad_token_id)(encoded)
    with torch.no_grad():
        return float(model(**batch).loss)


def run(workspace, stage: str, out: str, corpus: Path, stage_config: StageTraining, **kwargs):
    root = workspace["root"]
    return train_stage(
        stage,
        init_dir=workspace["base"],
        corpus=corpus,
        output_dir=root / out / "model",
        checkpoint_dir=root / out / "checkpoints",
        config=stage_config,
        train=TrainConfig(seed=0),
        cache_dir=root / "cache",
        **kwargs,
    )


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["pretrain", "sft", "align"])
def test_a_few_steps_lower_the_loss(workspace, stage):
    corpus = workspace["pretrain"] if stage == "pretrain" else workspace["sft"]
    before = mean_target_loss(workspace["base"], sft_rows())
    result = run(workspace, stage, f"lower-{stage}", corpus, config())
    after = mean_target_loss(result.model_dir, sft_rows())
    assert after < before - 0.5, (before, after)
    metrics = json.loads(result.metrics_path.read_text())
    assert metrics["steps"] == 12 and metrics["tokens_seen"] > 0 and metrics["tokens_per_s"] > 0
    assert 0 <= metrics["padding_share"] < 1
    assert len(metrics["curve"]) == 12
    saved = sorted(p.name for p in result.model_dir.iterdir())
    assert "model.safetensors" in saved and "tokenizer.json" in saved


@pytest.mark.slow
def test_lora_stage_merges_into_a_standalone_checkpoint(workspace):
    lora = LoraSettings(
        enabled=True, r=4, alpha=8, dropout=0.0, target_modules=["q_proj", "v_proj"], merge=True
    )
    before = mean_target_loss(workspace["base"], sft_rows())
    result = run(workspace, "sft", "lora", workspace["sft"], config(lora=lora, learning_rate=1e-2))
    files = {p.name for p in result.model_dir.iterdir()}
    assert "adapter_config.json" not in files and "model.safetensors" in files
    assert mean_target_loss(result.model_dir, sft_rows()) < before


class Crash(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 6:
            raise RuntimeError("simulated crash")


@pytest.mark.slow
def test_an_interrupted_stage_resumes_and_ends_where_an_uninterrupted_one_does(workspace):
    reference = run(workspace, "sft", "straight", workspace["sft"], config())
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(workspace, "sft", "crashed", workspace["sft"], config(), callbacks=[Crash()])
    checkpoints = workspace["root"] / "crashed" / "checkpoints"
    assert (checkpoints / "checkpoint-4").is_dir() and not (workspace["root"] / "crashed" / "model").exists()

    resumed = run(workspace, "sft", "crashed", workspace["sft"], config())
    assert resumed.metrics["resumed_from"].endswith("checkpoint-4")
    assert resumed.metrics["steps"] == 12
    straight_model, _ = load_model(str(reference.model_dir))
    resumed_model, _ = load_model(str(resumed.model_dir))
    for (name, a), (_, b) in zip(
        straight_model.state_dict().items(), resumed_model.state_dict().items(), strict=True
    ):
        torch.testing.assert_close(a, b, msg=f"{name} differs after resume")


def test_deepspeed_needs_cuda(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="DeepSpeed needs a CUDA device"):
        training_arguments("sft", config(), TrainConfig(deepspeed="infra/deepspeed/zero2.json"), tmp_path)


def test_arguments_map_params(tmp_path):
    args = training_arguments("sft", config(min_lr_ratio=0.1), TrainConfig(seed=5), tmp_path)
    assert args.lr_scheduler_type == "cosine_with_min_lr" and args.lr_scheduler_kwargs == {"min_lr_rate": 0.1}
    assert args.train_sampling_strategy == "group_by_length"
    assert args.seed == args.data_seed == 5
    assert not args.bf16  # CPU: fp32
    packed = training_arguments("pretrain", config(), TrainConfig(), tmp_path)
    assert packed.train_sampling_strategy == "random"


def test_deepspeed_configs_leave_batch_settings_to_the_trainer():
    root = Path(__file__).resolve().parents[2] / "infra" / "deepspeed"
    for name, stage in (("zero2.json", 2), ("zero3.json", 3)):
        ds = json.loads((root / name).read_text())
        assert ds["zero_optimization"]["stage"] == stage
        for key in ("train_batch_size", "train_micro_batch_size_per_gpu", "gradient_accumulation_steps"):
            assert ds[key] == "auto"
        assert "optimizer" not in ds and "scheduler" not in ds


def fake_checkpoint(root: Path, step: int, *, state: str | None = None, weights: bool = True) -> Path:
    path = root / f"checkpoint-{step}"
    path.mkdir(parents=True)
    if weights:
        (path / "model.safetensors").write_bytes(b"w")
    (path / "optimizer.pt").write_bytes(b"o")
    if state is not None:
        (path / "trainer_state.json").write_text(state)
    return path


def test_only_complete_checkpoints_are_resumed_from_and_broken_ones_are_removed(tmp_path, caplog):
    from knowcoder.training.trainer import last_complete_checkpoint

    # given checkpoints 2 and 4 complete, 6 cut off before its state, 8 with its state half written,
    # and 10 without weights (a kill during rotation)
    fake_checkpoint(tmp_path, 2, state='{"global_step": 2}')
    four = fake_checkpoint(tmp_path, 4, state='{"global_step": 4}')
    fake_checkpoint(tmp_path, 6)
    fake_checkpoint(tmp_path, 8, state='{"global_st')
    fake_checkpoint(tmp_path, 10, state='{"global_step": 10}', weights=False)
    # when the stage looks for where to resume
    with caplog.at_level("WARNING"):
        complete, discarded = last_complete_checkpoint(tmp_path)
    # then it takes 4, removes the three broken ones and says so
    assert complete == four
    assert [p.name for p in discarded] == ["checkpoint-10", "checkpoint-8", "checkpoint-6"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-2", "checkpoint-4"]
    assert "checkpoint-10, checkpoint-8, checkpoint-6 are incomplete" in caplog.text
    assert "resuming from checkpoint-4" in caplog.text


def test_a_state_naming_another_step_is_not_complete(tmp_path):
    from knowcoder.training.trainer import checkpoint_is_complete, last_complete_checkpoint

    path = fake_checkpoint(tmp_path, 6, state='{"global_step": 4}')
    assert not checkpoint_is_complete(path)
    assert last_complete_checkpoint(tmp_path / "missing") == (None, [])
