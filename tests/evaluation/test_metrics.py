"""Scorer tests: every expected score has its TP/FP/FN worked out by hand beside it."""

from __future__ import annotations

from collections import Counter

import pytest

from knowcoder.data.instance import Instance
from knowcoder.evaluation.metrics import Counts, Scorer, match_items
from knowcoder.parser import ParseReport, parse_results
from knowcoder.records import ArgumentRecord, EntityRecord, EventRecord, RelationRecord, TriggerRecord
from knowcoder.schema.ontology import Ontology
from knowcoder.tasks import Allowed

E = EntityRecord


def score(task: str, gold, pred, scorer: Scorer | None = None) -> dict[str, float]:
    scorer = scorer or Scorer()
    scorer.add(task, gold, pred, dataset="sample", lang="en")
    return scorer.result().to_dict()


def prf(metrics: dict[str, float], prefix: str) -> tuple[float, float, float]:
    return metrics[f"{prefix}.precision"], metrics[f"{prefix}.recall"], metrics[f"{prefix}.f1"]


def tp_fp_fn(metrics: dict[str, float], prefix: str) -> tuple[float, float, float]:
    return metrics[f"{prefix}.tp"], metrics[f"{prefix}.fp"], metrics[f"{prefix}.fn"]


# ---- NER ------------------------------------------------------------------------------------
def test_ner_identification_ignores_type_classification_does_not() -> None:
    # given a wrong type on a right span, a right entity and a spurious one
    gold = [E("Person", "Ada Park"), E("Organization", "Acme Corp"), E("Location", "Paris")]
    pred = [E("Person", "Ada Park"), E("Location", "Acme Corp"), E("Person", "Bob")]
    # when scored
    m = score("ner", gold, pred)
    # then classification: TP 1 (Ada Park), FP 2 (Acme Corp/Location, Bob), FN 2 (Acme Corp/Org, Paris)
    assert tp_fp_fn(m, "ner.classification") == (1, 2, 2)
    assert prf(m, "ner.classification") == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    # identification on text only: TP 2 (Ada Park, Acme Corp), FP 1 (Bob), FN 1 (Paris)
    assert tp_fp_fn(m, "ner.identification") == (2, 1, 1)
    assert prf(m, "ner.identification") == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    # the headline is classification
    assert prf(m, "ner") == pytest.approx((1 / 3, 1 / 3, 1 / 3))


def test_ner_per_type_table_and_confusion() -> None:
    gold = [E("Person", "Ada Park"), E("Organization", "Acme Corp"), E("Location", "Paris")]
    pred = [E("Person", "Ada Park"), E("Location", "Acme Corp"), E("Person", "Bob")]
    scorer = Scorer()
    scorer.add("ner", gold, pred, dataset="sample", lang="en")
    result = scorer.result()
    ner = result.tasks["ner"]
    # TP/FN go to the gold type, FP to the predicted type
    assert ner.per_type == {
        "Location": Counts(tp=0, fp=1, fn=1),  # FP Acme Corp/Location, FN Paris
        "Organization": Counts(tp=0, fp=0, fn=1),  # FN Acme Corp
        "Person": Counts(tp=1, fp=1, fn=0),  # TP Ada Park, FP Bob
    }
    # Person: P = 1/2, R = 1/1, F1 = 2*1/(2+1+0) = 2/3
    rows = result.per_type_rows("ner")
    assert [row["type"] for row in rows] == ["Location", "Organization", "Person"]
    assert (rows[2]["precision"], rows[2]["recall"], rows[2]["f1"]) == pytest.approx((0.5, 1.0, 2 / 3))
    # per-type counts add up to the overall counts (TP 1, FP 2, FN 2)
    assert sum(ner.per_type.values(), Counts()) == Counts(1, 2, 2) == ner.overall.levels["classification"]
    # same span, gold vs predicted type: Ada Park Person/Person, Acme Corp Organization/Location;
    # Bob and Paris share no span, so they are not in the confusion count
    assert ner.confusion == {("Organization", "Location"): 1, ("Person", "Person"): 1}


def test_duplicates_count_as_multisets() -> None:
    ada = E("Person", "Ada Park")
    # predicted twice, gold once: TP 1, FP 1, FN 0 -> P 1/2, R 1, F1 2/3
    m = score("ner", [ada], [ada, ada])
    assert tp_fp_fn(m, "ner.classification") == (1, 1, 0)
    assert prf(m, "ner") == pytest.approx((0.5, 1.0, 2 / 3))
    # gold twice, predicted once: TP 1, FP 0, FN 1 -> P 1, R 1/2, F1 2/3
    m = score("ner", [ada, ada], [ada])
    assert tp_fp_fn(m, "ner.classification") == (1, 0, 1)
    assert prf(m, "ner") == pytest.approx((1.0, 0.5, 2 / 3))
    # twice each: TP 2, FP 0, FN 0
    m = score("ner", [ada, ada], [ada, ada])
    assert tp_fp_fn(m, "ner.classification") == (2, 0, 0)
    assert m["ner.f1"] == pytest.approx(1.0)


def test_empty_gold_and_empty_prediction_give_zero_not_errors() -> None:
    ada = E("Person", "Ada Park")
    # empty gold, one prediction: TP 0, FP 1, FN 0 -> P 0/1 = 0, R 0/0 -> 0.0, F1 0.0
    m = score("ner", [], [ada])
    assert tp_fp_fn(m, "ner.classification") == (0, 1, 0)
    assert prf(m, "ner") == (0.0, 0.0, 0.0)
    # empty prediction, one gold: TP 0, FP 0, FN 1 -> P 0/0 -> 0.0, R 0/1 = 0, F1 0.0
    m = score("ner", [ada], [])
    assert tp_fp_fn(m, "ner.classification") == (0, 0, 1)
    assert prf(m, "ner") == (0.0, 0.0, 0.0)
    # both empty: nothing to count, every score 0.0, but the instance was scored
    m = score("ner", [], [])
    assert tp_fp_fn(m, "ner.classification") == (0, 0, 0)
    assert prf(m, "ner") == (0.0, 0.0, 0.0)
    assert m["ner.instances"] == 1


def test_items_never_match_across_instances() -> None:
    scorer = Scorer()
    scorer.add("ner", [E("Person", "Ada Park")], [], dataset="sample", lang="en")
    scorer.add("ner", [], [E("Person", "Ada Park")], dataset="sample", lang="en")
    # instance 1: FN 1; instance 2: FP 1; no TP although the same item occurs in both
    assert tp_fp_fn(scorer.result().to_dict(), "ner.classification") == (0, 1, 1)


# ---- RE -------------------------------------------------------------------------------------
def employment(head: tuple[str, str], tail: tuple[str, str]) -> RelationRecord:
    return RelationRecord("Employment", E(*head), E(*tail))


RE_GOLD = [
    employment(("Person", "Ada"), ("Organization", "Acme")),
    employment(("Person", "Bo"), ("Company", "Zed")),
]
RE_PRED = [
    employment(("Person", "Ada"), ("Company", "Acme")),  # tail type wrong: boundary only
    employment(("Person", "Bo"), ("Company", "Zed")),  # exact
    employment(("Person", "Zed"), ("Person", "Bo")),  # wrong
]


def test_re_strict_checks_entity_types_boundary_does_not() -> None:
    m = score("re", RE_GOLD, RE_PRED)
    # strict: TP 1 (Bo/Zed), FP 2, FN 1 (Ada/Acme as Organization) -> P 1/3, R 1/2, F1 2/(2+2+1) = 2/5
    assert tp_fp_fn(m, "re.strict") == (1, 2, 1)
    assert prf(m, "re.strict") == pytest.approx((1 / 3, 1 / 2, 2 / 5))
    # boundary: TP 2 (Ada/Acme, Bo/Zed), FP 1 (Zed/Bo), FN 0 -> P 2/3, R 1, F1 4/5
    assert tp_fp_fn(m, "re.boundary") == (2, 1, 0)
    assert prf(m, "re.boundary") == pytest.approx((2 / 3, 1.0, 4 / 5))
    assert m["re.f1"] == pytest.approx(2 / 5)


def test_re_lenient_accepts_a_subtype_of_the_gold_entity_type(mini_ontology: Ontology) -> None:
    m = score("re", RE_GOLD, RE_PRED, Scorer(mini_ontology, lenient=True))
    # Company is a child of Organization, so Ada/Acme now counts: TP 2, FP 1, FN 0 -> 2/3, 1, 4/5
    assert tp_fp_fn(m, "re.strict") == (2, 1, 0)
    assert prf(m, "re.strict") == pytest.approx((2 / 3, 1.0, 4 / 5))


def test_lenient_matching_is_maximal_not_greedy(mini_ontology: Ontology) -> None:
    # given two golds and two predictions of the same spans, none equal:
    # p0 (Company, Company) fits g0 (Organization, Organization) and g1 (Organization, Company);
    # p1 (Company, Organization) fits g0 only. Taking p0 -> g0 first would strand p1.
    g0 = RelationRecord("Employment", E("Organization", "Ada"), E("Organization", "Acme"))
    g1 = RelationRecord("Employment", E("Organization", "Ada"), E("Company", "Acme"))
    p0 = RelationRecord("Employment", E("Company", "Ada"), E("Company", "Acme"))
    p1 = RelationRecord("Employment", E("Company", "Ada"), E("Organization", "Acme"))
    # strict: TP 0, FP 2, FN 2
    assert tp_fp_fn(score("re", [g0, g1], [p0, p1]), "re.strict") == (0, 2, 2)
    # lenient: the maximum matching pairs g0 <- p1 and g1 <- p0: TP 2, FP 0, FN 0
    m = score("re", [g0, g1], [p0, p1], Scorer(mini_ontology, lenient=True))
    assert tp_fp_fn(m, "re.strict") == (2, 0, 0)
    # the same through match_items, which also says who matched whom
    parent_or_self = {("Organization", "Company"), ("Organization", "Organization"), ("Company", "Company")}
    golds = [("Organization", "x", "Organization", "y"), ("Organization", "x", "Company", "y")]
    preds = [("Company", "x", "Company", "y"), ("Company", "x", "Organization", "y")]
    pairs, missed, spurious = match_items(golds, preds, lambda g, p: (g, p) in parent_or_self, (0, 2))
    assert sorted(pairs) == sorted([(golds[0], preds[1]), (golds[1], preds[0])])
    assert (missed, spurious) == ([], [])


# ---- ED -------------------------------------------------------------------------------------
ED_GOLD = [TriggerRecord("StartPosition", "joined"), TriggerRecord("Personnel", "hired")]
ED_PRED = [
    TriggerRecord("StartPosition", "joined"),
    TriggerRecord("StartPosition", "hired"),
    TriggerRecord("Personnel", "left"),
]


def test_ed_identification_and_classification() -> None:
    m = score("ed", ED_GOLD, ED_PRED)
    # classification: TP 1 (joined), FP 2 (hired/StartPosition, left), FN 1 (hired/Personnel)
    # -> P 1/3, R 1/2, F1 2/(2+2+1) = 2/5
    assert tp_fp_fn(m, "ed.classification") == (1, 2, 1)
    assert prf(m, "ed") == pytest.approx((1 / 3, 1 / 2, 2 / 5))
    # identification: TP 2 (joined, hired), FP 1 (left), FN 0 -> P 2/3, R 1, F1 4/5
    assert tp_fp_fn(m, "ed.identification") == (2, 1, 0)
    assert prf(m, "ed.identification") == pytest.approx((2 / 3, 1.0, 4 / 5))


def test_lenient_mode_leaves_event_types_strict(mini_ontology: Ontology) -> None:
    # StartPosition is a child of Personnel, but leniency covers entity types only: same counts
    m = score("ed", ED_GOLD, ED_PRED, Scorer(mini_ontology, lenient=True))
    assert tp_fp_fn(m, "ed.classification") == (1, 2, 1)


# ---- EAE ------------------------------------------------------------------------------------
def arg(role: str, entity_type: str, text: str) -> ArgumentRecord:
    return ArgumentRecord(role, entity_type, text)


def test_eae_one_item_per_argument() -> None:
    gold = [
        EventRecord(
            "StartPosition",
            "joined",
            (
                arg("employee", "Person", "Ada"),
                arg("employer", "Organization", "Acme"),
                arg("place", "Location", "Paris"),
            ),
        )
    ]
    pred = [
        EventRecord(
            "StartPosition",
            "joined",
            # argument entity types are not scored: employee/Entity still matches employee/Person
            (
                arg("employee", "Entity", "Ada"),
                arg("place", "Organization", "Acme"),
                arg("employer", "Location", "Rome"),
            ),
        ),
        EventRecord("Personnel", "joined", (arg("employee", "Person", "Ada"),)),  # wrong event type
    ]
    m = score("eae", gold, pred)
    # classification items (type, trigger, role, text):
    # TP 1 (employee Ada); FP 3 (place Acme, employer Rome, Personnel employee Ada);
    # FN 2 (employer Acme, place Paris) -> P 1/4, R 1/3, F1 2/(2+3+2) = 2/7
    assert tp_fp_fn(m, "eae.classification") == (1, 3, 2)
    assert prf(m, "eae") == pytest.approx((1 / 4, 1 / 3, 2 / 7))
    # identification items (type, trigger, text): TP 2 (Ada, Acme); FP 2 (Rome, Personnel Ada);
    # FN 1 (Paris) -> P 2/4, R 2/3, F1 4/(4+2+1) = 4/7
    assert tp_fp_fn(m, "eae.identification") == (2, 2, 1)
    assert prf(m, "eae.identification") == pytest.approx((1 / 2, 2 / 3, 4 / 7))


# ---- lenient mode ---------------------------------------------------------------------------
def test_ner_lenient_accepts_ancestor_gold_not_the_reverse(mini_ontology: Ontology) -> None:
    lenient = Scorer(mini_ontology, lenient=True)
    # predicted Company, gold Organization (Company's parent): strict TP 0, FP 1, FN 1
    m = score("ner", [E("Organization", "Acme")], [E("Company", "Acme")])
    assert tp_fp_fn(m, "ner.classification") == (0, 1, 1)
    # ... lenient TP 1, FP 0, FN 0 -> F1 1.0
    m = score("ner", [E("Organization", "Acme")], [E("Company", "Acme")], lenient)
    assert tp_fp_fn(m, "ner.classification") == (1, 0, 0)
    assert m["ner.f1"] == pytest.approx(1.0)
    # the reverse direction (predicted the parent of the gold type) stays wrong: TP 0, FP 1, FN 1
    m = score("ner", [E("Company", "Acme")], [E("Organization", "Acme")], Scorer(mini_ontology, lenient=True))
    assert tp_fp_fn(m, "ner.classification") == (0, 1, 1)


def test_lenient_keeps_multiset_counts_and_credits_the_gold_type(mini_ontology: Ontology) -> None:
    scorer = Scorer(mini_ontology, lenient=True)
    # gold Organization once, Company predicted twice: TP 1, FP 1, FN 0
    # (an unknown type, Alien, has no ancestors and cannot match: FP 1 more)
    pred = [E("Company", "Acme"), E("Company", "Acme"), E("Alien", "Acme")]
    scorer.add("ner", [E("Organization", "Acme")], pred, dataset="sample", lang="en")
    ner = scorer.result().tasks["ner"]
    assert ner.overall.levels["classification"] == Counts(tp=1, fp=2, fn=0)
    assert ner.per_type == {"Alien": Counts(fp=1), "Company": Counts(fp=1), "Organization": Counts(tp=1)}
    assert ner.confusion == {("Organization", "Company"): 1}


def test_lenient_needs_an_ontology() -> None:
    with pytest.raises(ValueError, match="ontology"):
        Scorer(lenient=True)


# ---- breakdowns -----------------------------------------------------------------------------
def test_mixed_language_breakdowns_are_exact() -> None:
    scorer = Scorer()
    # A sample/en: TP 1
    scorer.add("ner", [E("Person", "Ada")], [E("Person", "Ada")], dataset="sample", lang="en")
    # B sample/zh: TP 1 (李明), FP 1 (北京/Organization), FN 1 (北京/Location)
    gold_b = [E("Person", "李明"), E("Location", "北京")]
    scorer.add("ner", gold_b, [E("Person", "李明"), E("Organization", "北京")], dataset="sample", lang="zh")
    # C msra/zh: FN 1;  D msra/zh: FP 1
    scorer.add("ner", [E("Organization", "华为")], [], dataset="msra", lang="zh")
    scorer.add("ner", [], [E("Person", "张三")], dataset="msra", lang="zh")
    m = scorer.result().to_dict()
    # overall: TP 2, FP 2, FN 2 -> 1/2 each
    assert tp_fp_fn(m, "ner.classification") == (2, 2, 2)
    assert prf(m, "ner") == pytest.approx((0.5, 0.5, 0.5))
    # overall identification: 北京 now matches -> TP 3, FP 1, FN 1 -> 3/4 each
    assert prf(m, "ner.identification") == pytest.approx((0.75, 0.75, 0.75))
    # per dataset: sample A+B TP 2, FP 1, FN 1 -> 2/3; msra C+D TP 0, FP 1, FN 1 -> 0
    assert tp_fp_fn(m, "ner.dataset.sample.classification") == (2, 1, 1)
    assert prf(m, "ner.dataset.sample") == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    assert tp_fp_fn(m, "ner.dataset.msra.classification") == (0, 1, 1)
    assert prf(m, "ner.dataset.msra") == (0.0, 0.0, 0.0)
    # per language: en A TP 1 -> 1.0; zh B+C+D TP 1, FP 2, FN 2 -> 1/3
    assert prf(m, "ner.lang.en") == pytest.approx((1.0, 1.0, 1.0))
    assert tp_fp_fn(m, "ner.lang.zh.classification") == (1, 2, 2)
    assert prf(m, "ner.lang.zh") == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    # dataset x language: sample/zh = B: TP 1, FP 1, FN 1 -> 1/2; msra/zh = C+D -> 0
    assert tp_fp_fn(m, "ner.dataset.sample.lang.zh.classification") == (1, 1, 1)
    assert m["ner.dataset.sample.lang.zh.f1"] == pytest.approx(0.5)
    assert m["ner.dataset.sample.lang.en.f1"] == pytest.approx(1.0)
    assert m["ner.dataset.msra.lang.zh.f1"] == 0.0
    assert "ner.dataset.msra.lang.en.f1" not in m
    # instances per slice
    assert (m["ner.instances"], m["ner.lang.zh.instances"], m["ner.dataset.msra.lang.zh.instances"]) == (
        4,
        3,
        2,
    )


def test_flat_names_for_one_instance() -> None:
    m = score("ner", [E("Person", "Ada")], [E("Person", "Ada")])
    # 4 scopes (overall, dataset, lang, dataset x lang), each: instances + 2 levels x 6 stats
    # + 3 headline stats = 16; plus ner.unannotated and 5 parse counts = 70
    assert len(m) == 4 * 16 + 1 + 5
    assert m["parse.ner.truncated_prompts"] == 0
    for name in (
        "ner.f1",
        "ner.classification.precision",
        "ner.identification.tp",
        "ner.dataset.sample.recall",
        "ner.lang.en.classification.fn",
        "ner.dataset.sample.lang.en.f1",
        "parse.ner.unparseable",
    ):
        assert name in m


def test_dataset_names_are_cleaned_and_collisions_refused() -> None:
    scorer = Scorer()
    scorer.add("ner", [], [], dataset="CrossNER.ai", lang="en")
    assert "ner.dataset.CrossNER_ai.lang.en.f1" in scorer.result().to_dict()
    # "CrossNER.ai" and "CrossNER_ai" would both be written as CrossNER_ai
    scorer.add("ner", [], [], dataset="CrossNER_ai", lang="en")
    with pytest.raises(ValueError, match="CrossNER_ai"):
        scorer.result().to_dict()


# ---- unannotated tasks, parse reports, instances -------------------------------------------
def test_unannotated_task_is_not_scored() -> None:
    scorer = Scorer()
    # RE not annotated: skipped even though the model predicted a relation and its output was bad
    skipped = scorer.add("re", None, RE_PRED, dataset="sample", lang="en", report=ParseReport())
    scored = scorer.add("ner", [E("Person", "Ada")], [E("Person", "Ada")], dataset="sample", lang="en")
    assert (skipped, scored) == (False, True)
    m = scorer.result().to_dict()
    assert m["re.unannotated"] == 1
    assert "re.f1" not in m and "re.instances" not in m
    assert m["parse.re.outputs"] == 0  # its report is not counted either
    assert (m["ner.f1"], m["ner.unannotated"]) == (1.0, 0)


def test_parse_report_counts() -> None:
    scorer = Scorer()
    sentence = "Ada Park joined."
    allowed = Allowed(types=frozenset({"Person"}), sentence=sentence)
    # output 1: parseable; Alien is a hallucinated type, Bob a hallucinated span
    out1 = parse_results('results = [Person("Ada Park"), Alien("Ada Park"), Person("Bob")]', "ner", allowed)
    # output 2: cut off mid-object -> unparseable; the complete Person is kept
    out2 = parse_results('results = [Person("Ada Park"), Person("Ada', "ner", allowed)
    # output 3: no results list at all -> unparseable
    out3 = parse_results("I cannot answer that.", "ner", allowed)
    for out in (out1, out2, out3):
        scorer.add(
            "ner", [E("Person", "Ada Park")], out.records, dataset="sample", lang="en", report=out.report
        )
    # a hand-made report: 2 + 1 hallucinated types, 4 hallucinated spans, parseable
    made = ParseReport(found_results=True, complete=True, unknown_types=Counter({"Alien": 2, "Robot": 1}))
    made.spans_not_found = 4
    scorer.add("ner", [], [], dataset="sample", lang="en", report=made, truncated_prompt=True)
    m = scorer.result().to_dict()
    assert m["parse.ner.outputs"] == 4
    assert m["parse.ner.truncated_prompts"] == 1  # only the hand-made one was cut to fit
    assert m["parse.ner.unparseable"] == 2  # outputs 2 and 3
    assert m["parse.ner.hallucinated_types"] == 1 + 3  # Alien in output 1; Alien x2 + Robot
    assert m["parse.ner.hallucinated_spans"] == 1 + 4  # Bob; the hand-made 4
    # what was kept still scores: TP 2 (outputs 1, 2), FN 1 (output 3) -> P 1, R 2/3, F1 4/5
    assert tp_fp_fn(m, "ner.classification") == (2, 0, 1)
    assert prf(m, "ner") == pytest.approx((1.0, 2 / 3, 4 / 5))


def test_add_instance_reads_gold_dataset_and_language(hire_instance: Instance) -> None:
    scorer = Scorer()
    # gold NER: Person Ada Park, Company Acme Corp, Location Paris; one type wrong
    pred = [E("Person", "Ada Park"), E("Organization", "Acme Corp"), E("Location", "Paris")]
    assert scorer.add_instance("ner", hire_instance, pred)
    # events: the instance's StartPosition with employee Ada Park, employer Acme Corp, place Paris
    event = EventRecord("StartPosition", "joined", (arg("employee", "Person", "Ada Park"),))
    assert scorer.add_instance("eae", hire_instance, [event])
    unannotated = hire_instance.model_copy(update={"relations": None})
    assert not scorer.add_instance("re", unannotated, [])
    m = scorer.result().to_dict()
    # NER: TP 2, FP 1, FN 1 -> 2/3 each, under dataset "sample", language "en"
    assert tp_fp_fn(m, "ner.dataset.sample.lang.en.classification") == (2, 1, 1)
    assert m["ner.f1"] == pytest.approx(2 / 3)
    # EAE: TP 1 (employee), FP 0, FN 2 (employer, place) -> P 1, R 1/3, F1 2/(2+0+2) = 1/2
    assert tp_fp_fn(m, "eae.classification") == (1, 0, 2)
    assert prf(m, "eae") == pytest.approx((1.0, 1 / 3, 1 / 2))
    assert m["re.unannotated"] == 1


def test_records_of_another_task_are_refused() -> None:
    with pytest.raises(TypeError, match="EntityRecord"):
        Scorer().add("ner", [], [TriggerRecord("StartPosition", "joined")], dataset="sample", lang="en")
    with pytest.raises(KeyError, match="unknown task"):
        Scorer().add("coref", [], [], dataset="sample", lang="en")
