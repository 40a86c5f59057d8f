"""A fifth task defined here, in one place, works end to end without touching any other module.

``KeywordExtraction`` writes ``Person("Ada Park")`` like NER but has its own record class, its own
metric levels and no type confusion count; its parser also reads ``Person(text="Ada Park")``.
Registered by a fixture and removed after, it goes through schema rendering, prompts, parsing,
scoring, record dicts, pretraining documents, extraction requests, constrained decoding and
serving plans.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from knowcoder.corpus.pretrain import instance_code
from knowcoder.data.instance import Instance
from knowcoder.evaluation.metrics import TASK_METRICS, Scorer
from knowcoder.inference.extract import Extractor, requests_for
from knowcoder.inference.grammar import ResultsGrammar
from knowcoder.parser import parse_results
from knowcoder.prompts import PromptBuilder, PromptOptions
from knowcoder.records import record_from_dict
from knowcoder.schema.literals import py_str
from knowcoder.schema.ontology import Kind, Ontology
from knowcoder.serving.predictor import GIVEN_BY, Predictor
from knowcoder.tasks import TASKS, Allowed, Level, Task, TaskMetrics, get_task, register_task
from knowcoder.tasks.base import Dropped, call_name, check_span, check_type, single_argument, string_value

from .test_contract import check_attributes, check_metrics, check_prompt_hooks, check_round_trips


# ---- the whole task: a record class, its metrics and the Task subclass ----------------------
@dataclass(frozen=True, slots=True)
class KeywordRecord:
    type: str
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "text": self.text}


class KeywordExtraction(Task):
    name = "keyword"
    kind = Kind.ENTITY
    title = "Keyword extraction"
    instruction = (
        "This is an object-oriented programming task: some Entity Classes are defined above. "
        "Please instantiate every keyword of the following sentence as an Entity Object."
    )
    released_instruction = instruction
    schema_kinds = (Kind.ENTITY,)
    metrics = TaskMetrics(
        KeywordRecord,
        (
            Level("exact", lambda k: [(k.type, k.text)]),
            Level("text", lambda k: [(k.text,)]),
        ),
    )
    call_shape = "span"

    def gold_records(self, instance: Instance, ontology: Ontology | None = None) -> list[Any] | None:
        if instance.entities is None:
            return None
        return [KeywordRecord(e.type, instance.span_text(e)) for e in instance.entities]

    def render_record(
        self, record: Any, ontology: Ontology | None = None, *, style: str = "knowcoder"
    ) -> str:
        return f"{record.type}({py_str(record.text)})"

    def parse_call(self, call: ast.Call, allowed: Allowed, dropped: Dropped) -> Any:
        name = call_name(call)
        check_type(name, allowed.types, dropped)
        text = string_value(single_argument(call, ("text",), name), f"{name} text")
        check_span(text, allowed, dropped)
        return KeywordRecord(name, text)

    def record_from_dict(self, data: Mapping[str, Any]) -> Any:
        return KeywordRecord(str(data["type"]), str(data["text"]))


class KeywordsGivenEntities(KeywordExtraction):
    """The same task fed by NER, as EAE is fed by ED: serving runs NER first."""

    name = "keyword-given"
    given_by = "ner"


@pytest.fixture
def keyword() -> Iterator[Task]:
    tasks = [register_task(KeywordExtraction()), register_task(KeywordsGivenEntities())]
    yield tasks[0]
    for task in tasks:
        del TASKS[task.name]


# ---- the task at work ----------------------------------------------------------------------
SENTENCE = 'Ada Park joined Acme Corp in "Paris".'
TARGET = 'results = [Person("Ada Park"), Company("Acme Corp"), Location("Paris")]'


def test_it_keeps_the_task_contract(keyword, mini_ontology, hire_instance):
    check_attributes(keyword)
    check_round_trips(keyword, mini_ontology, hire_instance)
    check_metrics(keyword, mini_ontology, hire_instance)
    check_prompt_hooks(keyword, mini_ontology, hire_instance)


def test_it_is_registered_after_the_four_and_removed_by_the_fixture(keyword):
    assert list(TASKS) == ["ner", "re", "ed", "eae", "keyword", "keyword-given"]
    assert get_task("KEYWORD") is keyword and "keyword" in TASK_METRICS


def test_prompt_and_target(keyword, mini_ontology, hire_instance):
    builder = PromptBuilder(mini_ontology, PromptOptions(system=False, descriptions=False))
    prompt, target = builder.example(hire_instance, "keyword")
    assert prompt.startswith("Input:\nclass Entity:\n    def __init__(self, name: str):")
    assert "class Company(Organization):" in prompt and "class Relation" not in prompt
    assert f'"""\n{keyword.instruction}\n"""\nsentence = {py_str(SENTENCE)}\nOutput:\n' in prompt
    assert target == TARGET


def test_parsing_reads_the_records_back_and_drops_unknown_classes(keyword, mini_ontology, hire_instance):
    allowed = PromptBuilder(mini_ontology).allowed("keyword", ["Person", "Company", "Location"], SENTENCE)
    parsed = parse_results(TARGET[:-1] + ', Robot(text="Ada"), Person(text="Bob")]', "keyword", allowed)
    assert parsed.records == keyword.gold_records(hire_instance)
    assert parsed.report.unknown_types == {"Robot": 1} and parsed.report.spans_not_found == 1


def test_scores_on_its_own_levels(keyword, hire_instance):
    gold = keyword.gold_records(hire_instance)
    # Person right; Company written as Organization; Location missed; one extra Person
    pred = [
        KeywordRecord("Person", "Ada Park"),
        KeywordRecord("Organization", "Acme Corp"),
        KeywordRecord("Person", "Park"),
    ]
    scorer = Scorer()
    scorer.add("keyword", gold, pred, dataset="sample", lang="en")
    flat = scorer.result().to_dict()
    # exact: TP 1 (Ada Park), FP 2 (Organization/Acme Corp, Person/Park), FN 2 (Company, Location)
    assert (flat["keyword.exact.tp"], flat["keyword.exact.fp"], flat["keyword.exact.fn"]) == (1, 2, 2)
    assert flat["keyword.f1"] == pytest.approx(2 * 1 / (2 * 1 + 2 + 2))  # 0.3333
    # text: TP 2 (Ada Park, Acme Corp), FP 1 (Park), FN 1 (Paris)
    assert (flat["keyword.text.tp"], flat["keyword.text.fp"], flat["keyword.text.fn"]) == (2, 1, 1)
    assert scorer.result().tasks["keyword"].confusion == {}  # its metrics count no confusion
    with pytest.raises(TypeError, match="is not a KeywordRecord, which task 'keyword' scores"):
        scorer.add("keyword", gold, keyword_gold_as_ner(gold), dataset="sample", lang="en")


def keyword_gold_as_ner(records: list[KeywordRecord]) -> list[Any]:
    from knowcoder.records import EntityRecord

    return [EntityRecord(r.type, r.text) for r in records]


def test_records_are_stored_as_dicts(keyword, hire_instance):
    for record in keyword.gold_records(hire_instance):
        assert record_from_dict("keyword", record.to_dict()) == record
    with pytest.raises(ValueError, match=r"keyword record .* is malformed"):
        record_from_dict("keyword", {"type": "Person"})


def test_pretraining_document_and_extraction_requests(keyword, mini_ontology, hire_instance):
    code = instance_code(hire_instance, "keyword", mini_ontology)
    assert code == (
        "# Keyword extraction\n"
        f"sentence = {py_str(SENTENCE)}\n"
        "from Entities import Company, Location, Person\n" + TARGET
    )
    (request,) = requests_for([hire_instance], "keyword", mini_ontology)
    assert (request.id, request.task, request.types) == (
        "sample-en-0001:keyword",
        "keyword",
        ("Person", "Company", "Location"),
    )


def test_constrained_decoding_writes_its_objects(keyword, mini_ontology):
    grammar = ResultsGrammar.for_prompt(PromptBuilder(mini_ontology), "keyword", ["Person"], SENTENCE)
    state = grammar.initial
    for byte in b'results = [Person("Ada Park")]':
        state = grammar.moves(state)[byte]
    assert grammar.moves(state) == {}  # the list is closed


def test_serving_plans_it_from_the_wanted_classes(keyword, mini_ontology):
    builder = PromptBuilder(mini_ontology, PromptOptions(system=False))
    predictor = Predictor(Extractor(None, None, builder))
    plan = predictor.plan(["Person"], ["keyword"])
    assert plan.tasks == ("keyword",) and dict(plan.types) == {"keyword": ("Person",)}
    # entity classes without a task list run every entity task, in registry order
    assert predictor.plan(["Person"]).tasks == ("ner", "keyword", "keyword-given")
    # a fed task brings the task that feeds it, and takes its classes from that task's output
    assert dict(GIVEN_BY) == {"eae": "ed", "keyword-given": "ner"}
    plan = predictor.plan(["Person"], ["keyword-given"])
    assert plan.tasks == ("ner", "keyword-given") and dict(plan.types) == {"ner": ("Person",)}
