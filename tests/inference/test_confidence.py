"""Per-record confidence: the geometric mean probability of the tokens that wrote each record."""

from __future__ import annotations

import math

import pytest
import torch

from knowcoder.inference.confidence import TokenLogProbs, item_spans, record_confidences, span_confidence
from knowcoder.inference.extract import ExtractionRequest, Extractor, requests_for
from knowcoder.modeling.tiny import build_tiny_model, save_model_dir
from knowcoder.modeling.tokenizer import train_tokenizer
from knowcoder.parser import parse_results
from knowcoder.prompts import PromptBuilder, PromptOptions
from knowcoder.tasks.base import Allowed

from ..conftest import REPO

OPTIONS = PromptOptions(system=False, descriptions=False)
SENTENCES = ("Ada Park joined Acme Corp in Paris.", "Bo met Li Ming in Wuhan today.", "Ada left.")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory, mini_ontology):
    builder = PromptBuilder(mini_ontology, OPTIONS)
    texts = [
        builder.prompt(s, "ner", ["Person", "Company"]) + 'results = [Person("Ada Park")]' for s in SENTENCES
    ]
    tokenizer = train_tokenizer(texts * 10, vocab_size=320, min_frequency=1)
    model = build_tiny_model(
        tokenizer, hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64, seed=5
    )
    return save_model_dir(model, tokenizer, tmp_path_factory.mktemp("tiny") / "model")


def ner_requests() -> list[ExtractionRequest]:
    return [ExtractionRequest(f"r{i}", "ner", s, ("Person", "Company")) for i, s in enumerate(SENTENCES)]


def test_the_processor_reads_a_forced_token_at_its_known_probability():
    # given: two steps over 3 tokens; the first picks token 0 at p=0.8, the second token 2 at p=0.5
    first = torch.log(torch.tensor([[0.8, 0.15, 0.05]]))
    second = torch.log(torch.tensor([[0.25, 0.25, 0.5]]))
    recorder = TokenLogProbs()
    # when: generate calls it with the ids so far (the step's pick appears at the next call)
    assert recorder(torch.tensor([[7]]), first) is first  # scores pass through untouched
    recorder(torch.tensor([[7, 0]]), second)
    table = recorder.table(torch.tensor([[0, 2]]))
    # then
    assert table.exp()[0].tolist() == pytest.approx([0.8, 0.5])
    # and a record written by both tokens gets their geometric mean, sqrt(0.8 * 0.5)
    assert span_confidence([3, 6], table[0].tolist(), (0, 6)) == pytest.approx(math.sqrt(0.4))
    assert span_confidence([3, 6], table[0].tolist(), (4, 5)) == pytest.approx(0.5)  # only the second


def test_items_of_the_results_list_and_which_record_each_wrote():
    output = 'results = [Person("Ada, Park"), Company("Acme")] extra'
    spans = item_spans(output)
    assert [output[a:b] for a, b in spans] == ['Person("Ada, Park")', 'Company("Acme")']
    cut = 'results = [Person("Ada"), Company("Ac'
    assert [cut[a:b] for a, b in item_spans(cut)] == ['Person("Ada")', 'Company("Ac']
    # a record gets the tokens of its own item: here one token per character, the Company ones at p=0.5
    text = "Ada, Park joined Acme Corp."
    allowed = Allowed(types=frozenset({"Person", "Company"}), sentence=text)
    records = parse_results(output, "ner", allowed).records
    logprobs = [math.log(0.5) if 32 <= i < 47 else math.log(0.9) for i in range(len(output))]
    ends = list(range(1, len(output) + 1))
    got = record_confidences(output, records, ends, logprobs, "ner", allowed)
    assert [r.type for r in records] == ["Person", "Company"]
    assert got == pytest.approx([0.9, 0.5])


def test_confidence_is_a_probability_deterministic_and_the_same_in_a_batch(
    tiny_dir, mini_ontology, hire_instance
):
    builder = PromptBuilder(mini_ontology, OPTIONS)
    extractor = Extractor.load(tiny_dir, builder, batch_size=8, max_new_tokens=32, constrained=True)
    batch = [
        r for task in ("ner", "re", "ed", "eae") for r in requests_for([hire_instance], task, mini_ontology)
    ]
    batch += ner_requests()
    first = extractor.extract(batch)
    assert sum(len(p.records) for p in first) >= 3  # the grammar makes a random model write records
    for prediction in first:
        assert len(prediction.confidences) == len(prediction.records)
        assert all(0 < c <= 1 for c in prediction.confidences)
        rows = prediction.to_dict()["records"]
        assert [{k: v for k, v in row.items() if k != "confidence"} for row in rows] == [
            r.to_dict() for r in prediction.records
        ]  # the records are as they were; confidence sits beside their fields
    again = extractor.extract(batch)
    assert [p.confidences for p in again] == [p.confidences for p in first]
    extractor.batch_size = 1  # alone, no left padding: the same records, the same confidence
    alone = extractor.extract(batch)
    assert [p.records for p in alone] == [p.records for p in first]
    for one, together in zip(alone, first, strict=True):
        assert one.confidences == pytest.approx(together.confidences, rel=1e-4)


def test_recorded_log_probabilities_are_the_models_own_for_the_written_tokens(tiny_dir, mini_ontology):
    """Teacher-forced: one forward pass over prompt and output gives the same log-probabilities."""
    builder = PromptBuilder(mini_ontology, OPTIONS)
    extractor = Extractor.load(tiny_dir, builder, batch_size=4, max_new_tokens=10)
    batch = ner_requests()
    written = extractor.generate_scored(batch)
    for request, (row, _, _) in zip(batch, written, strict=True):
        prompt, _ = extractor.prompt_ids(request)
        new = extractor.tokenizer(row.text, add_special_tokens=False)["input_ids"][: len(row.logprobs)]
        ids = torch.tensor([prompt + new])
        with torch.inference_mode():
            logits = extractor.model(input_ids=ids).logits[0, len(prompt) - 1 : -1]
        expected = torch.log_softmax(logits.float(), -1).gather(-1, torch.tensor(new)[:, None]).squeeze(-1)
        assert row.logprobs[: len(new)] == pytest.approx(expected.tolist(), abs=1e-4)
        assert len(row.ends) == len(row.logprobs) and row.ends[-1] <= len(row.text)


def test_a_fixed_distribution_gives_every_record_its_known_probability(tiny_dir, mini_ontology):
    """A forced choice of known probability: an output layer that ignores the hidden state (zero
    weights) and whose bias is 0 for every token but ``]`` and end-of-sequence (-3) gives every
    other token p = 1 / (V - 2 + 2 e^-3) at every step; the grammar decides what is written, and each
    record (none of whose tokens is ``]``) gets exactly that."""
    builder = PromptBuilder(mini_ontology, OPTIONS)
    extractor = Extractor.load(tiny_dir, builder, batch_size=4, max_new_tokens=32, constrained=True)
    config, tokenizer = extractor.model.config, extractor.tokenizer
    head = torch.nn.Linear(config.hidden_size, config.vocab_size, bias=True)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        low = [i for token, i in tokenizer.get_vocab().items() if "]" in token] + [tokenizer.eos_token_id]
        head.bias[low] = -3.0
    extractor.model.lm_head = head
    predictions = extractor.extract(ner_requests())
    expected = 1 / (config.vocab_size - len(low) + len(low) * math.exp(-3))
    confidences = [c for p in predictions for c in p.confidences]
    assert confidences, [p.output for p in predictions]
    assert all("]" not in r.text for p in predictions for r in p.records)
    assert confidences == pytest.approx([expected] * len(confidences), rel=1e-5)


# ---- SmolLM2-135M-Instruct, a real pretrained model ----------------------------------------------
SMOL_DIR = REPO / "models" / "smollm2-135m-instruct"


@pytest.fixture(scope="module")
def smol_extractor(mini_ontology):
    if not (SMOL_DIR / "config.json").is_file():
        pytest.fail(f"{SMOL_DIR} is missing: run `make models` (the test target does) to import SmolLM2")
    builder = PromptBuilder(mini_ontology, OPTIONS)
    return Extractor.load(SMOL_DIR, builder, dtype="float32", batch_size=4, max_new_tokens=24)


def smol_batch() -> list[ExtractionRequest]:
    return [
        ExtractionRequest("a", "ner", "Ada Park joined Acme Corp in Paris.", ("Person", "Company")),
        ExtractionRequest(
            "b", "ner", "Bo Li met Ada Park at the Bo Bank office in Wuhan today.", ("Person",)
        ),
    ]


@pytest.mark.real_model
@pytest.mark.slow
def test_smollm2_constrained_records_get_confidence_alone_and_in_a_left_padded_batch(smol_extractor):
    smol_extractor.constrained = True
    together = smol_extractor.extract(smol_batch())
    assert sum(len(p.records) for p in together) >= 2, [p.output for p in together]
    for prediction in together:
        assert len(prediction.confidences) == len(prediction.records)
        assert all(0 < c <= 1 for c in prediction.confidences)
    assert smol_extractor.extract(smol_batch())[0].confidences == together[0].confidences  # deterministic
    smol_extractor.batch_size = 1
    try:
        alone = smol_extractor.extract(smol_batch())
    finally:
        smol_extractor.batch_size = 4
    assert [p.records for p in alone] == [p.records for p in together]
    for one, both in zip(alone, together, strict=True):
        assert one.confidences == pytest.approx(both.confidences, rel=1e-3)


@pytest.mark.real_model
@pytest.mark.slow
def test_smollm2_unconstrained_log_probabilities_are_the_models_own(smol_extractor):
    """Without a constraint SmolLM2-135M writes prose here (no records), so the token scores are
    checked directly: the same in a left-padded batch as alone, and equal to a teacher-forced pass."""
    smol_extractor.constrained = False
    together = smol_extractor.generate_scored(smol_batch())
    smol_extractor.batch_size = 1
    try:
        alone = smol_extractor.generate_scored(smol_batch())
    finally:
        smol_extractor.batch_size = 4
    for (one, _, _), (both, _, _) in zip(alone, together, strict=True):
        assert one.text == both.text
        assert one.logprobs == pytest.approx(both.logprobs, abs=1e-3)
        assert all(p <= 0 for p in one.logprobs) and one.ends == both.ends
    request, (written, _, _) = smol_batch()[0], alone[0]
    prompt, _ = smol_extractor.prompt_ids(request)
    new = smol_extractor.tokenizer(written.text, add_special_tokens=False)["input_ids"][:12]
    with torch.inference_mode():
        logits = smol_extractor.model(input_ids=torch.tensor([prompt + new])).logits[0, len(prompt) - 1 : -1]
    expected = torch.log_softmax(logits.float(), -1).gather(-1, torch.tensor(new)[:, None]).squeeze(-1)
    assert written.logprobs[: len(new)] == pytest.approx(expected.tolist(), abs=1e-3)
