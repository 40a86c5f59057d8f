"""Schema-constrained decoding: the grammar of answers, the token mask, and a random model held to it."""

from __future__ import annotations

import pytest
import torch

from knowcoder.data.instance import Instance
from knowcoder.data.jsonl import read_instances
from knowcoder.inference.constrained import SchemaConstraint, TokenTrie, constrained_generate, token_bytes
from knowcoder.inference.grammar import END, ResultsGrammar
from knowcoder.modeling.tiny import build_tiny_model
from knowcoder.modeling.tokenizer import train_tokenizer
from knowcoder.parser import parse_results
from knowcoder.prompts import PromptBuilder
from knowcoder.records import EntityRecord, EventRecord, RelationRecord, TriggerRecord
from knowcoder.schema.literals import py_str
from knowcoder.tasks import get_task
from knowcoder.tasks.base import Allowed
from tests.inference.scripted import scripted_decode

from ..conftest import REPO

TASK_NAMES = ("ner", "re", "ed", "eae")
# (text, its entities as (span, class) in role order: employee, employer, place; the trigger)
SENTENCES = [
    (
        'Ada Park joined Acme Corp in "Paris".',
        [("Ada Park", "Person"), ("Acme Corp", "Company"), ('"Paris"', "Location")],
        "joined",
    ),
    (
        '李明于2020年加入"星河科技"，办公室在上海\\浦东。',
        [("李明", "Person"), ('"星河科技"', "Company"), ("上海\\浦东", "Location")],
        "加入",
    ),
    (
        "Ada\tPark joined Acme Corp;\nshe moved to Seville.",
        [("Ada\tPark", "Person"), ("Acme Corp", "Company"), ("Seville", "Location")],
        "joined",
    ),
    (
        "Li Ming was hired by Orion Systems in Vienna.",
        [("Li Ming", "Person"), ("Orion Systems", "Organization"), ("Vienna", "Location")],
        "hired",
    ),
    ("王磊加入了星河科技。", [("王磊", "Person"), ("星河科技", "Company")], "加入"),
    (
        "Kenji Watanabe joined Orion Systems in Osaka.",
        [("Kenji Watanabe", "Person"), ("Orion Systems", "Company"), ("Osaka", "Location")],
        "joined",
    ),
    (
        "The council hired Maria Lopez in Seville.",
        [("Maria Lopez", "Person"), ("The council", "Organization"), ("Seville", "Location")],
        "hired",
    ),
    (
        '张伟在北京加入了"华为"公司。',
        [("张伟", "Person"), ('"华为"', "Company"), ("北京", "Location")],
        "加入",
    ),
]
ROLES = ("employee", "employer", "place")  # of the entities above, in order


def _instance(number: int, text: str, entities: list[tuple[str, str]], trigger: str) -> Instance:
    spans = [(text.index(span), text.index(span) + len(span), kind) for span, kind in entities]
    start = text.index(trigger)
    return Instance.model_validate(
        {
            "id": f"constrained-{number}",
            "dataset": "test",
            "lang": "zh" if not text.isascii() else "en",
            "text": text,
            "entities": [{"start": s, "end": e, "type": kind} for s, e, kind in spans],
            "relations": [{"type": "Employment", "head": 0, "tail": 1}],
            "events": [
                {
                    "type": "StartPosition",
                    "trigger": {"start": start, "end": start + len(trigger)},
                    "arguments": [{"role": r, "start": s, "end": e} for r, (s, e, _) in zip(ROLES, spans)],
                }
            ],
        }
    )


INSTANCES = [_instance(i, *row) for i, row in enumerate(SENTENCES)]
CASES = [(instance, task) for instance in INSTANCES for task in TASK_NAMES]


@pytest.fixture(scope="module")
def builder(mini_ontology) -> PromptBuilder:
    return PromptBuilder(mini_ontology)


def _grammar(builder: PromptBuilder, instance: Instance, task: str) -> ResultsGrammar:
    return ResultsGrammar.for_prompt(builder, task, get_task(task).positive_types(instance), instance.text)


HIRE_TYPES = {
    "ner": ["Person", "Company"],
    "re": ["Employment"],
    "ed": ["StartPosition"],
    "eae": ["StartPosition"],
}


def _hire_grammar(builder: PromptBuilder, task: str, sentence: str = INSTANCES[0].text) -> ResultsGrammar:
    return ResultsGrammar.for_prompt(builder, task, HIRE_TYPES[task], sentence)


# ---- the grammar ------------------------------------------------------------------------------
@pytest.mark.parametrize(("instance", "task"), CASES, ids=[f"{i.id}-{t}" for i, t in CASES])
def test_grammar_accepts_each_gold_target_char_by_char(builder, instance, task):
    _, target = builder.example(instance, task)
    grammar = _grammar(builder, instance, task)
    state = grammar.initial
    for i, char in enumerate(target):
        assert state != END, f"closed early before {target[i:]!r}"
        state = grammar.advance(state, char)
        assert state is not None, f"rejected {char!r} after {target[:i]!r}"
    assert state == END
    assert grammar.moves(END) == {}


def test_targets_cover_quotes_backslashes_tabs_and_chinese(builder):
    targets = {builder.example(instance, "ner")[1] for instance in INSTANCES[:3]}
    assert targets == {
        'results = [Person("Ada Park"), Company("Acme Corp"), Location("\\"Paris\\"")]',
        'results = [Person("李明"), Company("\\"星河科技\\""), Location("上海\\\\浦东")]',
        'results = [Person("Ada\\tPark"), Company("Acme Corp"), Location("Seville")]',
    }
    eae = builder.example(INSTANCES[0], "eae")[1]
    assert eae == (
        'results = [StartPosition(trigger="joined", employee=[Person("Ada Park")], '
        'employer=[Company("Acme Corp")], place=[Location("\\"Paris\\"")])]'
    )


@pytest.mark.parametrize(
    ("task", "text"),
    [
        ("ner", "results = []"),
        ("ner", 'results = [Person("Ada"), Person("Park"), Company("Acme Corp")]'),
        ("ner", 'results = [Company("\\"Paris")]'),  # a quote of the sentence, escaped
        ("re", 'results = [Employment(Person("Ada Park"), Organization("Acme"))]'),
        ("ed", 'results = [StartPosition("joined"), Personnel("Ada")]'),
        ("eae", 'results = [StartPosition(trigger="joined")]'),  # roles are optional ...
        ("eae", 'results = [StartPosition(trigger="joined", place=[])]'),  # ... and may be skipped
        ("eae", 'results = [Personnel(trigger="joined", employee=[Person("Ada"), Entity("Park")])]'),
    ],
)
def test_grammar_accepts_other_well_formed_answers(builder, task, text):
    assert _hire_grammar(builder, task).accepts(text)


@pytest.mark.parametrize(
    ("task", "text"),
    [
        ("ner", 'results = [Persn("Ada Park")]'),  # hallucinated class
        ("ner", 'results = [Location("Paris")]'),  # a class the prompt does not define
        ("ner", 'results = [Person("Bob")]'),  # not in the sentence
        ("ner", 'results = [Person("Ada  Park")]'),
        ("ner", 'results = [Person("")]'),  # empty span
        ("ner", 'results = [Person(""Paris"")]'),  # unescaped quotes
        ("ner", 'results = [Person(name="Ada Park")]'),
        ("ner", "results = [Person('Ada Park')]"),
        ("ner", 'results = [Person("Ada Park"),Person("Ada")]'),
        ("ner", "results = []\n"),  # nothing after the list
        ("ner", "results = [],"),
        ("ner", "results = ["),  # not finished
        ("re", 'results = [Employment(Person("Ada Park"))]'),  # one argument
        ("re", 'results = [Employment("Ada Park", "Acme Corp")]'),  # bare strings
        ("re", 'results = [Employment(head_entity=Person("Ada Park"), tail_entity=Company("Acme Corp"))]'),
        ("re", 'results = [Employment(Person("Ada Park"), Employment(Person("Ada"), Person("Park")))]'),
        ("ed", 'results = [StartPosition(trigger="joined")]'),  # ED is positional
        ("ed", 'results = [StartPosition("joined", "Ada")]'),
        ("eae", 'results = [StartPosition("joined")]'),
        ("eae", 'results = [StartPosition(employee=[Person("Ada")])]'),  # no trigger
        ("eae", 'results = [StartPosition(trigger="joined", employer=[], employee=[])]'),  # out of order
        ("eae", 'results = [StartPosition(trigger="joined", boss=[])]'),  # unknown role
        ("eae", 'results = [StartPosition(trigger="joined", place=[], place=[])]'),
        ("eae", 'results = [Personnel(trigger="joined", place=[])]'),  # a role of another event
        ("eae", 'results = [StartPosition(trigger="joined", employee=["Ada Park"])]'),  # unwrapped
        ("eae", 'results = [StartPosition(trigger="joined", employee=Person("Ada Park"))]'),  # not a list
    ],
)
def test_grammar_rejects_hallucinations_and_wrong_shapes(builder, task, text):
    grammar = _hire_grammar(builder, task)
    assert not grammar.accepts(text)
    assert grammar.accepts(builder.target([], task))  # the same grammar takes the empty answer


def test_spans_never_cut_an_escape_or_a_character(builder):
    sentence = "李明 saved C:\\temp\tnow"
    grammar = _hire_grammar(builder, "ner", sentence)
    assert grammar.accepts('results = [Person("C:\\\\")]')  # the text C:\ , its backslash escaped
    assert grammar.advance(grammar.initial, 'results = [Person("C:\\') is not None
    assert grammar.advance(grammar.initial, 'results = [Person("C:\\"') is None  # half an escape, closed
    assert grammar.accepts('results = [Person("temp\\tnow")]')
    assert not grammar.accepts('results = [Person("temp\tnow")]')  # a raw tab is not how py_str writes it
    half = 'results = [Person("李'.encode() + "明".encode()[:2]
    assert grammar.advance(grammar.initial, half) is not None
    assert grammar.advance(grammar.initial, half + b'"') is None


@pytest.mark.parametrize(
    ("task", "prefix", "shortest"),
    [
        ("ner", "", len("results = []")),
        ("ner", "results = [Person(", len('"x")]')),
        ("ner", 'results = [Person("Ad', len('a")]')),  # "Ad" cuts the word "Ada"
        ("ner", 'results = [Person("Ada Park"), Com', len('pany("x")]')),
        ("re", "results = [Employment(", len('Person("x"), Person("x"))]')),
        ("eae", "results = [StartPosition(", len('trigger="x")]')),
        ("eae", 'results = [StartPosition(trigger="joined", empl', len("oyer=[])]")),
    ],
)
def test_shortest_completion_counts_bytes_exactly(builder, task, prefix, shortest):
    grammar = _hire_grammar(builder, task)
    state = grammar.advance(grammar.initial, prefix)
    assert state is not None
    assert grammar.shortest_completion(state) == shortest


@pytest.mark.parametrize(
    ("sentence", "span", "words", "allowed"),
    [
        ("Valdoria shelled Port Helen.", "Port Helen", True, True),
        ("Valdoria shelled Port Helen.", "Port Hel", True, False),  # closes inside a word
        ("Valdoria shelled Port Helen.", "elen", True, False),  # starts inside a word
        ("Valdoria shelled Port Helen.", "Port Hel", False, True),
        ("Brightwave paid $85 million.", "$85 million", True, True),
        ("Brightwave paid $85 million.", "$8", True, False),  # digits are a word too
        ("Brightwave paid $85 million.", "85", True, True),  # "$" is no letter: 85 starts a word
        ("Acme's chief left.", "Acme", True, True),
        ("the US-based firm", "US", True, True),
        ("光波科技以8500万美元买下了快剪。", "8500万美元", True, True),
        ("光波科技以8500万美元买下了快剪。", "光波", True, True),  # Chinese: any character boundary
        ("光波科技以8500万美元买下了快剪。", "500万美元", True, False),  # but not inside a number
        ("Москва и Париж", "Моск", True, False),  # Cyrillic is written with spaces
        ("outside Carthage Tower in Tunis", "Tower ", True, False),  # no span ends with whitespace
        ("outside Carthage Tower in Tunis", " Tower", False, False),  # or starts with it
        ("outside Carthage Tower in Tunis", "Carthage Tower", True, True),  # inside it, fine
        ("北京 上海", "京 上", True, True),
        ("Ada Park joined Acme Corp. ", "Acme Corp.", True, True),
        ("Ada Park joined Acme Corp. ", "Acme Corp. ", True, False),  # and never reads into the end
    ],
)
def test_spans_keep_words_whole_in_scripts_written_with_spaces(builder, sentence, span, words, allowed):
    grammar = ResultsGrammar("ner", ["Person"], sentence, words=words)
    assert grammar.accepts(f'results = [Person("{span}")]') is allowed


def test_a_span_never_reaches_a_state_it_cannot_leave(builder):
    """Trailing whitespace: no span ends there, so none may be read into it (a dead end)."""
    grammar = ResultsGrammar("ner", ["Person"], "Ada Park  ")
    assert grammar.advance(grammar.initial, 'results = [Person("Ada Park') is not None
    assert grammar.advance(grammar.initial, 'results = [Person("Ada Park ') is None
    assert grammar.advance(grammar.initial, 'results = [Person(" ') is None


def test_gold_spans_of_the_bundled_data_keep_words_whole():
    """Every gold span of the sample data (entities, triggers, arguments) is one the grammar admits."""
    checked = 0
    for lang in ("en", "zh"):
        for instance in read_instances(REPO / f"data/raw/sample/{lang}.jsonl"):
            spans = [*instance.entities, *(e.trigger for e in instance.events)]
            spans += [a for e in instance.events for a in e.arguments]
            grammar = ResultsGrammar("ner", ["X"], instance.text)
            for span in spans:
                literal = py_str(instance.text[span.start : span.end])
                assert grammar.accepts(f"results = [X({literal})]"), (instance.id, literal)
                checked += 1
    assert checked >= 200


def test_shortest_completion_inside_a_chinese_character(builder):
    grammar = _hire_grammar(builder, "ner", "李明")
    state = grammar.advance(grammar.initial, b'results = [Person("' + "李".encode()[:1])
    assert state is not None
    assert grammar.shortest_completion(state) == 2 + len('")]')


def test_grammar_needs_a_finite_schema_and_ordered_roles():
    with pytest.raises(ValueError, match=r"Allowed\.types/sentence is None.*PromptBuilder\.allowed"):
        ResultsGrammar.from_allowed("ner", Allowed())
    with pytest.raises(ValueError, match="roles=event_roles"):
        ResultsGrammar("eae", ["StartPosition"], "Ada joined.", entity_types=["Person"])
    no_items = ResultsGrammar("re", ["Employment"], "Ada joined.", entity_types=[])
    assert no_items.moves(no_items.advance(no_items.initial, "results = [")) == {ord("]"): END}


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
    grammar = _grammar(builder, instance, task)
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
    grammar = _hire_grammar(builder, "ner")
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
    """(task, prompt, allowed, grammar) for every instance and task: 32 prompts."""
    out = []
    for instance, task in CASES:
        types = get_task(task).positive_types(instance)
        prompt = builder.example(instance, task)[0]
        allowed = builder.allowed(task, types, instance.text)
        out.append((task, prompt, allowed, _grammar(builder, instance, task)))
    return out


def _generate(model, tokenizer, trie, jobs, *, constrain: bool, **kwargs) -> list[str]:
    prompts, grammars = [j[1] for j in jobs], [j[3] for j in jobs]
    return constrained_generate(
        model, tokenizer, prompts, grammars, max_new_tokens=48, constrain=constrain, trie=trie, **kwargs
    )


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


def test_constrained_random_model_always_writes_parseable_in_schema_results(model, tokenizer, trie, jobs):
    outputs = _generate(model, tokenizer, trie, jobs, constrain=True)
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


def test_unconstrained_random_model_writes_garbage(model, tokenizer, trie, jobs):
    outputs = _generate(model, tokenizer, trie, jobs, constrain=False)
    reports = [parse_results(o, task, allowed).report for (task, _, allowed, _), o in zip(jobs, outputs)]
    assert sum(r.parseable for r in reports) == 0
    assert sum(r.kept for r in reports) == 0


def test_constraint_holds_when_sampling(model, tokenizer, trie, jobs):
    torch.manual_seed(0)
    picked = [jobs[4 * i + i % 4] for i in range(len(INSTANCES))]  # one task per instance, all four tasks
    outputs = _generate(model, tokenizer, trie, picked, constrain=True, do_sample=True)
    assert all(grammar.accepts(o) for (_, _, _, grammar), o in zip(picked, outputs, strict=True))


def test_a_tight_budget_forces_the_empty_answer(model, tokenizer, trie, jobs):
    prompts, grammars = [jobs[0][1], jobs[1][1]], [jobs[0][3], jobs[1][3]]
    outputs = constrained_generate(model, tokenizer, prompts, grammars, max_new_tokens=5, trie=trie)
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
    grammar = _hire_grammar(builder, "ner", sentence)
    script = f"results = [{item}, {item}, {item}]"
    capped = _scripted(grammar, trie, tokenizer, script)
    assert grammar.accepts(capped), capped
    records = [f'{r.type}("{r.text}")' for r in parse_results(capped, "ner").records]
    assert records.count(item) == kept, capped
    free = _scripted(grammar, trie, tokenizer, script, cap_repeats=False)
    assert free == script  # the contrast: without the cap, the loop is written as wanted


def test_a_role_argument_repeats_only_as_often_as_its_span_occurs(builder, trie, tokenizer):
    grammar = _hire_grammar(builder, "eae")
    person = 'Person("Ada Park")'
    script = f'results = [StartPosition(trigger="joined", employee=[{person}, {person}, {person}])]'
    capped = _scripted(grammar, trie, tokenizer, script)
    assert grammar.accepts(capped), capped
    (event, *_) = parse_results(capped, "eae").records
    assert [a.text for a in event.arguments if a.role == "employee"].count("Ada Park") == 1, capped
    assert _scripted(grammar, trie, tokenizer, script, cap_repeats=False) == script
