from __future__ import annotations

import sys
import time

import pytest

import knowcoder.parser as parser_module
from knowcoder.parser import parse_results
from knowcoder.prompts import PromptBuilder
from knowcoder.records import ArgumentRecord, EntityRecord, EventRecord, RelationRecord, TriggerRecord
from knowcoder.tasks import Allowed

SENTENCE = 'Ada Park joined Acme Corp in "Paris".'
ENTITIES = Allowed(types=frozenset({"Person", "Company", "Location"}), sentence=SENTENCE)


# ---- well-formed output ----------------------------------------------------------------
def test_each_task_reads_its_objects(mini_ontology):
    builder = PromptBuilder(mini_ontology)
    allowed = builder.allowed("re", ["Employment", "Person", "Company"], SENTENCE)
    result = parse_results('results = [Employment(Person("Ada Park"), Company("Acme Corp"))]', "re", allowed)
    assert result.records == [
        RelationRecord("Employment", EntityRecord("Person", "Ada Park"), EntityRecord("Company", "Acme Corp"))
    ]
    assert result.report.parseable

    assert parse_results('results = [StartPosition("joined")]', "ed").records == [
        TriggerRecord("StartPosition", "joined")
    ]
    eae = parse_results(
        'results = [StartPosition(trigger="joined", place=[Location("Paris")], '
        'employee=[Person("Ada Park")])]',
        "eae",
    )
    assert eae.records == [
        EventRecord(
            "StartPosition",
            "joined",
            (ArgumentRecord("employee", "Person", "Ada Park"), ArgumentRecord("place", "Location", "Paris")),
        )
    ]


def test_keyword_forms_and_released_layout():
    code = 'results = [\n\tPerson(name="Ada Park"),\n\tCompany("Acme Corp")\n]'
    assert parse_results(code, "ner", ENTITIES).records == [
        EntityRecord("Person", "Ada Park"),
        EntityRecord("Company", "Acme Corp"),
    ]
    relation = parse_results(
        'results = [Employment(head_entity=Person("Ada Park"), tail_entity=Company("Acme Corp"))]', "re"
    )
    assert relation.records[0].tail == EntityRecord("Company", "Acme Corp")
    assert parse_results('results = [StartPosition(trigger="joined")]', "ed").records == [
        TriggerRecord("StartPosition", "joined")
    ]


def test_text_after_the_list_is_ignored():
    code = 'results = [Person("Ada Park")]\n"""\nThis is more prompt text ('
    result = parse_results(code, "ner", ENTITIES)
    assert result.records == [EntityRecord("Person", "Ada Park")]
    assert result.report.parseable


def test_empty_and_missing_results():
    empty = parse_results("results = []", "ner")
    assert empty.records == [] and empty.report.parseable
    missing = parse_results("I found Ada Park.", "ner")
    assert missing.records == [] and not missing.report.found_results and not missing.report.parseable


# ---- tolerance -------------------------------------------------------------------------
def test_truncated_output_keeps_complete_objects_before_the_cut():
    result = parse_results(
        'results = [Person("Ada Park"), Company("Acme Corp"), Location("Par', "ner", ENTITIES
    )
    assert result.records == [EntityRecord("Person", "Ada Park"), EntityRecord("Company", "Acme Corp")]
    assert result.report.truncated == 1
    assert not result.report.complete and not result.report.parseable


def test_truncated_inside_a_relation():
    code = 'results = [Employment(Person("Ada Park"), Company("Acme Corp")), Employment(Person("Ada'
    result = parse_results(code, "re")
    assert len(result.records) == 1 and result.report.truncated == 1


def test_cut_right_after_a_complete_object_keeps_it():
    result = parse_results('results = [Person("Ada Park"), Company("Acme Corp")', "ner", ENTITIES)
    assert [r.text for r in result.records] == ["Ada Park", "Acme Corp"]
    assert result.report.truncated == 0 and not result.report.complete


def test_unknown_classes_are_dropped_and_counted():
    result = parse_results(
        'results = [Person("Ada Park"), Robot("Acme Corp"), Robot("Paris")]', "ner", ENTITIES
    )
    assert result.records == [EntityRecord("Person", "Ada Park")]
    assert result.report.unknown_types == {"Robot": 2}


def test_spans_not_in_the_sentence_are_dropped_and_counted():
    result = parse_results('results = [Person("Ada Park"), Person("Bob Stone"), Person("")]', "ner", ENTITIES)
    assert result.records == [EntityRecord("Person", "Ada Park")]
    assert result.report.spans_not_found == 2


@pytest.mark.parametrize(
    "item",
    [
        "Person()",
        'Person("Ada Park", "Acme Corp")',
        "Person(1)",
        "Person(Ada)",
        '"Ada Park"',
        'Person(name="Ada", extra="x")',
        'Person(nick="Ada Park")',
        "Person(*names)",
    ],
)
def test_wrong_argument_shapes_are_bad_shapes(item):
    result = parse_results(f'results = [{item}, Person("Ada Park")]', "ner", ENTITIES)
    assert result.records == [EntityRecord("Person", "Ada Park")]
    assert result.report.bad_shapes == 1


def test_relation_with_one_argument_is_dropped():
    result = parse_results('results = [Employment(Person("Ada Park"))]', "re")
    assert result.records == [] and result.report.bad_shapes == 1


def test_eae_drops_bad_arguments_but_keeps_the_event(mini_ontology):
    allowed = PromptBuilder(mini_ontology).allowed("eae", ["StartPosition"], SENTENCE)
    code = (
        'results = [StartPosition(trigger="joined", employee=[Person("Ada Park"), Person("Nobody")], '
        'salary=[Entity("lots")], place="Paris", employer=[Robot("Acme Corp")])]'
    )
    result = parse_results(code, "eae", allowed)
    assert result.records == [
        EventRecord(
            "StartPosition",
            "joined",
            (ArgumentRecord("employee", "Person", "Ada Park"), ArgumentRecord("place", "Entity", "Paris")),
        )
    ]
    assert result.report.spans_not_found == 1
    assert result.report.unknown_roles == 1
    assert result.report.unknown_types == {"Robot": 1}


def test_syntax_error_in_one_item_spares_the_others():
    result = parse_results(
        'results = [Person("Ada Park"), Company(("Acme Corp"), Location("Paris")]', "ner", ENTITIES
    )
    # The unbalanced parenthesis swallows the rest of the list: only the first object survives.
    assert result.records == [EntityRecord("Person", "Ada Park")]
    assert not result.report.parseable


def test_item_with_syntax_error_between_valid_ones():
    result = parse_results(
        'results = [Person("Ada Park"), Company(Acme Corp), Location("Paris")]', "ner", ENTITIES
    )
    assert result.records == [EntityRecord("Person", "Ada Park"), EntityRecord("Location", "Paris")]
    assert result.report.syntax_errors == 1


# ---- hostile output: nothing runs ------------------------------------------------------
_WATCHED = (
    "exec",
    "import",
    "open",
    "os.system",
    "subprocess.Popen",
    "os.exec",
    "os.posix_spawn",
    "os.remove",
)
_EVENTS: list[str] = []
_WATCHING = [False]


def _audit(event: str, args: tuple) -> None:
    if _WATCHING[0] and event.startswith(_WATCHED):
        _EVENTS.append(event)


sys.addaudithook(_audit)

HOSTILE = [
    "results = [__import__('os').system('touch {marker}')]",
    "results = [Person(__import__('os').system('touch {marker}'))]",
    "results = [os.system('touch {marker}'), Person('Ada Park')]",
    "results = [Person.__class__.__subclasses__()[0]('x')]",
    "results = [(lambda: __import__('os').system('touch {marker}'))()]",
    "results = [Person(x) for x in open('{marker}', 'w')]",
    "results = [Person(f\"{{__import__('os').system('touch {marker}')}}\")]",
    "results = [Person('Ada Park')]\nimport os; os.system('touch {marker}')",
    "results = [eval(\"__import__('os').system('touch {marker}')\")]",
    'import os\nresults = [exec(\'open("{marker}", "w")\')]',
]


@pytest.mark.parametrize("template", HOSTILE)
def test_hostile_output_runs_nothing(tmp_path, template):
    marker = tmp_path / "pwned"
    code = template.format(marker=marker)
    _EVENTS.clear()
    _WATCHING[0] = True
    try:
        result = parse_results(code, "ner", Allowed(types=frozenset({"Person"})))
    finally:
        _WATCHING[0] = False
    assert _EVENTS == []
    assert not marker.exists()
    assert all(record == EntityRecord("Person", "Ada Park") for record in result.records)


# ---- bounded work ----------------------------------------------------------------------
@pytest.fixture
def parse_counter(monkeypatch):
    calls = {"n": 0, "chars": 0}
    real = parser_module.ast.parse

    def counting(source, *args, **kwargs):
        calls["n"] += 1
        calls["chars"] += len(source)
        return real(source, *args, **kwargs)

    monkeypatch.setattr(parser_module.ast, "parse", counting)
    return calls


@pytest.mark.parametrize(
    "code",
    [
        "results = [" + "[" * 50_000 + "]" * 50_000 + "]",
        "results = [Person(" + "(" * 30_000 + '"x"' + ")" * 30_000 + ")]",
        "results = [" + 'Person("' + "a" * 200_000 + '")]',
        "results = [" + "1+" * 40_000 + "1]",
        "results = [" + 'Person("Ada Park"), ' * 20_000 + "]",
    ],
    ids=["deep-lists", "deep-parens", "huge-string", "long-expression", "many-items"],
)
def test_pathological_inputs_are_bounded(parse_counter, code):
    result = parse_results(code, "ner", max_chars=65_536, max_depth=8)
    assert result.report.oversized  # each is longer than max_chars or max_tokens
    # Work is linear: ast.parse sees at most the (cut) text twice, fast path plus one pass of items.
    assert parse_counter["chars"] <= 2 * 65_536 + 64
    assert all(isinstance(r, EntityRecord) for r in result.records)


def test_deep_item_is_rejected_before_ast_parse(parse_counter):
    code = 'results = [Person("Ada Park"), ' + "[" * 20 + "]" * 19
    result = parse_results(code, "ner", max_depth=8)
    assert result.records == [EntityRecord("Person", "Ada Park")]
    assert result.report.too_deep == 1
    # the depth check keeps the list from being read whole: only the first item reaches ast.parse
    assert parse_counter["n"] == 1


@pytest.mark.parametrize(
    "deep",
    [
        "[" * 20 + "]" * 20 + "]",  # closed: the list could be read whole
        "[" * 20 + "]" * 19,  # never closed
        "Person(" + "(" * 19 + '"Ada Park"' + ")" * 19 + ")]",  # closed, and readable as a Person
    ],
    ids=["closed", "unclosed", "closed-call"],
)
def test_an_item_20_deep_is_too_deep_whether_or_not_the_list_closes(parse_counter, deep):
    # given a good item, then one 20 levels deep
    code = 'results = [Person("Ada Park"), ' + deep
    # when
    result = parse_results(code, "ner", ENTITIES, max_depth=8)
    # then: the deep item is counted as too deep, never read, and the good one is kept
    assert result.records == [EntityRecord("Person", "Ada Park")]
    assert (result.report.objects, result.report.too_deep, result.report.bad_shapes) == (2, 1, 0)
    assert parse_counter["chars"] == len('Person("Ada Park")')


def test_brackets_inside_strings_do_not_count_toward_depth():
    sentence = "Ada Park" + "([{" * 10
    allowed = Allowed(types=frozenset({"Person"}), sentence=sentence)
    code = f"results = [Person(\"{sentence}\"), Person('{sentence}')]"
    result = parse_results(code, "ner", allowed, max_depth=1)
    assert result.records == [EntityRecord("Person", sentence)] * 2
    assert result.report.too_deep == 0 and result.report.parseable


@pytest.mark.parametrize(("parens", "kept", "too_deep"), [(7, 1, 0), (8, 0, 1)])
def test_an_item_at_exactly_max_depth_is_kept(parens, kept, too_deep):
    # Person( ... ) is one level; each pair of parentheses around the span one more
    item = "Person(" + "(" * parens + '"Ada Park"' + ")" * parens + ")"
    for code in (f"results = [{item}]", f"results = [{item}, Person("):  # read whole, or item by item
        report = parse_results(code, "ner", ENTITIES, max_depth=8).report
        assert (report.kept, report.too_deep) == (kept, too_deep), code


def test_token_budget_cuts_what_ast_would_take_long_on(parse_counter):
    # given 2,000 one-token items: within max_chars, but far over a budget of 100 tokens
    code = "results = [" + 'Person("Ada Park"), ' * 2_000 + "]"
    result = parse_results(code, "ner", ENTITIES, max_tokens=100)
    # then only the first 100 tokens reach ast: 4 tokens for "results = [", 5 per item
    assert result.records == [EntityRecord("Person", "Ada Park")] * 19
    assert result.report.oversized and not result.report.complete and result.report.truncated == 1
    assert parse_counter["chars"] < 2 * 100 * 4


def test_a_list_within_the_budget_is_not_oversized_even_with_long_text_after_it():
    code = 'results = [Person("Ada Park")]\n"""\n' + "more prompt text " * 2_000
    result = parse_results(code, "ner", ENTITIES, max_tokens=100)
    assert result.records == [EntityRecord("Person", "Ada Park")]
    assert result.report.parseable and not result.report.oversized


def test_quotes_escaped_without_end_take_linear_time():
    # once quadratic: every quote of an unclosed string started a new scan to the end of the line
    code = 'results = [Person("' + '\\"' * 30_000
    started = time.perf_counter()
    result = parse_results(code, "ner")
    assert time.perf_counter() - started < 0.5
    assert result.records == [] and result.report.truncated == 1


def test_keyword_rewrite_leaves_unclosed_strings_alone():
    assert parser_module.rewrite_keyword_arguments('P(x="a, from = [') == 'P(x="a, from = ['
    assert parser_module.rewrite_keyword_arguments('P(x="a", from = [') == 'P(x="a", from_ = ['


def test_odd_literals_warn_nothing(recwarn, capfd):
    # given outputs on which ast warns (SyntaxWarning, DeprecationWarning) when asked to
    for code in ("results = [1if 1else 2]", 'results = [Person("Ada\\d")]', "results = [Person(1if"):
        parse_results(code, "ner")
    assert len(recwarn) == 0
    assert capfd.readouterr().err == ""
