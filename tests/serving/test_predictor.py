"""Predictor: tasks planned from the wanted classes, EAE fed by ED, batching, clear input errors.

Most tests script the model's outputs (a ``ScriptedExtractor`` answers each task with fixed code)
so the planning and plumbing are checked exactly; the last ones run a tiny random-weight model.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import pytest

from knowcoder.config import DecodingConfig, EvaluationConfig, Params, PromptConfig
from knowcoder.errors import ConfigError
from knowcoder.inference.extract import ExtractionRequest, Extractor, Generated
from knowcoder.parser import DEFAULT_MAX_CHARS, DEFAULT_MAX_DEPTH
from knowcoder.prompts import PromptBuilder, PromptOptions
from knowcoder.records import EventRecord
from knowcoder.serving.predictor import PredictionInputError, Predictor, ServingConfig

from .conftest import OPTIONS

TEXT = "Ada Park joined Acme Corp in Paris."


@dataclass
class ScriptedExtractor(Extractor):
    """An extractor whose 'model' writes ``script[task]`` for every request of that task."""

    script: dict[str, str] = field(default_factory=dict)
    batches: list[list[ExtractionRequest]] = field(default_factory=list)
    flags: list[bool] = field(default_factory=list)  # the constrained flag of each generate call

    def generate_scored(self, requests, *, progress=False):
        self.batches.append(list(requests))
        self.flags.append(self.constrained)
        # every character its own token, each written at p = 0.5
        texts = [self.script.get(r.task, "results = []") for r in requests]
        return [(Generated(t, list(range(1, len(t) + 1)), [math.log(0.5)] * len(t)), 0, False) for t in texts]


@pytest.fixture
def scripted(mini_ontology):
    builder = PromptBuilder(mini_ontology, PromptOptions(system=False, descriptions=False))
    return ScriptedExtractor(None, None, builder)


def requests_of(extractor: ScriptedExtractor) -> dict[str, ExtractionRequest]:
    return {r.id: r for batch in extractor.batches for r in batch}


# ---- planning -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("types", "tasks", "expected"),
    [
        (["Person", "Location"], None, {"ner": ("Person", "Location")}),
        (["Employment"], None, {"re": ("Employment",)}),
        (["StartPosition"], None, {"ed": ("StartPosition",)}),  # eae's classes come from ED
        ("Person, Employment", None, {"ner": ("Person",), "re": ("Employment",)}),
        (None, ["ner"], {"ner": ("Person", "Organization", "Company", "Location")}),
        (["StartPosition"], ["eae"], {"ed": ("StartPosition",)}),
    ],
)
def test_tasks_follow_the_kinds_of_the_wanted_classes(scripted, types, tasks, expected):
    plan = Predictor(scripted).plan(types, tasks)
    runs_eae = "ed" in expected
    assert plan.tasks == (*expected, *(["eae"] if runs_eae else []))
    assert dict(plan.types) == expected


def test_no_types_means_every_class_and_every_task(scripted):
    plan = Predictor(scripted).plan()
    assert plan.tasks == ("ner", "re", "ed", "eae")
    assert plan.types["re"] == ("Employment",)
    assert plan.types["ed"] == ("Personnel", "StartPosition")


def test_relation_prompts_define_the_head_and_tail_classes(scripted):
    Predictor(scripted).predict(TEXT, ["Employment"])
    (request,) = requests_of(scripted).values()
    assert (request.task, request.types) == ("re", ("Employment",))
    prompt = scripted.builder.prompt(request.text, request.task, request.types)
    assert "class Person(Entity)" in prompt and "class Organization(Entity)" in prompt


# ---- prediction -----------------------------------------------------------------------------
def test_eae_gets_the_ed_triggers_as_hints(scripted):
    scripted.script = {
        "ed": 'results = [StartPosition("joined")]',
        "eae": 'results = [StartPosition(trigger="joined", employee=[Person("Ada Park")])]',
    }
    result = Predictor(scripted).predict(TEXT, ["StartPosition"])
    first, second = scripted.batches
    assert [r.task for r in first] == ["ed"] and [r.task for r in second] == ["eae"]
    assert second[0].given == (EventRecord("StartPosition", "joined"),)
    assert second[0].types == ("StartPosition",)
    prompt = scripted.builder.prompt(TEXT, "eae", second[0].types, given=second[0].given)
    assert '"joined" is the trigger of event type "StartPosition"' in prompt
    assert result["events"] == [
        {
            "type": "StartPosition",
            "trigger": "joined",
            "arguments": [{"role": "employee", "type": "Person", "text": "Ada Park"}],
            "confidence": pytest.approx(0.5),  # each of its tokens written at p = 0.5
        }
    ]
    assert set(result["report"]) == {"ed", "eae"} and result["report"]["eae"]["kept"] == 1


def test_without_detected_events_eae_does_not_run(scripted):
    result = Predictor(scripted).predict(TEXT, ["StartPosition"])
    assert len(scripted.batches) == 1
    assert result["events"] == [] and set(result["report"]) == {"ed"}


def test_a_detected_trigger_that_eae_drops_is_kept_without_arguments(scripted):
    scripted.script = {
        "ed": 'results = [StartPosition("joined"), StartPosition("hired")]',
        "eae": 'results = [StartPosition(trigger="joined", employer=[Organization("Acme Corp")])]',
    }
    text = "Ada Park joined Acme Corp and was hired."
    events = Predictor(scripted).predict(text, ["StartPosition"])["events"]
    assert [(e["type"], e["trigger"], len(e["arguments"])) for e in events] == [
        ("StartPosition", "joined", 1),
        ("StartPosition", "hired", 0),
    ]


def test_every_output_key_and_record_shape(scripted):
    scripted.script = {
        "ner": 'results = [Person("Ada Park"), Location("Paris")]',
        "re": 'results = [Employment(Person("Ada Park"), Organization("Acme Corp"))]',
    }
    result = Predictor(scripted).predict(TEXT, ["Person", "Location", "Employment"])
    assert result == {
        "text": TEXT,
        "entities": [
            {"type": "Person", "text": "Ada Park", "confidence": pytest.approx(0.5)},
            {"type": "Location", "text": "Paris", "confidence": pytest.approx(0.5)},
        ],
        "relations": [
            {
                "type": "Employment",
                "head": {"type": "Person", "text": "Ada Park"},
                "tail": {"type": "Organization", "text": "Acme Corp"},
                "confidence": pytest.approx(0.5),
            }
        ],
        "events": [],
        "report": {"ner": result["report"]["ner"], "re": result["report"]["re"]},
    }
    assert result["report"]["ner"]["kept"] == 2 and result["report"]["re"]["parseable"]


def test_many_texts_share_two_generate_calls(scripted):
    scripted.script = {"ed": 'results = [StartPosition("joined")]'}
    texts = [TEXT, "Bo left.", "Li Ming joined Bo Bank."]
    results = Predictor(scripted).predict_many(
        [{"text": texts[0]}, {"text": texts[1], "types": ["Person"]}, texts[2]]
    )
    assert [r["text"] for r in results] == texts
    first, second = scripted.batches
    assert sorted(r.id for r in first) == [
        "0:ed", "0:ner", "0:re", "1:ner", "2:ed", "2:ner", "2:re"
    ]  # fmt: skip
    assert [r.id for r in second] == ["0:eae", "2:eae"]  # "Bo left." has no "joined": ED found nothing
    assert set(results[1]["report"]) == {"ner"}


def test_constrained_per_call_uses_a_copy_of_the_extractor(scripted):
    predictor = Predictor(scripted)
    predictor.predict(TEXT, ["Person"], constrained=True)
    predictor.predict(TEXT, ["Person"])
    assert scripted.flags == [True, False]  # the copy shares the scripted extractor's record list
    assert predictor.extractor.constrained is False


# ---- errors ---------------------------------------------------------------------------------
def test_unknown_class_names_the_class_and_suggests_valid_ones(scripted):
    with pytest.raises(ValueError, match="unknown class 'Persn'") as caught:
        Predictor(scripted).predict(TEXT, ["Persn"])
    message = str(caught.value)
    assert message.startswith("types: ")
    assert "did you mean 'Person'" in message and "known classes: Person, Organization" in message
    assert scripted.batches == []


@pytest.mark.parametrize("text", ["", "   ", None])
def test_empty_text_is_refused(scripted, text):
    with pytest.raises(ValueError, match="text: must be a non-empty string"):
        Predictor(scripted).predict(text, ["Person"])


def test_one_bad_item_fails_the_batch_before_any_generation(scripted):
    items = [{"text": TEXT}, {"text": TEXT, "types": ["Person", "Nope"]}]
    with pytest.raises(PredictionInputError, match=r"items\[1\]\.types: unknown class 'Nope'"):
        Predictor(scripted).predict_many(items)
    assert scripted.batches == []


@pytest.mark.parametrize(
    ("types", "tasks", "message"),
    [
        ([], None, "types: is empty"),
        (["Person"], ["re"], "tasks: task 're' needs relations"),
        (["Person", "Employment"], ["ner"], "types: 'Employment' is a relation class"),
        (["Person"], ["ner", "pos"], "tasks: unknown task 'pos'"),
        ([3], None, "types: must be a list of class names"),
        (5, None, "types: must be a list of class names"),
        (["Person"], 7, "tasks: must be a list of task names"),
    ],
)
def test_inconsistent_types_and_tasks_are_refused(scripted, types, tasks, message):
    with pytest.raises(PredictionInputError, match=message):
        Predictor(scripted).predict(TEXT, types, tasks=tasks)


def test_unknown_item_fields_are_named(scripted):
    with pytest.raises(PredictionInputError, match=r"items\[0\]: unknown field 'typs'"):
        Predictor(scripted).predict_many([{"text": TEXT, "typs": ["Person"]}])


# ---- serving options ------------------------------------------------------------------------
def test_serving_config_round_trips_its_flat_form():
    config = ServingConfig.from_dict(OPTIONS)
    assert config.prompt.system is False and config.max_new_tokens == 16
    assert ServingConfig.from_dict(config.to_dict()) == config
    assert config.prompt_options() == PromptOptions(system=False, descriptions=False, max_examples=1)


def test_serving_config_from_params_takes_the_evaluation_settings():
    params = Params().model_copy(
        update={
            "evaluation": EvaluationConfig(max_new_tokens=7, constrained=True),
            "prompt": PromptConfig(lang="zh"),
        }
    )
    config = ServingConfig.from_params(params)
    assert (config.max_new_tokens, config.constrained, config.prompt.lang) == (7, True, "zh")
    assert ServingConfig.from_dict(config.to_dict()) == config


#: a ``prompt.json`` as packaged models were written before the decoding and parser settings
#: were shared with ``params.yaml``'s models: it must load, and be written back the same
PACKAGED_PROMPT_JSON = """{
  "style": "released",
  "lang": "en",
  "descriptions": false,
  "max_examples": 1,
  "system": false,
  "dataset_hint": false,
  "trigger_hints": true,
  "class_order": "ontology",
  "batch_size": 8,
  "batch_tokens": null,
  "max_new_tokens": 16,
  "head_tokens": 1500,
  "tail_tokens": 2000,
  "constrained": true,
  "dtype": "auto",
  "trust_remote_code": false,
  "max_chars": 65536,
  "max_depth": 5,
  "chunk_chars": 800,
  "chunk_overlap": 100
}"""


def test_a_packaged_prompt_json_loads_and_is_written_back_byte_for_byte():
    config = ServingConfig.from_dict(json.loads(PACKAGED_PROMPT_JSON))
    assert (config.prompt.style, config.batch_size, config.batch_tokens, config.constrained) == (
        "released",
        8,
        None,
        True,
    )
    assert (config.parser.max_chars, config.parser.max_depth, config.chunk_chars) == (65536, 5, 800)
    assert json.dumps(config.to_dict(), indent=2) == PACKAGED_PROMPT_JSON


def test_serving_config_shares_the_decoding_and_parser_settings_of_params():
    # the same fields and defaults as evaluation's decoding knobs and the parser section
    config = ServingConfig()
    assert isinstance(config, DecodingConfig)
    decoding = set(DecodingConfig.model_fields)
    assert decoding <= set(EvaluationConfig.model_fields)
    assert config.model_dump(include=decoding) == EvaluationConfig().model_dump(include=decoding)
    assert config.parser == Params().parser
    assert (config.parser.max_chars, config.parser.max_depth) == (DEFAULT_MAX_CHARS, DEFAULT_MAX_DEPTH)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"max_new_token": 3}, "unknown key 'max_new_token'"),
        ({"batch_size": 0}, "batch_size: "),
        ({"max_depth": 0}, "^max_depth: "),
        ({"parser": {"max_depth": 3}}, "unknown key 'parser'"),
    ],
)
def test_serving_config_names_the_bad_key(values, message):
    with pytest.raises(ConfigError, match=message):
        ServingConfig.from_dict(values)


# ---- a real (tiny, random) model ------------------------------------------------------------
@pytest.mark.slow
def test_constrained_random_model_returns_only_wanted_classes_and_spans(
    tiny_model_dir, mini_ontology, serving_config
):
    predictor = Predictor.load(tiny_model_dir, mini_ontology, serving_config)
    wanted = ["Person", "Organization", "Location", "Employment", "StartPosition"]
    texts = [TEXT, "Li Ming was hired by Bo Bank in Wuhan."]
    results = predictor.predict_many([{"text": t, "types": wanted} for t in texts], constrained=True)
    assert [r["text"] for r in results] == texts
    for text, result in zip(texts, results, strict=True):
        assert {"ner", "re", "ed"} <= set(result["report"])
        assert all(report["parseable"] for report in result["report"].values())
        for entity in result["entities"]:
            assert entity["text"] in text and entity["type"] in wanted
        for relation in result["relations"]:
            assert relation["type"] == "Employment"
            assert relation["head"]["text"] in text and relation["tail"]["text"] in text
        for event in result["events"]:
            assert event["type"] in ("StartPosition", "Personnel") and event["trigger"] in text
            assert all(argument["text"] in text for argument in event["arguments"])
