"""The data-validation stage: which records GX rejects and why, thresholds, splits, outputs."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from knowcoder.data.instance import Instance
from knowcoder.errors import ConfigError, KnowCoderError
from knowcoder.schema.ontology import Ontology, load_ontology
from knowcoder.validation import ValidationFailed, ValidationResult, validate_file

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "validation"
MIXED = FIXTURES / "mixed.jsonl"
LANGUAGES = ("en", "zh")
GOOD_IDS = ["good-full", "good-zh", "good-ner", "good-plain"]
TEXT = "Ada Park joined Acme Corp in Paris."


@pytest.fixture(scope="module")
def ontology() -> Ontology:
    return load_ontology(FIXTURES / "ontology.yaml")


@pytest.fixture(scope="module")
def mixed_run(ontology: Ontology, tmp_path_factory: pytest.TempPathFactory) -> tuple[ValidationResult, Path]:
    """One run over the fixture with every kind of bad record; the threshold lets it pass."""
    out_dir = tmp_path_factory.mktemp("mixed")
    result = validate_file(
        MIXED,
        ontology,
        out_dir=out_dir,
        known_languages=LANGUAGES,
        min_split_sizes={"train": 2},
        max_reject_share=1.0,
    )
    return result, out_dir


@pytest.fixture(scope="module")
def rejects(mixed_run: tuple[ValidationResult, Path]) -> dict[int, dict[str, Any]]:
    _, out_dir = mixed_run
    rows = [json.loads(line) for line in (out_dir / "rejects.jsonl").read_text("utf-8").splitlines()]
    return {row["line"]: row for row in rows}


def _record(record_id: str, **fields: Any) -> dict[str, Any]:
    record = {"id": record_id, "dataset": "t", "lang": "en", "text": TEXT}
    record.update(fields)
    return record


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(path: Path, ontology: Ontology, out_dir: Path, **overrides: Any) -> ValidationResult:
    options: dict[str, Any] = {"known_languages": LANGUAGES, "min_split_sizes": {}, "max_reject_share": 0.0}
    options.update(overrides)
    return validate_file(path, ontology, out_dir=out_dir, **options)


# ---- one kind of bad record per case: (line in mixed.jsonl, id, the one reason expected) ----------
BAD_RECORDS = [
    (5, "bad-blank-text", "text_not_blank: text is empty or whitespace only"),
    (6, "bad-lang", "lang_known: language code 'fr' is not one of en, zh"),
    (8, "bad-start-end", "span_start_before_end: entities[0]: start 8 is not before end 8"),
    (9, "bad-end-past-text",
     "span_end_within_text: entities[2]: end 40 is past the end of the text (35 characters)"),
    (11, "bad-text-mismatch",
     "span_text_matches: entities[0]: text 'Ada Parks' differs from text[0:8] = 'Ada Park'"),
    (12, "bad-padded", "span_not_padded: entities[0]: span 'Ada Park ' starts or ends with whitespace"),
    (13, "bad-entity-undefined", "entity_type_defined: entities[1]: 'Alien' is not defined in the ontology"),
    (29, "bad-entity-base",
     "entity_type_defined: entities[1]: 'Entity' is the abstract base class; use one of its subclasses"),
    (14, "bad-entity-kind",
     "entity_type_defined: entities[1]: 'Employment' is a relation type, not an entity type"),
    (15, "bad-relation-type",
     "relation_type_defined: relations[0]: 'Friendship' is not defined in the ontology"),
    (16, "bad-head-index",
     "relation_head_index_valid: relations[0]: head 5 is not an index into entities (the record has 3)"),
    (17, "bad-tail-index",
     "relation_tail_index_valid: relations[0]: tail 3 is not an index into entities (the record has 3)"),
    (18, "bad-head-type",
     "relation_head_type_allowed: relations[0]: head has type Location, but Employment takes Person as head"),
    (19, "bad-tail-type",
     "relation_tail_type_allowed: relations[0]: tail has type Location, "
     "but Employment takes Organization as tail"),
    (20, "bad-event-type", "event_type_defined: events[0]: 'Party' is not defined in the ontology"),
    (21, "bad-role",
     "argument_role_defined: events[0].arguments[0]: StartPosition has no role 'place' "
     "(its roles: employee, employer)"),
    (22, "bad-arg-type",
     "argument_type_allowed: events[0].arguments[0]: type Location is not allowed for "
     "StartPosition.employee (allowed: Person)"),
    (23, "bad-arg-type-undefined",
     "argument_type_defined: events[0].arguments[0]: 'Alien' is not defined in the ontology"),
    (24, "bad-trigger-span",
     "span_end_within_text: events[0].trigger: end 36 is past the end of the text (35 characters)"),
    (26, "bad-negative-start",
     "record_parses: line 26: entities.0.start: Input should be greater than or equal to 0"),
    (28, "bad-unknown-field",
     "record_parses: line 28: entity: unknown field (check the spelling against the instance format)"),
]  # fmt: skip


@pytest.mark.parametrize(("line", "record_id", "reason"), BAD_RECORDS, ids=[c[1] for c in BAD_RECORDS])
def test_bad_record_is_rejected_with_its_reason(
    rejects: dict[int, dict[str, Any]], line: int, record_id: str, reason: str
) -> None:
    # given the mixed fixture, when validated, then the record is rejected for exactly this reason
    assert rejects[line]["id"] == record_id
    assert rejects[line]["reasons"] == [reason]
    assert rejects[line]["record"]["id"] == record_id  # the original record, for inspection


def test_every_copy_of_a_duplicate_id_is_rejected(rejects: dict[int, dict[str, Any]]) -> None:
    assert rejects[7]["reasons"] == ["id_unique: id 'dup' is used on lines 7, 10"]
    assert rejects[10]["reasons"] == ["id_unique: id 'dup' is used on lines 7, 10"]


def test_broken_json_line_is_a_reject_not_a_crash(rejects: dict[int, dict[str, Any]]) -> None:
    assert rejects[25] == {
        "line": 25,
        "id": None,
        "reasons": [
            "record_parses: line 25: <json>: not valid JSON (EOF while parsing a value at line 1 column 52)"
        ],
        "record": '{"id": "broken-json", "dataset": "fixture", "text": ',
    }


def test_only_bad_lines_are_rejected(rejects: dict[int, dict[str, Any]]) -> None:
    # lines 1-4 are good; 27 is blank and is not a record at all
    assert sorted(rejects) == [5, 6, 7, 8, 9, *range(10, 27), 28, 29]


def test_good_records_are_kept_in_canonical_form(mixed_run: tuple[ValidationResult, Path]) -> None:
    _, out_dir = mixed_run
    kept = (out_dir / "valid.jsonl").read_text("utf-8").splitlines()
    originals = MIXED.read_text("utf-8").splitlines()[:4]
    assert kept == [Instance.model_validate_json(line).to_json() for line in originals]
    assert [json.loads(line)["id"] for line in kept] == GOOD_IDS


def test_result_counts_and_split_sizes(mixed_run: tuple[ValidationResult, Path]) -> None:
    result, _ = mixed_run
    assert (result.total_records, result.valid_records, result.rejected_records) == (28, 4, 24)
    assert result.reject_share == pytest.approx(24 / 28)
    assert result.split_sizes == {"train": 2, "dev": 1, "test": 1}
    assert result.passed and result.failures == ()


def test_report_json_lists_each_expectation(mixed_run: tuple[ValidationResult, Path]) -> None:
    _, out_dir = mixed_run
    report = json.loads((out_dir / "report.json").read_text("utf-8"))
    verdicts = {e["check"]: (e["success"], e["unexpected"], e["checked"]) for e in report["expectations"]}
    assert verdicts["record_parses"] == (False, 3, 28)
    assert verdicts["file_not_empty"] == (True, 0, 28)
    assert verdicts["id_unique"] == (False, 2, 25)
    # spans: 22 parsed records with 3 entities, good-zh with 2, 6 event triggers, 8 arguments
    assert verdicts["span_end_within_text"] == (False, 2, 22 * 3 + 2 + 6 + 8)
    assert verdicts["split_min_size"] == (True, 0, 3)
    assert report["passed"] is True
    assert (report["total_records"], report["rejected_records"]) == (28, 24)
    assert report["reject_counts"]["span_end_within_text"] == 2


def test_report_md_shows_expectations_splits_and_rejects(mixed_run: tuple[ValidationResult, Path]) -> None:
    _, out_dir = mixed_run
    text = (out_dir / "report.md").read_text("utf-8")
    assert "**PASSED**" in text
    assert "| lang_known | instances | expect_column_values_to_be_in_set | FAIL | 1 / 25 | 1 |" in text
    assert "| train | 2 | 2 | ok |" in text
    assert "## First rejects (20 of 24)" in text
    assert "- line 5 (id `bad-blank-text`)\n  - text_not_blank: text is empty or whitespace only" in text


def test_raw_input_is_never_modified(ontology: Ontology, tmp_path: Path) -> None:
    source = shutil.copy(MIXED, tmp_path / "input.jsonl")
    before = _digest(Path(source))
    with pytest.raises(
        ValidationFailed, match=r"validation failed: \d+ of \d+ records rejected; reject share"
    ):
        _run(Path(source), ontology, tmp_path / "out", max_reject_share=0.5)
    _run(Path(source), ontology, tmp_path / "out", max_reject_share=1.0)
    assert _digest(Path(source)) == before


# ---- thresholds ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def one_in_ten(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten records, the last with an undefined language: a reject share of exactly 10%."""
    records = [_record(f"r{i}") for i in range(9)] + [_record("r9", lang="xx")]
    return _write(tmp_path_factory.mktemp("ten") / "ten.jsonl", records)


def test_reject_share_at_the_threshold_passes(ontology: Ontology, one_in_ten: Path, tmp_path: Path) -> None:
    result = _run(one_in_ten, ontology, tmp_path, max_reject_share=0.1)
    assert result.passed
    assert (result.valid_records, result.rejected_records) == (9, 1)
    assert len((tmp_path / "valid.jsonl").read_text("utf-8").splitlines()) == 9


def test_reject_share_above_the_threshold_fails_and_writes_no_valid_file(
    ontology: Ontology, one_in_ten: Path, tmp_path: Path
) -> None:
    (tmp_path / "valid.jsonl").write_text("stale output of an earlier run\n", "utf-8")
    with pytest.raises(ValidationFailed) as caught:
        _run(one_in_ten, ontology, tmp_path, max_reject_share=0.05)
    assert str(caught.value) == (
        f"{one_in_ten}: validation failed: 1 of 10 records rejected; reject share 10.00% "
        f"(threshold 5.00%); see {tmp_path / 'report.md'}"
    )
    assert isinstance(caught.value, KnowCoderError)
    assert not (tmp_path / "valid.jsonl").exists()
    assert len((tmp_path / "rejects.jsonl").read_text("utf-8").splitlines()) == 1
    report = json.loads((tmp_path / "report.json").read_text("utf-8"))
    assert (report["passed"], report["failures"]) == (False, ["1 of 10 records rejected"])
    assert "**FAILED: 1 of 10 records rejected**" in (tmp_path / "report.md").read_text("utf-8")


# ---- split minimums ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def splits_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three valid train records, one valid test record, and one rejected test record."""
    records = [_record(f"t{i}", split="train") for i in range(3)]
    records += [_record("s0", split="test"), _record("s1", split="test", lang="xx")]
    return _write(tmp_path_factory.mktemp("splits") / "splits.jsonl", records)


def test_split_below_its_minimum_fails_the_stage_but_rejects_no_record(
    ontology: Ontology, splits_file: Path, tmp_path: Path
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        _run(splits_file, ontology, tmp_path, min_split_sizes={"train": 3, "test": 2}, max_reject_share=0.5)
    result = caught.value.result
    # the rejected test record does not count towards the test split
    assert result.failures == ("split 'test' has 1 valid records, below its minimum 2",)
    assert result.split_sizes == {"train": 3, "test": 1}
    assert result.rejected_records == 1  # only the bad-language record
    assert "reject share 20.00% (threshold 50.00%)" in str(caught.value)
    assert not (tmp_path / "valid.jsonl").exists()
    assert "| test | 1 | 2 | TOO SMALL |" in (tmp_path / "report.md").read_text("utf-8")


def test_splits_at_their_minimum_pass(ontology: Ontology, splits_file: Path, tmp_path: Path) -> None:
    result = _run(
        splits_file, ontology, tmp_path, min_split_sizes={"train": 3, "test": 1}, max_reject_share=0.5
    )
    assert result.passed
    assert result.valid_records == 4


def test_a_required_split_that_is_absent_fails(ontology: Ontology, splits_file: Path, tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed) as caught:
        _run(splits_file, ontology, tmp_path, min_split_sizes={"dev": 1}, max_reject_share=0.5)
    assert caught.value.result.failures == ("split 'dev' has 0 valid records, below its minimum 1",)


# ---- odd inputs ----------------------------------------------------------------------------------
def test_invalid_utf8_line_is_a_reject(ontology: Ontology, tmp_path: Path) -> None:
    good = json.dumps(_record("ok")).encode()
    source = tmp_path / "bytes.jsonl"
    source.write_bytes(good + b"\n" + b'{"id": "x\xff"}\n')
    result = _run(source, ontology, tmp_path / "out", max_reject_share=0.5)
    assert result.first_rejects[0].reasons == (
        "record_parses: line 2: <encoding>: not valid UTF-8 (byte 0xff at column 10)",
    )
    assert result.valid_records == 1


def test_empty_file_fails_the_stage(ontology: Ontology, tmp_path: Path) -> None:
    source = tmp_path / "empty.jsonl"
    source.write_text("\n\n", "utf-8")
    with pytest.raises(ValidationFailed) as caught:
        _run(source, ontology, tmp_path / "out")
    assert caught.value.result.failures == ("the file holds no records",)


def test_input_among_the_outputs_is_refused_untouched(ontology: Ontology, tmp_path: Path) -> None:
    source = _write(tmp_path / "valid.jsonl", [_record("a")])
    before = _digest(source)
    with pytest.raises(ConfigError) as caught:
        _run(source, ontology, tmp_path)
    assert (
        str(caught.value)
        == f"out_dir: input {source} is one of the stage's own outputs; pick another out_dir"
    )
    assert _digest(source) == before


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"max_reject_share": 1.5}, "max_reject_share: must be a share between 0 and 1, got 1.5"),
        ({"known_languages": ()}, "known_languages: is empty; list the language codes records may carry"),
        ({"min_split_sizes": {"dev": -1}}, "min_split_sizes.dev: must be a whole number >= 0, got -1"),
    ],
    ids=["share-above-one", "no-languages", "negative-minimum"],
)
def test_bad_arguments_are_config_errors(
    ontology: Ontology, one_in_ten: Path, tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _run(one_in_ten, ontology, tmp_path, **overrides)
    assert str(caught.value) == message
