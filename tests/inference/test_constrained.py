"""Schema-constrained decoding: the token mask, and a random model held to the grammar of answers.

The grammar itself is tested in ``test_grammar.py``; its sentences and targets are reused here.
"""

from __future__ import annotations

import pytest
import torch

from knowcoder.inference.constrained import SchemaConstraint, TokenTrie, token_bytes
from knowcoder.inference.extract import ExtractionRequest, Extractor
from knowcoder.inference.grammar import END
from knowcoder.modeling.tiny import build_tiny_model
from knowcoder.modeling.tokenizer import train_tokenizer
from knowcoder.parser import parse_results
from knowcoder.prompts import PromptBuilder
from knowcoder.records import EntityRecord, EventRecord, RelationRecord, TriggerRecord
from knowcoder.tasks import get_task
from tests.inference.scripted import scripted_decode

from .test_grammar import CASES, INSTANCES, TASK_NAMES, grammar_for, hire_grammar


@pytest.fixture(scope="module")
def builder(mini_ontology) -> PromptBuilder:
    return PromptBuilder(mini_ontology)


# ---- tokens and the processor -------------------------------------------------------------------
@pytest.fixture(scope="module")
def tokenizer(builder):
    corpus = [part for case in CASES for part in builder.example(*case)]
    return train_tokenizer(corpus * 2, vocab_size=900)


@pytest.fixture(scope="module")
def trie(tokenizer) -> TokenTrie:
    return TokenTrie.from_tokenizer(tokenizer)


def test_token_bytes_spell_the_text_back(tokenizer):
    text = 'Location("上海\\\\浦东"), Person("Ada\tPark")'
    pieces = token_bytes(tokenizer)
    assert b"".join(pieces[t] for t in tokenizer(text)["input_ids"]) == text.encode()
    assert not set(pieces) & set(tokenizer.all_special_ids)


@pytest.mark.parametrize(
    ("instance", "task"), [(INSTANCES[0], "ner"), (INSTANCES[1], "eae"), (INSTANCES[7], "re")]
)
def test_mask_allows_exactly_the_tokens_the_grammar_allows(builder, tokenizer, trie, instance, task):
    grammar = grammar_for(builder, instance, task)
    target = builder.example(instance, task)[1]
    steps = [*tokenizer(target)["input_ids"], tokenizer.eos_token_id]
    pieces = token_bytes(tokenizer)
    constraint = SchemaConstraint([grammar], trie, tokenizer.eos_token_id)
    ids = torch.tensor([[tokenizer.bos_token_id] * 3])  # a stand-in prompt
    state = grammar.initial
    for token in steps:
        scores = constraint(ids, torch.zeros(1, len(tokenizer)))
        allowed = set(torch.nonzero(scores[0] > float("-inf")).flatten().tolist())
        expected = {t for t, data in pieces.items() if grammar.advance(state, data) is not None}
        assert allowed == (expected | {tokenizer.eos_token_id} if state == END else expected)
        assert token in allowed
        state = grammar.advance(state, pieces.get(token, b"")) if state != END else state
        ids = torch.cat([ids, torch.tensor([[token]])], dim=1)


def test_constraint_checks_its_batch_and_budget(builder, trie, tokenizer):
    grammar = hire_grammar(builder, "ner")
    # the budget counts tokens: "results", " =", " [", "]" and EOS, not the 12 bytes and EOS
    assert [trie.spell(b"results = ["), trie.spell(b"]")] == [3, 1]
    assert grammar.shortest_completion(grammar.initial, trie) == 4
    assert grammar.shortest_completion(grammar.initial) == len("results = []")
    with pytest.raises(ValueError, match="at least 5"):
        SchemaConstraint([grammar], trie, tokenizer.eos_token_id, max_new_tokens=4)
    constraint = SchemaConstraint([grammar], trie, tokenizer.eos_token_id)
    with pytest.raises(ValueError, match="2 rows but 1 grammars"):
        constraint(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, len(tokenizer)))


# ---- a random-weight model, with and without the constraint --------------------------------------
@pytest.fixture(scope="module")
def model(tokenizer):
    # seed 1: a model whose greedy choices open objects in all four tasks (seed 0 closes NER/RE at once)
    return build_tiny_model(tokenizer, hidden_size=32, num_layers=2, num_heads=4, seed=1).eval()


@pytest.fixture(scope="module")
def jobs(builder):
    """(task, request, allowed, grammar) for every instance and task: 32 requests."""
    out = []
    for instance, task in CASES:
        types = tuple(get_task(task).positive_types(instance))
        gold = tuple(get_task(task).gold_records(instance, builder.ontology) or ())
        request = ExtractionRequest(
            f"{instance.id}:{task}", task, instance.text, types, instance.dataset, instance.lang, gold
        )
        # the prompt the extractor writes is the training prompt of the instance
        assert (
            builder.prompt(request.text, task, types, dataset=request.dataset, given=gold)
            == (builder.example(instance, task)[0])
        )
        allowed = builder.allowed(task, types, instance.text)
        out.append((task, request, allowed, grammar_for(builder, instance, task)))
    return out


def _extractor(model, tokenizer, builder, *, constrained: bool, max_new_tokens: int = 48) -> Extractor:
    return Extractor(
        model, tokenizer, builder, batch_size=64, max_new_tokens=max_new_tokens, constrained=constrained
    )


def _generate(model, tokenizer, builder, jobs, *, constrain: bool, **kwargs) -> list[str]:
    """The extractor's outputs for the jobs' requests, generated in one batch."""
    extractor = _extractor(model, tokenizer, builder, constrained=constrain, **kwargs)
    return [text for text, _, _ in extractor.generate([j[1] for j in jobs])]


def _spans_and_types(record) -> tuple[list[str], set[str], set[str]]:
    """(spans, task classes, entity classes) a record names."""
    if isinstance(record, EntityRecord):
        return [record.text], {record.type}, set()
    if isinstance(record, TriggerRecord):
        return [record.trigger], {record.type}, set()
    if isinstance(record, RelationRecord):
        return [record.head.text, record.tail.text], {record.type}, {record.head.type, record.tail.type}
    assert isinstance(record, EventRecord)
    spans = [record.trigger, *(a.text for a in record.arguments)]
    return spans, {record.type}, {a.type for a in record.arguments}


def test_constrained_random_model_always_writes_parseable_in_schema_results(model, tokenizer, builder, jobs):
    outputs = _generate(model, tokenizer, builder, jobs, constrain=True)
    objects = dict.fromkeys(TASK_NAMES, 0)
    for (task, _, allowed, grammar), output in zip(jobs, outputs, strict=True):
        assert grammar.accepts(output), output
        report = parse_results(output, task, allowed).report
        assert report.parseable, output
        assert (report.kept, report.unknown_types, report.spans_not_found) == (report.objects, {}, 0), output
        assert (report.bad_shapes, report.unknown_roles) == (0, 0), output
        for record in parse_results(output, task).records:  # unchecked parse: nothing was dropped above
            spans, types, entity_types = _spans_and_types(record)
            assert all(span and span in allowed.sentence for span in spans), output
            assert types <= allowed.types and entity_types <= allowed.entity_types, output
            if isinstance(record, EventRecord):
                assert {a.role for a in record.arguments} <= allowed.roles[record.type], output
        objects[task] += report.objects
    assert min(objects.values()) >= len(INSTANCES)  # objects of every task, not just empty lists


def test_unconstrained_random_model_writes_garbage(model, tokenizer, builder, jobs):
    outputs = _generate(model, tokenizer, builder, jobs, constrain=False)
    reports = [parse_results(o, task, allowed).report for (task, _, allowed, _), o in zip(jobs, outputs)]
    assert sum(r.parseable for r in reports) == 0
    assert sum(r.kept for r in reports) == 0


def test_constraint_holds_when_sampling(model, tokenizer, builder, trie, jobs):
    # the extractor decodes greedily; here its batch and its constraint go to generate() with sampling
    torch.manual_seed(0)
    picked = [jobs[4 * i + i % 4] for i in range(len(INSTANCES))]  # one task per instance, all four tasks
    extractor = _extractor(model, tokenizer, builder, constrained=True)
    requests = [request for _, request, _, _ in picked]
    with torch.inference_mode():
        ids, mask, cache = extractor._batch_inputs(
            [extractor.prompt_ids(r)[0] for r in requests], torch.device("cpu")
        )
        generated = model.generate(
            input_ids=ids,
            attention_mask=mask,
            past_key_values=cache,
            max_new_tokens=extractor.max_new_tokens,
            do_sample=True,
            logits_processor=extractor._constraint(requests),
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    rows = generated[:, ids.shape[1] :].tolist()
    outputs = [b"".join(trie.tokens.get(t, b"") for t in row).decode() for row in rows]
    assert all(grammar.accepts(o) for (_, _, _, grammar), o in zip(picked, outputs, strict=True))


def test_a_tight_budget_forces_the_empty_answer(model, tokenizer, builder, trie, jobs):
    grammars = [jobs[0][3], jobs[1][3]]
    outputs = _generate(model, tokenizer, builder, jobs[:2], constrain=True, max_new_tokens=5)
    assert outputs == ["results = []", "results = []"]
    # 13 tokens (once counted as 13 bytes, just the empty answer) leave room for an item
    constraint = SchemaConstraint(grammars[:1], trie, tokenizer.eos_token_id, max_new_tokens=13)
    opened = torch.tensor([[tokenizer.bos_token_id] * 3 + tokenizer("results = [")["input_ids"]])
    constraint(opened[:, :3], torch.zeros(1, len(tokenizer)))
    for step in range(4, opened.shape[1] + 1):
        scores = constraint(opened[:, :step], torch.zeros(1, len(tokenizer)))
    allowed = {tokenizer.decode([t]) for t in torch.nonzero(scores[0] > float("-inf")).flatten().tolist()}
    assert "]" in allowed and "Person" in allowed


# ---- items repeat no more often than their span occurs ------------------------------------------
def _scripted(grammar, trie, tokenizer, script: str, *, cap_repeats: bool = True, steps: int = 80) -> str:
    """The scripted stand-in model (``scripted_decode``) with the tiny tokenizer."""
    eos = tokenizer.eos_token_id
    return scripted_decode(
        grammar,
        trie,
        eos,
        len(tokenizer),
        script,
        prompt_id=tokenizer.bos_token_id,
        steps=steps,
        cap_repeats=cap_repeats,
    )


@pytest.mark.parametrize(
    ("sentence", "item", "kept"),
    [
        ("Ada Park joined Acme Corp.", 'Person("Ada Park")', 1),
        ("Ada Park met Ada Park's twin at Acme Corp.", 'Person("Ada Park")', 2),
        ("Ada Park joined Acme Corp", 'Company("Acme Corp")', 1),  # the span ends the sentence
    ],
)
def test_an_item_repeats_only_as_often_as_its_span_occurs(builder, trie, tokenizer, sentence, item, kept):
    grammar = hire_grammar(builder, "ner", sentence)
    script = f"results = [{item}, {item}, {item}]"
    capped = _scripted(grammar, trie, tokenizer, script)
    assert grammar.accepts(capped), capped
    records = [f'{r.type}("{r.text}")' for r in parse_results(capped, "ner").records]
    assert records.count(item) == kept, capped
    free = _scripted(grammar, trie, tokenizer, script, cap_repeats=False)
    assert free == script  # the contrast: without the cap, the loop is written as wanted


def test_a_role_argument_repeats_only_as_often_as_its_span_occurs(builder, trie, tokenizer):
    grammar = hire_grammar(builder, "eae")
    person = 'Person("Ada Park")'
    script = f'results = [StartPosition(trigger="joined", employee=[{person}, {person}, {person}])]'
    capped = _scripted(grammar, trie, tokenizer, script)
    assert grammar.accepts(capped), capped
    (event, *_) = parse_results(capped, "eae").records
    assert [a.text for a in event.arguments if a.role == "employee"].count("Ada Park") == 1, capped
    assert _scripted(grammar, trie, tokenizer, script, cap_repeats=False) == script
