"""Every path of the project on a real pretrained checkpoint: SmolLM2-135M-Instruct.

Import, load, generate, LoRA training and merging with the architecture's own module names,
constrained extraction through the CLI in English and Chinese, the context budget, the MLflow
pyfunc and the HTTP server.
"""

from __future__ import annotations

import json
import re
import shutil

import mlflow
import pytest
import torch
from fastapi.testclient import TestClient

from knowcoder.cli.main import main
from knowcoder.config import LoraSettings, StageTraining, TrainConfig
from knowcoder.errors import ConfigError
from knowcoder.inference.extract import ExtractionRequest, Extractor, requests_for
from knowcoder.modeling.convert import MANIFEST
from knowcoder.modeling.loading import load_model
from knowcoder.prompts import PromptBuilder, PromptOptions
from knowcoder.schema.ontology import load_ontology
from knowcoder.serving.pyfunc import log_pyfunc_model
from knowcoder.serving.server import create_app
from knowcoder.stages.evaluate import read_gold
from knowcoder.training.trainer import lora_targets, train_stage

from ..conftest import FIXTURES, REPO

pytestmark = [pytest.mark.real_model, pytest.mark.slow]

LLAMA_PROJECTIONS = ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]
SHORT = {"system": False, "descriptions": False}


def _pinned_sha256() -> str:
    (line,) = [row for row in (REPO / "Makefile").read_text().splitlines() if row.startswith("SMOL_SHA256")]
    return line.split("?=")[1].strip()


def test_the_import_records_the_pinned_file_and_no_machine_path(smol_dir):
    manifest = json.loads((smol_dir / MANIFEST).read_text())
    assert manifest == {
        "source": "SmolLM2-135M-Instruct.Q4_1.gguf",
        "format": "gguf",
        "sha256": _pinned_sha256(),
        "size_bytes": 98_362_432,
        "architecture": "LlamaForCausalLM",
        "parameters": 134_515_008,
        "vocab_size": 49_152,
        "dtype": "float32",
    }
    config = json.loads((smol_dir / "config.json").read_text())
    assert "quantization_config" not in config  # loads as an ordinary checkpoint
    assert not any(str(value).startswith("/") for value in config.values())
    assert sorted(p.name for p in smol_dir.glob("*.safetensors")) == ["model.safetensors"]
    assert not list(smol_dir.glob("*.bin"))


def test_loads_by_path_as_a_plain_llama_with_its_own_tokenizer(smol):
    model, tokenizer = smol
    assert type(model).__name__ == "LlamaForCausalLM"
    assert (model.config.num_hidden_layers, model.config.hidden_size, model.config.vocab_size) == (
        30,
        576,
        49152,
    )
    assert model.config.tie_word_embeddings and model.lm_head.weight is model.model.embed_tokens.weight
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token) == (
        "<|im_start|>",
        "<|im_end|>",
        "<|im_end|>",
    )
    assert tokenizer.padding_side == "left"
    assert "<|im_start|>assistant" in tokenizer.chat_template


def test_generates_with_its_chat_template(smol):
    model, tokenizer = smol
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    inputs = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    answer = tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer


def test_lora_targets_are_the_architectures_own_projection_names(smol):
    model, _ = smol
    assert lora_targets(model, ["auto"]) == LLAMA_PROJECTIONS
    assert lora_targets(model, ["q_proj", "v_proj"]) == ["q_proj", "v_proj"]
    with pytest.raises(ConfigError, match=r"no linear module named 'query_key_value'; its linear modules"):
        lora_targets(model, ["q_proj", "query_key_value"])


def test_merged_lora_model_equals_the_adapter_model(smol_dir):
    from peft import LoraConfig, get_peft_model

    model, tokenizer = load_model(smol_dir, dtype="float32", device="cpu")
    base_q = model.model.layers[0].self_attn.q_proj.weight.detach().clone()
    config = LoraConfig(
        r=8, lora_alpha=16, target_modules=lora_targets(model, ["auto"]), init_lora_weights=False
    )
    adapted = get_peft_model(model, config)
    batch = tokenizer(["results = [Person(", 'sentence = "北京"'], return_tensors="pt", padding=True)
    with torch.inference_mode():
        before = adapted(**batch).logits
        merged = adapted.merge_and_unload()
        after = merged(**batch).logits
    assert not torch.equal(merged.model.layers[0].self_attn.q_proj.weight, base_q)
    # 30 layers of float32 in another order: logits of size ~10 agree to about 1e-4
    torch.testing.assert_close(after, before, rtol=1e-3, atol=1e-3)


def test_a_lora_stage_trains_and_merges_into_a_standalone_checkpoint(smol_dir, tmp_path):
    corpus = tmp_path / "sft.jsonl"
    rows = [
        {"prompt": f'sentence = "{name} joined Acme."\nOutput:\n', "target": f'results = [Person("{name}")]'}
        for name in ("Ada Park", "Li Ming", "Bo Chen", "Eva Moss")
    ]
    corpus.write_text("".join(json.dumps(row) + "\n" for row in rows))
    config = StageTraining(
        max_length=64,
        max_steps=2,
        batch_size=2,
        learning_rate=1e-3,
        warmup_ratio=0.0,
        logging_steps=1,
        save_steps=10,
        lora=LoraSettings(enabled=True, r=4, alpha=8, dropout=0.0, merge=True),
    )
    result = train_stage(
        "sft",
        init_dir=smol_dir,
        corpus=corpus,
        output_dir=tmp_path / "models" / "sft",
        checkpoint_dir=tmp_path / "checkpoints",
        config=config,
        train=TrainConfig(),
        cache_dir=tmp_path / "cache",
        dtype="float32",
    )
    assert result.metrics["steps"] == 2 and result.metrics["examples"] == 4
    assert not (result.model_dir / "adapter_config.json").exists()  # merged, not an adapter
    base, _ = load_model(smol_dir, dtype="float32", device="cpu")
    tuned, _ = load_model(result.model_dir, dtype="float32", device="cpu")
    base_state, tuned_state = base.state_dict(), tuned.state_dict()
    assert base_state.keys() == tuned_state.keys()
    changed = {name for name in base_state if not torch.equal(base_state[name], tuned_state[name])}
    assert {name.rsplit(".", 2)[-2] for name in changed} == set(LLAMA_PROJECTIONS)
    assert "model.embed_tokens.weight" not in changed


@pytest.fixture(scope="module")
def sample_test():
    return read_gold([REPO / "data/raw/sample/en.jsonl", REPO / "data/raw/sample/zh.jsonl"], "test")


def test_constrained_zero_shot_output_always_parses_on_the_sample_test_split(smol, sample_test):
    model, tokenizer = smol
    ontology = load_ontology(REPO / "data/ontology.yaml")
    builder = PromptBuilder(ontology, PromptOptions(**SHORT))
    extractor = Extractor(model, tokenizer, builder, max_new_tokens=32, constrained=True, batch_size=24)
    requests = [r for task in ("ner", "re", "ed", "eae") for r in requests_for(sample_test, task, ontology)]
    # 12 sentences for NER, RE and ED; EAE only where events are given (8 of them)
    with_events = sum(1 for instance in sample_test if instance.events)
    assert len(requests) == 36 + with_events == 44 and {r.lang for r in requests} == {"en", "zh"}
    predictions = extractor.extract(requests)
    for prediction in predictions:
        report = prediction.report
        assert report.parseable or report.truncated, prediction.output
        assert not report.unknown_types and report.spans_not_found == 0, prediction.output
        assert report.syntax_errors == report.bad_shapes == report.unknown_roles == 0, prediction.output
        defined = ontology.with_types(prediction.request.types)  # the prompt defines their ancestors too
        for record in prediction.records:
            assert record.type in defined


def test_extract_cli_on_model_base_returns_records_in_english_and_chinese(smol_dir, capsys):
    ontology = load_ontology(REPO / "data/ontology.yaml")
    cases = [
        ("Ada Park joined Acme Corp in Paris.", "Person,Company,City"),
        ("李明在北京加入了华为。", "Person,Company,City"),
    ]
    for text, types in cases:
        argv = ["--set", f"model.base={smol_dir}", "--set", "evaluation.max_new_tokens=48"]
        argv += ["extract", "--constrained", "--task", "ner", "--types", types, "--text", text]
        assert main(argv) == 0
        payload = json.loads(capsys.readouterr().out)
        assert payload["report"]["parseable"] is True, payload["output"]
        assert payload["records"], payload["output"]
        defined = ontology.with_types(types.split(","))  # the classes and the ancestors the prompt defines
        for record in payload["records"]:
            assert record["type"] in defined
            assert record["text"] in text
            assert 0 < record["confidence"] <= 1


def test_over_long_prompts_are_cut_to_the_models_positions(smol):
    model, tokenizer = smol
    builder = PromptBuilder(load_ontology(FIXTURES / "mini_ontology.yaml"), PromptOptions(**SHORT))
    room = model.config.max_position_embeddings - 8000
    extractor = Extractor(model, tokenizer, builder, max_new_tokens=8000)
    head, tail = extractor.prompt_budget()
    assert (head, tail) == (room * 1500 // 3500, room - room * 1500 // 3500)
    long_text = " ".join(["Ada Park joined Acme Corp in Paris."] * 60)
    ids, cut = extractor.prompt_ids(ExtractionRequest("long", "ner", long_text, ("Person",)))
    full = builder.prompt(long_text, "ner", ("Person",))
    full_ids = [tokenizer.bos_token_id, *tokenizer(full, add_special_tokens=False)["input_ids"]]
    assert cut and len(ids) == room < len(full_ids)
    assert ids == full_ids[:head] + full_ids[-tail:]


# ---- the packaged model --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def registered(tmp_path_factory, smol_dir):
    """SmolLM2 logged as the knowcoder-ie pyfunc, version 1 with alias champion, in a SQLite store."""
    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root}/mlflow.db"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        experiment = mlflow.create_experiment("smol", artifact_location=(root / "artifacts").as_uri())
        ontology = root / "ontology.yaml"
        shutil.copy(FIXTURES / "mini_ontology.yaml", ontology)
        options = {**SHORT, "max_new_tokens": 32, "constrained": True}
        with mlflow.start_run(experiment_id=experiment):
            info = log_pyfunc_model(smol_dir, ontology, options, registered_model_name="knowcoder-ie")
        mlflow.MlflowClient().set_registered_model_alias(
            "knowcoder-ie", "champion", info.registered_model_version
        )
        yield uri
    finally:
        mlflow.set_tracking_uri(previous)


def test_the_pyfunc_loads_and_predicts(registered):
    model = mlflow.pyfunc.load_model("models:/knowcoder-ie@champion")
    (row,) = model.predict([{"text": "Ada Park joined Acme Corp in Paris.", "types": ["Person", "Company"]}])
    assert set(row["report"]) == {"ner"} and row["report"]["ner"]["parseable"] is True
    assert all(e["type"] in {"Person", "Company"} and e["text"] in row["text"] for e in row["entities"])


def test_the_server_answers_one_request(registered):
    app = create_app("models:/knowcoder-ie@champion", tracking_uri=registered)
    with TestClient(app) as client:
        answer = client.post("/predict", json={"text": "Li Ming was hired by Bo Bank.", "types": ["Person"]})
    assert answer.status_code == 200, answer.text
    (prediction,) = answer.json()["predictions"]
    assert prediction["report"]["ner"]["parseable"] is True
    assert all(re.fullmatch(r"Person", e["type"]) for e in prediction["entities"])
