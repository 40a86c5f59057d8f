"""Report tests: a small NER + RE evaluation in English and Chinese, written and read back."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from knowcoder.evaluation.bootstrap import Bootstrap
from knowcoder.evaluation.matching import Counts
from knowcoder.evaluation.metrics import EvaluationResult, Scorer
from knowcoder.evaluation.report import ReportPaths, example_counts, example_f1, write_report
from knowcoder.parser import parse_results
from knowcoder.records import EntityRecord, Record, RelationRecord
from knowcoder.tasks import Allowed

E = EntityRecord
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HOSTILE = "<script>alert(1)</script>"
NER_TYPES = frozenset({"Person", "Organization", "Location"})
RE_ALLOWED = {"types": frozenset({"Employment", "Located"}), "entity_types": NER_TYPES | {"Company"}}

# (id, task, dataset, lang, text, gold, model output)
CASES: list[tuple[str, str, str, str, str, list[Record], str]] = [
    # Bob is not in the text: a hallucinated span, dropped by the parser.
    # kept: Person Ada Park (TP), Location Acme Corp (FP); FN Organization Acme Corp, Location Paris
    # -> TP 1, FP 1, FN 2, example F1 2/(2+1+2) = 40.00
    (
        "ner-en-1",
        "ner",
        "sample",
        "en",
        "Ada Park joined Acme Corp in Paris.",
        [E("Person", "Ada Park"), E("Organization", "Acme Corp"), E("Location", "Paris")],
        'results = [Person("Ada Park"), Location("Acme Corp"), Person("Bob")]',
    ),
    # cut off mid-object: unparseable; the complete Person is kept -> TP 1, FP 0, FN 1, F1 66.67
    (
        "ner-zh-1",
        "ner",
        "msra",
        "zh",
        "李明在北京工作。",
        [E("Person", "李明"), E("Location", "北京")],
        HOSTILE + ' results = [Person("李明"), Location("北',
    ),
    # all right: TP 2, never among the worst examples
    (
        "ner-en-2",
        "ner",
        "sample",
        "en",
        "Bob Lee met Ann.",
        [E("Person", "Bob Lee"), E("Person", "Ann")],
        'results = [Person("Bob Lee"), Person("Ann")]',
    ),
    # Paris is not in the text, so the Located relation is dropped -> TP 1
    (
        "re-en-1",
        "re",
        "sample",
        "en",
        "Ada Park works for Acme Corp.",
        [RelationRecord("Employment", E("Person", "Ada Park"), E("Organization", "Acme Corp"))],
        'results = [Employment(Person("Ada Park"), Organization("Acme Corp")), '
        'Located(Person("Ada Park"), Location("Paris"))]',
    ),
    # wrong tail type: strict TP 0, FP 1, FN 1 (boundary TP 1)
    (
        "re-zh-1",
        "re",
        "sample",
        "zh",
        "李明加入了华为。",
        [RelationRecord("Employment", E("Person", "李明"), E("Organization", "华为"))],
        'results = [Employment(Person("李明"), Company("华为"))]',
    ),
]


def evaluate(
    cases=CASES, bootstrap: Bootstrap | None = None
) -> tuple[EvaluationResult, list[dict[str, Any]]]:
    scorer, examples = Scorer(bootstrap=bootstrap), []
    for example_id, task, dataset, lang, text, gold, output in cases:
        allowed = (
            Allowed(types=NER_TYPES, sentence=text) if task == "ner" else Allowed(**RE_ALLOWED, sentence=text)
        )
        parsed = parse_results(output, task, allowed)
        scorer.add(task, gold, parsed.records, dataset=dataset, lang=lang, report=parsed.report)
        examples.append(
            {
                "id": example_id,
                "task": task,
                "dataset": dataset,
                "lang": lang,
                "text": text,
                "gold": [r.to_dict() for r in gold],
                "pred": [r.to_dict() for r in parsed.records],
                "output": output,
                "report": parsed.report.to_dict(),
            }
        )
    return scorer.result(), examples


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[EvaluationResult, ReportPaths]:
    result, examples = evaluate()
    out = tmp_path_factory.mktemp("report")
    return result, write_report(result, examples, out, title="KnowCoder-7B <dev> report")


def test_all_files_are_written(written: tuple[EvaluationResult, ReportPaths]) -> None:
    _, paths = written
    files = [
        paths.metrics,
        paths.per_type,
        paths.markdown,
        paths.html,
        paths.per_type_f1,
        paths.confusion_ner,
    ]
    assert [p.name for p in files if p is not None] == [
        "metrics.json",
        "per_type.csv",
        "report.md",
        "report.html",
        "per_type_f1.png",
        "confusion_ner.png",
    ]
    assert all(p is not None and p.is_file() for p in files)
    # atomic writes leave no temporary files behind
    assert sorted(p.name for p in paths.metrics.parent.iterdir()) == sorted(p.name for p in files if p)


def test_metrics_json_is_the_flat_result(written: tuple[EvaluationResult, ReportPaths]) -> None:
    result, paths = written
    text = paths.metrics.read_text(encoding="utf-8")
    assert json.loads(text) == result.to_dict()
    assert list(json.loads(text)) == sorted(result.to_dict())  # sorted keys diff cleanly


def test_per_type_csv_rows_match_per_type_rows(written: tuple[EvaluationResult, ReportPaths]) -> None:
    result, paths = written
    with paths.per_type.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    expected = [{"task": task, **row} for task in ("ner", "re") for row in result.per_type_rows(task)]
    assert len(rows) == len(expected) == 3 + 1  # NER: Location, Organization, Person; RE: Employment
    for row, want in zip(rows, expected, strict=True):
        assert (row["task"], row["type"]) == (want["task"], want["type"])
        assert [int(row[k]) for k in ("tp", "fp", "fn")] == [want["tp"], want["fp"], want["fn"]]
        assert [float(row[k]) for k in ("precision", "recall", "f1")] == [
            want["precision"],
            want["recall"],
            want["f1"],
        ]


def test_markdown_headline_tables_and_parse_counts(written: tuple[EvaluationResult, ReportPaths]) -> None:
    _, paths = written
    md = paths.markdown.read_text(encoding="utf-8")
    assert md.startswith("# KnowCoder-7B &lt;dev&gt; report\n")
    # NER classification: TP 1+1+2 = 4, FP 1 (Acme Corp/Location), FN 2+1 = 3
    # -> P 4/5 = 80.00, R 4/7 = 57.14, F1 8/(8+1+3) = 66.67
    assert "| ner | classification | 80.00 | 57.14 | 66.67 | 4 | 1 | 3 |" in md
    # NER identification: FN Paris and 北京 only -> TP 5, FP 0, FN 2 -> 100.00, 71.43, 10/12 = 83.33
    assert "| ner | identification | 100.00 | 71.43 | 83.33 | 5 | 0 | 2 |" in md
    # RE strict: TP 1, FP 1, FN 1 -> 50.00 each; boundary ignores the entity type: TP 2
    assert "| re | strict | 50.00 | 50.00 | 50.00 | 1 | 1 | 1 |" in md
    assert "| re | boundary | 100.00 | 100.00 | 100.00 | 2 | 0 | 0 |" in md
    # per dataset (headline): msra = ner-zh-1 (TP 1, FN 1) -> P 100, R 50, F1 66.67; 1 instance
    assert "| ner | msra | 100.00 | 50.00 | 66.67 | 1 | 0 | 1 | 1 |" in md
    # per language: RE zh = re-zh-1 -> TP 0, FP 1, FN 1
    assert "| re | zh | 0.00 | 0.00 | 0.00 | 0 | 1 | 1 | 1 |" in md
    # parse counts: task, instances, unannotated, outputs, unparseable, hallucinated types/spans
    assert "| ner | 3 | 0 | 3 | 1 | 0 | 1 |" in md  # ner-zh-1 cut off; Bob not in the text
    assert "| re | 2 | 0 | 2 | 0 | 0 | 1 |" in md  # Paris not in the text
    # per type, NER Person: TP 4 (Ada Park, 李明, Bob Lee, Ann), FP 0, FN 0
    assert "| Person | 100.00 | 100.00 | 100.00 | 4 | 0 | 0 |" in md
    assert "![per_type_f1.png](per_type_f1.png)" in md and "![confusion_ner.png](confusion_ner.png)" in md


def test_worst_examples_lowest_f1_first_with_gold_beside_prediction(
    written: tuple[EvaluationResult, ReportPaths],
) -> None:
    _, paths = written
    md = paths.markdown.read_text(encoding="utf-8")
    worst = md[md.index("## Worst examples") :]
    # NER: ner-en-1 (F1 40.00) before ner-zh-1 (F1 66.67); the error-free ner-en-2 is not listed
    assert worst.index("#### ner-en-1") < worst.index("#### ner-zh-1") < worst.index("### re")
    assert "ner-en-2" not in worst
    assert "| example F1 | 40.00 (TP 1, FP 1, FN 2) |" in worst
    assert '| ✓ Person("Ada Park") | ✓ Person("Ada Park") |' in worst
    assert '| ✗ Organization("Acme Corp") | ✗ Location("Acme Corp") |' in worst
    assert "| parse | unparseable; hallucinated types 0; hallucinated spans 0 |" in worst
    # RE: only re-zh-1 has an error
    assert "#### re-zh-1" in worst and "re-en-1" not in worst
    # the raw output is shown in a fence
    assert '```text\nresults = [Person("Ada Park"), Location("Acme Corp"), Person("Bob")]\n```' in worst


def test_ties_in_example_f1_list_most_errors_first(tmp_path: Path) -> None:
    cases = [
        # F1 0: TP 0, FP 0, FN 1 -> 1 error
        ("a-one-error", "ner", "sample", "en", "Ann ran.", [E("Person", "Ann")], "results = []"),
        # F1 0: TP 0, FP 1 (Ann/Location), FN 2 -> 3 errors, listed first despite its id
        (
            "b-three-errors",
            "ner",
            "sample",
            "en",
            "Ann met Bo.",
            [E("Person", "Ann"), E("Person", "Bo")],
            'results = [Location("Ann")]',
        ),
    ]
    result, examples = evaluate(cases)
    md = write_report(result, examples, tmp_path, title="ties").markdown.read_text(encoding="utf-8")
    assert md.index("#### b-three-errors") < md.index("#### a-one-error")
    # worst=1 keeps only the first
    md = write_report(result, examples, tmp_path, title="ties", worst=1).markdown.read_text(encoding="utf-8")
    assert "#### b-three-errors" in md and "a-one-error" not in md
    # worst=0 lists none
    md = write_report(result, examples, tmp_path, title="ties", worst=0).markdown.read_text(encoding="utf-8")
    assert "b-three-errors" not in md and "No example with an error to show." in md


def test_html_is_standalone_and_escapes_model_output(written: tuple[EvaluationResult, ReportPaths]) -> None:
    _, paths = written
    page = paths.html.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert HOSTILE not in page and "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<title>KnowCoder-7B &lt;dev&gt; report</title>" in page
    # the same headline row as the markdown, and both plots inlined, nothing linked
    assert "<td>ner</td><td>classification</td><td>80.00</td><td>57.14</td><td>66.67</td>" in page
    assert page.count('src="data:image/png;base64,') == 2
    assert "http://" not in page and "https://" not in page and "<link" not in page


def test_plots_are_png_files(written: tuple[EvaluationResult, ReportPaths]) -> None:
    _, paths = written
    for plot in (paths.per_type_f1, paths.confusion_ner):
        assert plot is not None
        data = plot.read_bytes()
        assert data[:8] == PNG_MAGIC
        assert len(data) > 5_000  # axes, bars and labels, not an empty canvas


def test_confusion_plot_is_skipped_and_said_so_without_ner(tmp_path: Path) -> None:
    result, examples = evaluate([case for case in CASES if case[1] == "re"])
    stale = tmp_path / "confusion_ner.png"
    stale.write_bytes(b"left by an earlier report")
    paths = write_report(result, examples, tmp_path, title="RE only")
    assert paths.confusion_ner is None and not stale.exists()
    assert paths.per_type_f1 is not None and paths.per_type_f1.read_bytes()[:8] == PNG_MAGIC
    md = paths.markdown.read_text(encoding="utf-8")
    assert "NER type confusion: no data, not drawn." in md
    assert "NER type confusion: no data, not drawn." in paths.html.read_text(encoding="utf-8")


def test_reports_are_deterministic(tmp_path: Path) -> None:
    result, examples = evaluate()
    first = write_report(result, examples, tmp_path / "a", title="t")
    second = write_report(result, list(reversed(examples)), tmp_path / "b", title="t")
    for name in ("metrics.json", "per_type.csv", "report.md", "report.html", "per_type_f1.png"):
        assert (first.markdown.parent / name).read_bytes() == (second.markdown.parent / name).read_bytes()


def test_example_level_f1() -> None:
    gold = [E("Person", "Ada Park"), E("Organization", "Acme Corp"), E("Location", "Paris")]
    pred = [E("Person", "Ada Park"), E("Location", "Acme Corp")]
    # TP 1, FP 1, FN 2 -> F1 2/(2+1+2) = 2/5
    assert example_counts("ner", gold, pred) == Counts(tp=1, fp=1, fn=2)
    assert example_f1("ner", gold, pred) == pytest.approx(0.4)
    # RE headline is strict: a wrong tail type is TP 0, FP 1, FN 1 -> 0.0
    rel = RelationRecord("Employment", E("Person", "Ada"), E("Organization", "Acme"))
    wrong = RelationRecord("Employment", E("Person", "Ada"), E("Company", "Acme"))
    assert example_counts("re", [rel], [wrong]) == Counts(tp=0, fp=1, fn=1)
    assert example_f1("re", [rel], [rel, rel]) == pytest.approx(2 / 3)  # TP 1, FP 1


def test_malformed_examples_are_refused_with_the_key(tmp_path: Path) -> None:
    result, examples = evaluate(CASES[:1])
    with pytest.raises(ValueError, match="example 0 has no lang"):
        write_report(result, [{k: v for k, v in examples[0].items() if k != "lang"}], tmp_path, title="t")
    bad = {**examples[0], "pred": [{"type": "Person"}]}
    with pytest.raises(ValueError, match=r"'ner-en-1'.*'text'"):
        write_report(result, [bad], tmp_path, title="t")


def test_intervals_end_the_headline_and_language_tables(tmp_path: Path) -> None:
    result, examples = evaluate(bootstrap=Bootstrap())
    paths = write_report(result, examples, tmp_path, title="with intervals")
    md = paths.markdown.read_text(encoding="utf-8")
    assert "| task | level | P | R | F1 | TP | FP | FN | F1 [95% CI] |" in md
    # RE strict: re-en-1 (TP 1) and re-zh-1 (FP 1, FN 1) -> F1 2/(2+1+1) = 50.00; drawing the two
    # sentences gives 100 (en twice), 50 (one each) or 0 (zh twice): the interval spans 0 to 100
    assert "| re | strict | 50.00 | 50.00 | 50.00 | 1 | 1 | 1 | 50.00 [0.00, 100.00] |" in md
    assert "| re | boundary | 100.00 | 100.00 | 100.00 | 2 | 0 | 0 |  |" in md  # headline level only
    assert "| re | en | 100.00 | 100.00 | 100.00 | 1 | 0 | 0 | 1 | 100.00 [100.00, 100.00] |" in md
    assert "<th>F1 [95% CI]</th>" in paths.html.read_text(encoding="utf-8")
    metrics = json.loads(paths.metrics.read_text(encoding="utf-8"))
    assert (metrics["re.f1_ci_low"], metrics["re.f1_ci_high"]) == (0.0, 1.0)
    assert metrics["ner.f1_ci_low"] <= metrics["ner.f1"] <= metrics["ner.f1_ci_high"]
    # by dataset: no interval column
    assert "| task | dataset | P | R | F1 | TP | FP | FN | instances |\n" in md
