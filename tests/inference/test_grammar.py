"""The grammar of answers (``knowcoder.inference.grammar``): which bytes each state allows, whole
answers accepted and refused, spans that keep words whole, and the shortest completion in bytes.

The sentences and targets here are shared with ``test_constrained.py``, which holds token masks and
models to this grammar.
"""

from __future__ import annotations

import pytest

from knowcoder.data.instance import Instance
from knowcoder.data.jsonl import read_instances
from knowcoder.inference.grammar import (
    END,
    ITEM_END,
    ITEM_START,
    SUPPORTED_SHAPES,
    ResultsGrammar,
    event_roles,
)
from knowcoder.prompts import PromptBuilder
from knowcoder.schema.literals import py_str
from knowcoder.tasks import get_task
from knowcoder.tasks.base import Allowed

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


def grammar_for(builder: PromptBuilder, instance: Instance, task: str) -> ResultsGrammar:
    return ResultsGrammar.for_prompt(builder, task, get_task(task).positive_types(instance), instance.text)


HIRE_TYPES = {
    "ner": ["Person", "Company"],
    "re": ["Employment"],
    "ed": ["StartPosition"],
    "eae": ["StartPosition"],
}


def hire_grammar(builder: PromptBuilder, task: str, sentence: str = INSTANCES[0].text) -> ResultsGrammar:
    return ResultsGrammar.for_prompt(builder, task, HIRE_TYPES[task], sentence)


# ---- the grammar ------------------------------------------------------------------------------
@pytest.mark.parametrize(("instance", "task"), CASES, ids=[f"{i.id}-{t}" for i, t in CASES])
def test_grammar_accepts_each_gold_target_char_by_char(builder, instance, task):
    _, target = builder.example(instance, task)
    grammar = grammar_for(builder, instance, task)
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
    assert hire_grammar(builder, task).accepts(text)


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
    grammar = hire_grammar(builder, task)
    assert not grammar.accepts(text)
    assert grammar.accepts(builder.target([], task))  # the same grammar takes the empty answer


def test_spans_never_cut_an_escape_or_a_character(builder):
    sentence = "李明 saved C:\\temp\tnow"
    grammar = hire_grammar(builder, "ner", sentence)
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
    grammar = hire_grammar(builder, task)
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
    grammar = hire_grammar(builder, "ner", "李明")
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


# ---- the automaton, byte by byte -----------------------------------------------------------------
ACME = "Ada Park joined Acme Corp."


def _next_bytes(grammar: ResultsGrammar, prefix: str) -> set[str]:
    state = grammar.advance(grammar.initial, prefix)
    assert state is not None, prefix
    return {chr(byte) for byte in grammar.moves(state)}


def test_after_the_open_bracket_only_the_first_bytes_of_the_classes_or_the_close_are_allowed():
    grammar = ResultsGrammar("ner", ["Person", "Company"], ACME)
    assert _next_bytes(grammar, "") == {"r"}
    assert _next_bytes(grammar, "results = [") == {"P", "C", "]"}
    assert _next_bytes(grammar, "results = [Pers") == {"o"}
    assert _next_bytes(grammar, "results = [Person") == {"("}
    assert _next_bytes(grammar, "results = [Person(") == {'"'}
    # a span starts at a word of the sentence (or its final "."), never at a space or inside a word
    assert _next_bytes(grammar, 'results = [Person("') == {"A", "P", "j", "C", "."}
    assert _next_bytes(grammar, 'results = [Person("Ada') == {" ", '"'}
    assert _next_bytes(grammar, 'results = [Person("Ada Park")') == {",", "]"}
    assert grammar.advance(grammar.initial, 'results = [Person("Ada Park"), ') == ITEM_START
    assert grammar.advance(grammar.initial, 'results = [Person("Ada Park")') == ITEM_END


@pytest.mark.parametrize("prefix", ["results = [R", "results = [Persons", "results = [p", "resultS"])
def test_an_unknown_class_is_refused_at_its_first_wrong_byte(prefix):
    grammar = ResultsGrammar("ner", ["Person", "Company"], ACME)
    assert grammar.advance(grammar.initial, prefix[:-1]) is not None
    assert grammar.advance(grammar.initial, prefix) is None
    assert grammar.advance(None, "]") is None  # once out, it stays out


def test_a_full_answer_is_accepted_and_nothing_may_follow_it():
    grammar = ResultsGrammar("ner", ["Person", "Company"], ACME)
    answer = 'results = [Person("Ada Park"), Company("Acme Corp")]'
    assert grammar.accepts(answer)
    assert grammar.advance(grammar.initial, answer) == END and grammar.moves(END) == {}
    assert not grammar.accepts(answer[:-1]) and not grammar.accepts(answer + " ")


def test_without_a_sentence_or_classes_only_the_empty_answer_is_possible():
    for grammar in (ResultsGrammar("ner", ["Person"], ""), ResultsGrammar("ner", [], ACME)):
        assert _next_bytes(grammar, "results = [") == {"]"}
        assert grammar.accepts("results = []")


def test_event_roles_keep_the_ontology_order_and_skip_unknown_classes(mini_ontology):
    assert event_roles(mini_ontology, ["StartPosition", "Nope"]) == {
        "StartPosition": ("employee", "employer", "place")
    }


def test_from_allowed_drops_roles_the_prompt_does_not_define():
    allowed = Allowed(
        types=frozenset({"StartPosition"}),
        entity_types=frozenset({"Person"}),
        roles={"StartPosition": frozenset({"employee"})},
        sentence="Ada joined.",
    )
    roles = {"StartPosition": ("employee", "employer"), "Other": ("x",)}
    grammar = ResultsGrammar.from_allowed("eae", allowed, roles=roles)
    assert grammar.accepts('results = [StartPosition(trigger="joined", employee=[Person("Ada")])]')
    assert not grammar.accepts('results = [StartPosition(trigger="joined", employer=[])]')
    with pytest.raises(ValueError, match=r"Allowed\.entity_types is None"):
        ResultsGrammar.from_allowed("re", Allowed(types=frozenset({"Employment"}), sentence="Ada joined."))


def test_a_task_of_another_call_shape_is_refused():
    from knowcoder.tasks.ner import NamedEntityRecognition

    class TableTask(NamedEntityRecognition):
        name = "table"
        call_shape = "table"  # type: ignore[assignment]

    assert SUPPORTED_SHAPES == ("span", "pair", "event")
    with pytest.raises(ValueError, match="task 'table' has call_shape 'table'"):
        ResultsGrammar(TableTask(), ["Person"], ACME)


def test_opens_closes_and_settled_mark_items_and_arguments(builder):
    grammar = hire_grammar(builder, "eae", "Ada joined Acme.")
    opened = grammar.advance(grammar.initial, "results = [")
    assert opened is not None
    first = grammar.advance(opened, "S")
    assert first is not None
    assert (ResultsGrammar.opens(opened, first), ResultsGrammar.opens(opened, END)) == (1, 0)
    in_list = grammar.advance(opened, 'StartPosition(trigger="joined", employee=[')
    assert in_list is not None
    person = grammar.advance(in_list, "P")
    assert person is not None and ResultsGrammar.opens(in_list, person) == 2
    argument = grammar.advance(person, 'erson("Ada")')
    assert argument is not None and ResultsGrammar.closes(argument) == 2
    item = grammar.advance(argument, "])")
    assert item == ITEM_END and ResultsGrammar.closes(item) == 1
    # after a span's closing quote only ")" can finish the argument
    quoted = grammar.advance(person, 'erson("Ada"')
    assert quoted is not None and grammar.settled(quoted) == (2, b")")
    assert grammar.may_settle(ord('"'), quoted) and not grammar.may_settle(ord("P"), person)
