"""What a new user meets first: wrong format or language, split-less data, hints, aliases, paths."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from knowcoder.config import load_params
from knowcoder.data.importers import import_dataset, sniff_format
from knowcoder.data.jsonl import iter_json_records
from knowcoder.errors import DataFormatError, LabelError, OntologyError
from knowcoder.schema.ontology import load_ontology, parse_ontology
from knowcoder.validation import validate_file

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "importers"
TEST_ONTOLOGY = load_ontology(FIXTURES / "ontology.yaml")
REAL_ONTOLOGY = load_ontology(FIXTURES / "real_ontology.yaml")
BUNDLED = load_ontology(ROOT / "data" / "ontology.yaml")


# ---- format sniffing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("oneie.jsonl", "oneie"),
        ("uie.jsonl", "uie"),
        ("instruction.jsonl", "instruction"),
        ("en.conll", "conll"),
        ("duie.jsonl", "duie"),
        ("duee.jsonl", "duee"),
        ("universalner.json", "universalner"),
        ("iepile.jsonl", "iepile"),
        ("instructie.jsonl", "instructie"),
        ("dygiepp_ace.jsonl", "dygiepp"),
    ],
)
def test_each_fixture_is_recognised_as_its_own_format(name: str, expected: str) -> None:
    found = sniff_format(FIXTURES / name)
    assert found is not None and found[0] == expected


def test_oneie_file_imported_as_uie_is_refused_with_what_it_looks_like() -> None:
    path = FIXTURES / "oneie.jsonl"
    with pytest.raises(DataFormatError) as caught:
        import_dataset("uie", path, ontology=TEST_ONTOLOGY, dataset="ace05", lang="en")
    assert str(caught.value) == (
        f"{path}:1: --format: this file looks like format 'oneie' (OneIE 'entity_mentions'), not 'uie'; "
        "import it with --format oneie (or pass --no-sniff if it really is 'uie')"
    )


def test_uie_file_imported_as_oneie_is_refused() -> None:
    with pytest.raises(DataFormatError, match=r"looks like format 'uie' .* not 'oneie'"):
        import_dataset("oneie", FIXTURES / "uie.jsonl", ontology=TEST_ONTOLOGY, dataset="d", lang="en")


def test_conll_file_imported_as_json_is_refused() -> None:
    with pytest.raises(DataFormatError, match=r"looks like format 'conll' .* not 'duie'"):
        import_dataset("duie", FIXTURES / "en.conll", ontology=TEST_ONTOLOGY, dataset="d", lang="en")


# ---- language -----------------------------------------------------------------------------------


def test_wrong_lang_for_chinese_characters_is_refused_naming_the_flag() -> None:
    path = FIXTURES / "resume.bmes"
    with pytest.raises(DataFormatError) as caught:
        list(
            import_dataset("conll", path, ontology=REAL_ONTOLOGY, dataset="resume", lang="en", scheme="BMES")[
                0
            ]
        )
    assert str(caught.value).startswith(
        f"{path}:1: token: --lang 'en' joins tokens with spaces, but this text is mostly Chinese"
    )
    assert str(caught.value).endswith("pass --lang zh (or ja, th)")


def test_wrong_lang_for_english_words_is_refused() -> None:
    with pytest.raises(DataFormatError, match=r"--lang 'zh' joins tokens without spaces.*--lang en"):
        list(
            import_dataset(
                "conll", FIXTURES / "en.conll", ontology=TEST_ONTOLOGY, dataset="conll03", lang="zh"
            )[0]
        )


# ---- split, hints -------------------------------------------------------------------------------


def test_split_option_sets_every_instance_split() -> None:
    instances, _ = import_dataset(
        "conll", FIXTURES / "en.conll", ontology=TEST_ONTOLOGY, dataset="conll03", lang="en", split="test"
    )
    assert {i.split for i in instances} == {"test"}


def test_unmapped_label_hint_names_the_cli_flag() -> None:
    stream, _ = import_dataset(
        "conll", FIXTURES / "en_misc.conll", ontology=TEST_ONTOLOGY, dataset="c", lang="en"
    )
    with pytest.raises(LabelError, match=r"or import with --drop-unmapped$"):
        list(stream)


# ---- JSON arrays --------------------------------------------------------------------------------


def test_json_array_reader_gives_element_start_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text('[\n  {"a": 1},\n  {"b":\n    2}\n]\n', encoding="utf-8")
    assert list(iter_json_records(path)) == [(2, {"a": 1}), (3, {"b": 2})]


def test_json_array_with_a_broken_element_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text('[{"a": 1},\n {"b": }]\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"a\.json:2: <json>: not valid JSON"):
        list(iter_json_records(path))


def test_json_array_with_bad_utf8_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_bytes(b'[{"a": 1},\n{"b": "' + "李".encode("gbk") + b'"}]\n')
    with pytest.raises(DataFormatError, match=r"a\.json:2: <encoding>: not valid UTF-8"):
        list(iter_json_records(path))


# ---- bundled aliases (data/ontology.yaml) -------------------------------------------------------


def test_part_of_is_no_location_alias_for_scierc() -> None:
    assert BUNDLED.resolve_label("part of", "scierc") is None
    assert BUNDLED.resolve_label("PART-OF", "scierc") is None
    assert BUNDLED.resolve_label("located in", "scierc") == "LocatedIn"


def test_duie_founder_and_capital_record_their_direction() -> None:
    assert BUNDLED.resolve_label("创始人", "duie") == "Founder"
    assert BUNDLED.relation_swapped("创始人", "duie") is True
    assert BUNDLED.resolve_label("首都", "duie") == "CapitalOf"
    assert BUNDLED.relation_swapped("首都", "duie") is True
    # outside DuIE the "*" alias has no direction of its own
    assert BUNDLED.relation_swapped("创始人", "other") is False
    assert BUNDLED.relation_swapped("毕业院校", "duie") is False


def test_duee_acquisition_alias_names_the_real_label() -> None:
    assert BUNDLED.resolve_label("财经/交易-出售/收购", "duee") == "Acquisition"
    assert BUNDLED.resolve_label("财经/交易-收购", "duee") is None


def test_ace05_org_aff_allows_gpe_tails() -> None:
    assert BUNDLED.resolve_label("ORG-AFF", "ace05") == "Affiliation"
    _, tails = BUNDLED.relation_signature("Affiliation")
    assert BUNDLED.allows_argument(tails, "Country")


def test_role_aliases_map_ace_and_duee_roles() -> None:
    assert BUNDLED.resolve_role("StartPosition", "Person", "ace05") == "employee"
    assert BUNDLED.resolve_role("StartPosition", "Entity", "ace05") == "employer"
    assert BUNDLED.resolve_role("Transport", "Artifact", "ace05") == "traveler"
    assert BUNDLED.resolve_role("EndPosition", "离职者", "duee") == "employee"
    assert BUNDLED.resolve_role("Attack", "时间", "duee") == "time"
    # a dataset-scoped role alias does not leak into other datasets
    assert BUNDLED.resolve_role("StartPosition", "Person", "conll03") is None


def test_multi_word_role_matches_its_underscored_name(tmp_path: Path) -> None:
    path = tmp_path / "casie.jsonl"
    path.write_text(
        json.dumps(
            {
                "text": "Hackers stole card numbers.",
                "answer": {
                    "events": [
                        {
                            "type": "databreach",
                            "trigger": "stole",
                            "arguments": [{"role": "compromised data", "text": "card numbers"}],
                        }
                    ]
                },
            }
        )
        + "\n",
        encoding="utf-8",
    )
    (instance,), _ = import_dataset("instruction", path, ontology=REAL_ONTOLOGY, dataset="casie", lang="en")
    assert [(a.role, a.start, a.end) for a in instance.events[0].arguments] == [("compromised_data", 14, 26)]


def test_swap_on_an_entity_alias_is_an_ontology_error() -> None:
    text = "entities:\n  - name: Person\n    aliases: {x: [{label: PER, swap: true}]}\n"
    with pytest.raises(
        OntologyError, match=r"<ontology>:2: entities\[Person\]: alias 'PER': swap applies to relation"
    ):
        parse_ontology(text)


# ---- params paths and split-less validation -----------------------------------------------------


def test_params_paths_resolve_against_the_params_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "params.yaml").write_text(
        "base:\n  paths: {ontology: data/o.yaml, raw: [data/a.jsonl], artifacts: out}\n"
        "profiles: {tiny: {}}\n",
        encoding="utf-8",
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    params = load_params(project / "params.yaml", overrides=["paths.parallel=mine.jsonl"])
    assert params.paths.ontology == os.path.join("..", "project", "data", "o.yaml")
    assert params.paths.raw == [os.path.join("..", "project", "data", "a.jsonl")]
    assert params.paths.artifacts == os.path.join("..", "project", "out")
    # a --set override stays relative to where the user typed it
    assert params.paths.parallel == "mine.jsonl"
    monkeypatch.chdir(project)
    assert load_params("params.yaml").paths.ontology == "data/o.yaml"


def test_validation_of_split_less_import_passes_with_a_note(tmp_path: Path) -> None:
    data = tmp_path / "imported.jsonl"
    stream, _ = import_dataset(
        "conll", FIXTURES / "en.conll", ontology=TEST_ONTOLOGY, dataset="conll03", lang="en"
    )
    from knowcoder.data.jsonl import write_instances

    write_instances(data, stream)
    result = validate_file(
        data,
        TEST_ONTOLOGY,
        out_dir=tmp_path / "v",
        known_languages=["en"],
        min_split_sizes={"train": 1, "test": 1},
        max_reject_share=0.0,
    )
    assert result.passed
    assert result.notes == (
        "no record has a split, so the split minimums {'train': 1, 'test': 1} were not checked; "
        "set one with `knowcoder data import --split NAME` (or validation.min_split_sizes={})",
    )
    assert "> Note: no record has a split" in result.report_path.read_text(encoding="utf-8")
